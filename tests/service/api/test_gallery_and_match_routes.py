"""Gallery and /match over real HTTP: enroll, rank, filter, pair, enroll-after-match, key, clear."""

from __future__ import annotations

import time

import numpy as np
import pytest

from devtools.harness import LiveServer, ServerFactory
from devtools.synthetic import frames_files, person_frames


def enroll(client, person: int, entry_id: str, camera: str = "B", **fields: str):
    data = {"id": entry_id, "camera": camera, **fields}
    return client.post("/gallery", files=frames_files(person_frames(person, 5)), data=data)


def test_enrolled_people_are_found_from_another_tracklet(server: LiveServer) -> None:
    with server.client() as client:
        for person in range(6):
            response = enroll(client, person, f"person-{person}", label="visitor" if person % 2 else "staff")
            assert response.status_code == 201, response.text
        # a new tracklet of person 3: other frames (another seed offset) of the same clothing
        query = frames_files(person_frames(3, 4))
        found = client.post("/match", files=query, data={"top_k": "3"}).json()
        assert found["matches"][0]["id"] == "person-3"
        assert len(found["matches"]) == 3 and found["search"] == "exact"
        sims = [m["similarity"] for m in found["matches"]]
        assert sims == sorted(sims, reverse=True)
        assert found["matches"][0]["distance"] == pytest.approx(1 - sims[0], abs=1e-6)

        staff = client.post("/match", files=query, data={"filter_label": "staff"}).json()["matches"]
        assert {m["label"] for m in staff} == {"staff"}
        other_cam = client.post("/match", files=query, data={"exclude_camera": "B"}).json()["matches"]
        assert other_cam == []
        high = client.post("/match", files=query, data={"threshold": "0.9999"}).json()["matches"]
        assert all(m["similarity"] >= 0.9999 for m in high)

        page = client.get("/gallery", params={"offset": 2, "limit": 3}).json()
        assert page["total"] == 6 and [e["id"] for e in page["items"]] == ["person-2", "person-3", "person-4"]
        entry = client.get("/gallery/person-3", params={"include_embedding": True}).json()
        assert entry["camera"] == "B" and len(entry["embedding"]) == 64

        # query by embedding (JSON), same answer as the upload
        by_vector = client.post("/match", json={"embedding": entry["embedding"], "top_k": 1}).json()
        assert by_vector["matches"][0]["id"] == "person-3"
        assert by_vector["matches"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)


def test_pair_mode_scores_two_tracklets(server: LiveServer) -> None:
    same = frames_files(person_frames(7, 4)) + frames_files(person_frames(7, 3), "other_frames")
    other = frames_files(person_frames(7, 4)) + frames_files(person_frames(8, 3), "other_frames")
    with server.client() as client:
        a = client.post("/match", files=same).json()["pair"]
        b = client.post("/match", files=other).json()["pair"]
    assert a["similarity"] > b["similarity"]
    assert a["distance"] == pytest.approx(1 - a["similarity"], abs=1e-6)


def test_match_then_enroll_and_add_mode(server: LiveServer) -> None:
    with server.client() as client:
        data = {"enroll": "true", "id": "walker", "camera": "A", "mode": "add"}
        first = client.post("/match", files=frames_files(person_frames(9, 3)), data=data).json()
        assert first["matches"] == [] and first["enrolled"]["count"] == 1
        second = client.post("/match", files=frames_files(person_frames(9, 4)), data=data).json()
        assert second["matches"][0]["id"] == "walker" and second["enrolled"]["count"] == 2
        replaced = enroll(client, 9, "walker", mode="replace").json()
        assert replaced["count"] == 1


