"""The `reid` client against the real service: the field names it sends are the ones the API reads."""

from __future__ import annotations

import io
import json
from pathlib import Path

from devtools.synthetic import person_frames
from reid_client.cli import main as reid


def crops_folder(folder: Path, seed: int, count: int = 4) -> Path:
    folder.mkdir(parents=True)
    for i, data in enumerate(person_frames(seed, count)):
        (folder / f"f{i}.jpg").write_bytes(data)
    return folder


def run(argv: list[str], env: dict[str, str]) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    code = reid(argv, env=env, stdout=out, stderr=err)
    assert out.getvalue(), err.getvalue()
    return code, json.loads(out.getvalue())


def test_embed_enroll_match_with_a_key_from_the_environment(serve_shipped, tmp_path: Path) -> None:
    server = serve_shipped(api_key="s3cret")
    env = {"REID_URL": server.url, "REID_API_KEY": "s3cret"}
    people = {seed: crops_folder(tmp_path / f"p{seed}", seed) for seed in (1, 2, 3)}
    for seed, folder in people.items():
        code, entry = run(
            ["enroll", str(folder), "--id", f"p{seed}", "--camera", "B", "--tags", '{"zone": "n"}'], env
        )
        assert code == 0 and entry["id"] == f"p{seed}" and entry["tags"] == {"zone": "n"}
    query = crops_folder(tmp_path / "query", 2, count=3)
    code, answer = run(["match", str(query), "--top-k", "2", "--exclude-camera", "A"], env)
    assert code == 0 and answer["matches"][0]["id"] == "p2"
    code, embedded = run(["embed", str(query), "--sampling", "uniform", "--num-frames", "2"], env)
    assert code == 0 and embedded["frames_used"] == 2 and embedded["dim"] == len(embedded["embedding"])

    code, refused = run(["enroll", str(query), "--id", "x"], {"REID_URL": server.url})  # no key
    assert code == 3 and refused["error"]["code"] == "unauthorized"
    server.stop()
    code, gone = run(["--timeout", "2", "embed", str(query)], env)
    assert code == 5 and gone["error"]["code"] == "unreachable"
