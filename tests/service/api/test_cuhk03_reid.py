"""The product's promise, end to end: real people from CUHK03, enrolled from one camera over HTTP into
Redis, are found first from a tracklet of the other camera, by the shipped model as it is served.

The served path (OpenCV decoding and resizing, chunking, ONNX Runtime, the Redis gallery) must give
the figures the model card states for the offline evaluation (PIL decoding), within a few points:
a preprocessing mismatch between training and serving shows up here as a drop in rank-1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.harness import ServerFactory
from model_export.data.readers import read_cuhk03
from model_export.export.runtime import read_metadata
from service.core.config import DEFAULT_MODEL

pytestmark = pytest.mark.cuhk03


def upload(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("frames", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_people_enrolled_from_camera_b_are_found_first_from_camera_a(
    serve: ServerFactory, cuhk03_root: Path, redis_url: str, namespace: str
) -> None:
    split = read_cuhk03(cuhk03_root)
    server = serve(
        model_path=DEFAULT_MODEL, redis_url=redis_url, redis_namespace=namespace, intra_op_threads=0
    )
    with server.client() as client:
        for t in split.gallery:  # camera B
            data = {"id": f"person-{t.pid:04d}", "camera": "B", "label": "cuhk03"}
            assert client.post("/gallery", files=upload(list(t.frames)), data=data).status_code == 201
        assert client.get("/gallery").json()["total"] == len(split.gallery)
        hits = 0
        for t in split.query:  # camera A
            found = client.post("/match", files=upload(list(t.frames)), data={"top_k": "5"}).json()
            hits += found["matches"][0]["id"] == f"person-{t.pid:04d}"
    rank1 = hits / len(split.query)
    card = read_metadata(DEFAULT_MODEL).evaluation
    assert card is not None
    offline = card.directions["query->gallery"]["rank1"]
    assert rank1 >= offline - 0.05, (rank1, offline)
    assert rank1 > 0.6
