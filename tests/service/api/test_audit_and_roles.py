"""Named keys with roles, and the audit trail of who enrolled, searched, deleted and cleared whom."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from devtools.harness import LiveServer, ServerFactory
from devtools.synthetic import frames_files, person_frames

KEYS = "viewer:read:r-key,editor:write:w-key,boss:admin:a-key"
READ, WRITE, ADMIN = ({"Authorization": f"Bearer {k}"} for k in ("r-key", "w-key", "a-key"))


def vector(i: int) -> list[float]:
    return list(np.eye(64)[i])


def run_story(server: LiveServer) -> None:
    with server.client() as client:
        for i in range(3):
            assert (
                client.post(
                    "/gallery", json={"id": f"p{i}", "embedding": vector(i)}, headers=WRITE
                ).status_code
                == 201
            )
        found = client.post("/match", json={"embedding": vector(1), "top_k": 2}, headers=READ).json()
        assert found["matches"][0]["id"] == "p1"
        assert client.delete("/gallery/p2", headers=WRITE).status_code == 200


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_roles_and_the_audit_trail(
    serve: ServerFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    overrides: dict[str, object] = {"api_keys": KEYS}
    if backend == "redis":
        overrides |= {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_namespace": request.getfixturevalue("namespace"),
        }
    server = serve(**overrides)
    run_story(server)
    with server.client() as client:
        # a read key reads, and may not write, delete, clear or read the trail
        assert client.get("/gallery", headers=READ).json()["total"] == 2
        assert (
            client.post("/gallery", json={"id": "x", "embedding": vector(5)}, headers=READ).status_code == 403
        )
        assert client.delete("/gallery/p0", headers=READ).status_code == 403
        assert client.get("/audit", headers=READ).status_code == 403
        assert client.get("/audit", headers=WRITE).status_code == 403
        model_id = client.get("/model").json()["id"]
        assert client.delete("/gallery", params={"confirm": model_id}, headers=WRITE).status_code == 403
        assert client.get("/audit").status_code == 401
        assert client.get("/audit", headers={"Authorization": "Bearer nope"}).status_code == 401

        trail = client.get("/audit", headers=ADMIN).json()["items"]
        assert [e["action"] for e in trail] == ["delete", "match", "enroll", "enroll", "enroll"]
        delete, match = trail[0], trail[1]
        assert delete["actor"] == "editor" and delete["ids"] == ["p2"]
        assert (
            match["actor"] == "viewer"
            and match["ids"] == ["p1", "p0"]
            and match["results"] == 2  # ties by id
        )
        assert all(e["model_id"] == model_id for e in trail)

        only_matches = client.get("/audit", params={"action": "match"}, headers=ADMIN).json()["items"]
        assert [e["action"] for e in only_matches] == ["match"]
        about_p0 = client.get("/audit", params={"id": "p0"}, headers=ADMIN).json()["items"]
        assert [e["action"] for e in about_p0] == ["match", "enroll"]
        page = client.get("/audit", params={"limit": 2}, headers=ADMIN).json()
        older = client.get("/audit", params={"limit": 2, "before": page["next"]}, headers=ADMIN).json()
        assert [e["action"] for e in page["items"] + older["items"]] == [
            "delete",
            "match",
            "enroll",
            "enroll",
        ]

        cleared = client.delete("/gallery", params={"confirm": model_id}, headers=ADMIN).json()
        assert cleared["removed"] == 2
        last = client.get("/audit", params={"limit": 1}, headers=ADMIN).json()["items"][0]
        assert last["action"] == "clear" and last["actor"] == "boss" and last["results"] == 2
    if backend == "redis":
        raw = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        entries = raw.xrange(f"{request.getfixturevalue('namespace')}:audit")
        assert len(entries) == 6  # 3 enrolments, 1 match, 1 deletion, 1 clear
        # ids, counts and names only: never an image, a vector or a file name
        expected = {b"time", b"action", b"actor", b"model_id", b"ids", b"results"}
        assert all(set(fields) == expected for _, fields in entries)


def test_the_trail_is_bounded(serve: ServerFactory) -> None:
    server = serve(audit_max_entries=4)
    with server.client() as client:
        for i in range(6):
            client.post("/match", json={"embedding": vector(i)})
        assert len(client.get("/audit").json()["items"]) == 4


def test_protected_reads_need_a_key(serve: ServerFactory) -> None:
    server = serve(api_keys=KEYS, protect_reads=True)
    with server.client() as client:
        files = frames_files(person_frames(1, 2))
        assert client.post("/embed", files=files).status_code == 401
        assert client.post("/embed", files=files, headers=READ).status_code == 200
        assert client.get("/gallery").status_code == 401
        assert client.get("/healthz").status_code == 200 and client.get("/model").status_code == 200


def test_keys_and_options_are_checked_before_any_frame_is_decoded(serve: ServerFactory) -> None:
    """A refused request costs no decoding: each of these carries a corrupt frame, yet the answer is
    about the key or the option, not the frame (it would be a 422 on the JPEG had it been decoded)."""
    server = serve(api_keys=KEYS, max_top_k=50)
    corrupt = [person_frames(1, 2)[0][:200]]  # a truncated JPEG
    with server.client() as client:
        refused = client.post(
            "/match", files=frames_files(corrupt), data={"enroll": "true", "id": "x"}, headers=READ
        )
        assert refused.status_code == 403, refused.text
        too_many = client.post("/match", files=frames_files(corrupt), data={"top_k": "51"}, headers=READ)
        assert too_many.status_code == 422 and "top_k is at most 50" in too_many.text
        pair = frames_files(corrupt) + frames_files(corrupt, "other_frames")
        both = client.post("/match", files=pair, data={"enroll": "true", "id": "x"}, headers=WRITE)
        assert both.status_code == 422 and "not with a pair" in both.text
        decoded = client.post("/match", files=frames_files(corrupt), headers=READ)
        assert decoded.status_code == 422 and "frame" in decoded.text.lower(), decoded.text