def test_embeddings_of_the_wrong_size_or_model_are_refused(server: LiveServer) -> None:
    with server.client() as client:
        wrong_size = client.post("/match", json={"embedding": [0.1] * 63})
        assert wrong_size.status_code == 422 and "63" in wrong_size.json()["error"]["message"]
        nan = client.post(
            "/match", content=b'{"embedding": [NaN, 1.0]}', headers={"content-type": "application/json"}
        )
        assert nan.status_code == 422
        other_model = client.post(
            "/match", json={"embedding": [0.1] * 64, "model_id": "other@1.0.0+abcdef12"}
        )
        assert other_model.status_code == 409 and other_model.json()["error"]["code"] == "model_mismatch"
        vector = list(np.ones(64) / 8)
        ok = client.post("/gallery", json={"id": "v1", "embedding": vector, "tags": {"zone": "n"}})
        assert ok.status_code == 201 and ok.json()["tags"] == {"zone": "n"}
        assert client.get("/gallery/nobody").status_code == 404
        assert client.delete("/gallery/nobody").json()["error"]["code"] == "not_found"
        assert client.get("/gallery/..%2Fetc").status_code in (404, 422)


def test_writes_need_the_api_key_when_configured(serve: ServerFactory) -> None:
    server = serve(api_key="s3cret")
    vector = list(np.ones(64) / 8)
    with server.client() as client:
        assert client.post("/gallery", json={"id": "a", "embedding": vector}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (
            client.post("/gallery", json={"id": "a", "embedding": vector}, headers=wrong).status_code == 401
        )
        good = {"Authorization": "Bearer s3cret"}
        assert client.post("/gallery", json={"id": "a", "embedding": vector}, headers=good).status_code == 201
        assert client.post("/match", json={"embedding": vector}).status_code == 401  # reads too, by default
        assert client.post("/match", json={"embedding": vector}, headers=good).status_code == 200
        enroll_body = {"embedding": vector, "enroll": {"id": "b"}}
        assert client.post("/match", json=enroll_body).status_code == 401
        assert client.delete("/gallery/a").status_code == 401
        assert client.delete("/gallery/a", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_clear_needs_the_model_id_as_confirmation(server: LiveServer) -> None:
    with server.client() as client:
        for i in range(3):
            client.post("/gallery", json={"id": f"e{i}", "embedding": list(np.eye(64)[i])})
        refused = client.delete("/gallery")
        assert refused.status_code == 409 and "confirm=" in refused.json()["error"]["message"]
        model_id = client.get("/model").json()["id"]
        assert client.get("/gallery").json()["total"] == 3
        wrong_model = client.delete("/gallery", params={"confirm": "tiny-test@9.9.9+00000000"})
        assert wrong_model.status_code == 409
        raw_plus = f"/gallery?confirm={model_id}"  # the + unencoded, as curl users type it
        cleared = client.delete(raw_plus).json()
        assert cleared == {"model_id": model_id, "removed": 3}
        assert client.get("/gallery").json()["total"] == 0


def test_with_the_gallery_index_on_matches_stay_right_before_during_and_after_its_build(
    serve: ServerFactory,
) -> None:
    """REID_GALLERY_INDEX=ivf: from 40 entries on, a faiss index builds in the background; every
    entry still finds itself first, through the exact search and then through the index."""
    pytest.importorskip("faiss")
    server = serve(gallery_index="ivf", gallery_index_min_rows=40, gallery_index_nprobe=64)
    vectors = np.random.default_rng(11).standard_normal((60, 64))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with server.client() as client:
        for i, vector in enumerate(vectors):
            response = client.post("/gallery", json={"id": f"v{i:02d}", "embedding": vector.tolist()})
            assert response.status_code == 201, response.text
        searches = []
        for _ in range(2):  # the second pass runs on the index once the build is collected
            for i, vector in enumerate(vectors):
                found = client.post("/match", json={"embedding": vector.tolist(), "top_k": 3}).json()
                assert found["matches"][0]["id"] == f"v{i:02d}"
                assert found["matches"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
                searches.append(found["search"])
            time.sleep(0.5)
        assert searches[-1] == "approximate"  # says so, as it may miss some of the exact top k
        assert "reid_gallery_indexed 1.0" in client.get("/metrics").text
        assert client.delete("/gallery/v07").status_code == 200
        found = client.post("/match", json={"embedding": vectors[7].tolist(), "top_k": 60}).json()
        assert "v07" not in [m["id"] for m in found["matches"]] and len(found["matches"]) == 59
