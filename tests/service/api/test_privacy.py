"""Minimal data: uploads never reach a disk, and logs hold ids, sizes, timings and codes, nothing else."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from devtools.harness import ServerFactory
from devtools.synthetic import frames_files, person_frames

SECRET_NAME = "alice-at-gate-7"


def named_frames(seed: int, count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("frames", (f"{SECRET_NAME}-{i}.jpg", d, "image/jpeg"))
        for i, d in enumerate(person_frames(seed, count))
    ]


def test_logs_of_a_whole_run_hold_no_file_name_image_or_embedding(
    serve: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = serve(log_level="debug")
    with server.client() as client:
        embedding = client.post("/embed", files=named_frames(1, 4)).json()["embedding"]
        client.post("/gallery", files=named_frames(1, 4), data={"id": "p1", "camera": "B"})
        client.post("/match", files=named_frames(1, 3))
        client.post("/embed", files=[("frames", (f"{SECRET_NAME}.jpg", b"not an image", "image/jpeg"))])
        client.post("/match", json={"embedding": embedding})
        client.delete("/gallery/p1")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /embed" in text  # the log is there, and it was read
    assert SECRET_NAME not in text
    assert f"{embedding[0]:.6f}"[:8] not in text and "JFIF" not in text


def test_uploads_over_a_megabyte_are_not_spooled_to_disk(
    serve: ServerFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = serve()
    created: list[object] = []
    real = tempfile.TemporaryFile

    def spy(*args: object, **kwargs: object) -> object:
        created.append(args)
        return real(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(tempfile, "TemporaryFile", spy)
    big = person_frames(2, 1)[0] + bytes(2_000_000)  # a JPEG with 2 MB of trailing bytes
    with server.client() as client:
        response = client.post("/embed", files=frames_files([big, *person_frames(2, 2)]))
    assert response.status_code == 200, response.text
    assert created == []
