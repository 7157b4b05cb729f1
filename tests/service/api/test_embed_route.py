"""POST /embed over real HTTP: every upload form gives the same embedding; bad uploads say why."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from devtools.harness import LiveServer
from devtools.synthetic import frames_files, person_frames


def embed(server: LiveServer, **kwargs: object) -> dict:
    with server.client() as client:
        response = client.post("/embed", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()


def error(server: LiveServer, status: int, **kwargs: object) -> str:
    with server.client() as client:
        response = client.post("/embed", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]["message"]


def test_frames_zip_tar_and_video_give_the_same_person(server: LiveServer, tmp_path: Path) -> None:
    frames = person_frames(seed=1, count=6)
    by_frames = embed(server, files=frames_files(frames))
    assert by_frames["dim"] == len(by_frames["embedding"]) == 64
    assert by_frames["frames_received"] == by_frames["frames_used"] == 6 and by_frames["chunks"] == 1
    assert by_frames["model"]["id"].startswith("tiny-test@")
    assert np.linalg.norm(by_frames["embedding"]) == pytest.approx(1.0, abs=1e-5)

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        for i, data in enumerate(frames):
            zf.writestr(f"clip/f{i:03d}.jpg", data)
    by_zip = embed(server, files={"archive": ("t.zip", zipped.getvalue(), "application/zip")})

    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w:gz") as tf:
        for i, data in enumerate(frames):
            info = tarfile.TarInfo(f"f{i:03d}.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    by_tar = embed(server, files={"archive": ("t.tar.gz", tarred.getvalue(), "application/gzip")})
    for other in (by_zip, by_tar):
        assert np.abs(np.subtract(other["embedding"], by_frames["embedding"])).max() < 1e-5

    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 128))
    for data in frames:
        writer.write(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    writer.release()
    by_video = embed(server, files={"video": ("clip.mp4", video.read_bytes(), "video/mp4")})
    assert by_video["frames_received"] == 6
    # Re-encoded frames differ a little from the JPEGs: same person, not the same bits.
    assert float(np.dot(by_video["embedding"], by_frames["embedding"])) > 0.95


def test_sampling_options(server: LiveServer) -> None:
    frames = person_frames(seed=2, count=40)
    chunked = embed(server, files=frames_files(frames))
    assert chunked["chunks"] == 3 and chunked["frames_used"] == 40  # frames_per_chunk 16: 16 + 24
    uniform = embed(server, files=frames_files(frames), data={"sampling": "uniform", "num_frames": "5"})
    assert uniform["frames_used"] == 5 and uniform["chunks"] == 1
    by_name = embed(server, files=list(reversed(frames_files(frames))), data={"order": "name"})
    assert np.abs(np.subtract(by_name["embedding"], chunked["embedding"])).max() < 1e-5


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"files": {"frames": ("a.jpg", b"", "image/jpeg")}}, 422, "empty"),
        ({"files": {"frames": ("a.jpg", b"hello, I am text", "image/jpeg")}}, 415, "a.jpg"),
        ({"files": {"image": ("a.jpg", b"x", "image/jpeg")}}, 422, "unknown file field 'image'"),
        ({"data": {"sampling": "chunks"}}, 422, "upload a tracklet"),
        ({"content": b"{}", "headers": {"content-type": "application/json"}}, 415, "multipart"),
        ({"files": frames_files(person_frames(3, 2)), "data": {"sampling": "best"}}, 422, "sampling"),
        ({"files": frames_files(person_frames(3, 2)), "data": {"colour": "red"}}, 422, "unknown form field"),
    ],
)
def test_bad_uploads_get_a_json_4xx_that_says_why(
    server: LiveServer, kwargs: dict, status: int, words: str
) -> None:
    assert words in error(server, status, **kwargs)
    embed(server, files=frames_files(person_frames(seed=4, count=2)))  # and the service still serves


def test_truncated_jpeg_and_frame_limit(serve) -> None:
    server = serve(max_frames=8)
    data = person_frames(seed=5, count=1)[0]
    assert "f000.jpg" in error(server, 422, files=frames_files([data[: len(data) // 2]]))
    assert "8" in error(server, 413, files=frames_files(person_frames(seed=5, count=9)))


def test_body_over_the_limit_is_refused_while_streaming(serve) -> None:
    server = serve(max_upload_bytes=100_000)
    big = frames_files([b"\xff\xd8" + bytes(3_000_000)])
    assert "over" in error(server, 413, files=big)
