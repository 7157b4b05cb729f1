"""POST /tracks end to end: a real uvicorn on the shipped model, Redis, synthetic footage of two cameras."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import redis
from footage import Footage

from reid_client.cli import main as reid
from service.media.decode import MediaLimits, Upload, open_video
from service.tracks.cut import cut_crops
from service.tracks.plan import CropRules, plan_crops
from service.tracks.trackfile import TrackFileLimits, parse_tracker_file

START = 1_750_000_000.0


def upload(footage: Footage, mot: str | None = None, **fields: object) -> dict:
    return {
        "files": {
            "video": (f"{footage.camera}.mp4", footage.video, "video/mp4"),
            "tracks": (f"{footage.camera}.txt", (mot or footage.mot()).encode(), "text/plain"),
        },
        "data": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()},
    }


def keys(redis_url: str, namespace: str) -> set[str]:
    return {k.decode() for k in redis.Redis.from_url(redis_url).scan_iter(match=f"{namespace}:*")}


def calibrated_threshold(client: Any, cam_a: Footage, cam_b: Footage) -> float:
    """The served model's own cut between these people: every track of both cameras embedded (nothing
    stored), and the threshold half way between the least similar same person across cameras and the
    most similar two different people. A threshold is the model's, not the test's; that the model
    separates them at all is asserted here."""
    vectors: dict[str, dict[int, np.ndarray]] = {}
    for footage in (cam_a, cam_b):
        answer = client.post("/tracks", **upload(footage, camera=footage.camera, action="embed")).json()
        vectors[footage.camera] = {t["track_id"]: np.asarray(t["embedding"]) for t in answer["tracks"]}
    same, other = [], []
    for ta, va in vectors[cam_a.camera].items():
        for tb, vb in vectors[cam_b.camera].items():
            is_same = cam_a.person_of_track[ta] == cam_b.person_of_track[tb]
            (same if is_same else other).append(float(va @ vb))
    assert min(same) > max(other), (same, other)
    return (min(same) + max(other)) / 2


def test_two_cameras_of_the_same_people_give_each_person_one_global_id(
    serve_shipped, cameras: tuple[Footage, Footage], redis_url: str, namespace: str, tmp_path: Path
) -> None:
    cam_a, cam_b = cameras
    server = serve_shipped(redis_url=redis_url, redis_namespace=namespace)
    with server.client() as client:
        threshold = calibrated_threshold(client, cam_a, cam_b)
        first = client.post(
            "/tracks",
            **upload(cam_a, camera="camA", action="match-or-enroll", threshold=threshold, start_time=START),
        )
        assert first.status_code == 200, first.text
        answer = first.json()
        assert {t["result"] for t in answer["tracks"]} == {"enrolled"}  # an empty gallery: all new
        assert sorted(e["id"] for e in answer["enrolled"]) == ["camA:1", "camA:2", "camA:3"]
        entry = client.get("/gallery/camA:1").json()
        boxes = sum(1 for b in cam_a.boxes if b.track_id == 1)
        first_frame = min(b.frame for b in cam_a.boxes if b.track_id == 1)
        assert entry["camera"] == "camA"
        assert entry["timestamp"] == pytest.approx(START + (first_frame - 1) / cam_a.fps, abs=1e-3)
        assert entry["tags"]["boxes"] == str(boxes) and entry["tags"]["time_base"] == "epoch"
        assert client.get("/gallery/camA:1/thumbnail").status_code == 200

    # camera B through the command-line client, as a user would: its tracks take camera A's ids
    out, err, mot_file = io.StringIO(), io.StringIO(), tmp_path / "camB.global.txt"
    (tmp_path / "camB.mp4").write_bytes(cam_b.video)
    (tmp_path / "camB.txt").write_text(cam_b.mot())
    code = reid(
        ["tracks", str(tmp_path / "camB.mp4"), str(tmp_path / "camB.txt"), "--camera", "camB",
         "--threshold", str(threshold), "--mot-out", str(mot_file)],
        env={"REID_URL": server.url}, stdout=out, stderr=err,
    )  # fmt: skip
    assert code == 0, err.getvalue()
    second = json.loads(out.getvalue())
    person_a = {f"camA:{t}": p for t, p in cam_a.person_of_track.items()}
    for track in second["tracks"]:
        assert track["result"] == "matched", track
        assert person_a[track["gallery_id"]] == cam_b.person_of_track[track["track_id"]], track
        assert track["similarity"] >= threshold
    assert second["enrolled"] == []
    lines = mot_file.read_text().splitlines()
    assert len(lines) == len(cam_b.boxes)
    for line in lines:
        frame, gid, x, y = line.split(",")[:4]
        truth = next(b for b in cam_b.boxes if b.frame == int(frame) and (b.x, b.y) == (int(x), int(y)))
        assert person_a[gid] == cam_b.person_of_track[truth.track_id]
    assert len([k for k in keys(redis_url, namespace) if ":entry:" in k]) == 3  # nobody enrolled twice


def test_match_or_enroll_without_a_threshold_takes_the_models_own_calibrated_one(
    serve_shipped, cameras: tuple[Footage, Footage]
) -> None:
    """The shipped file carries thresholds measured on cameras it never saw; the answer says which
    threshold decided and where it came from."""
    footage = cameras[0]
    server = serve_shipped(match_false_match_rate=1e-2)
    with server.client() as client:
        calibration = client.get("/model").json()["calibration"]
        expected = next(p["threshold"] for p in calibration["points"] if p["false_match_rate"] == 1e-2)
        answer = client.post("/tracks", **upload(footage, camera="camA", action="match-or-enroll")).json()
        assert (answer["threshold"], answer["threshold_from"]) == (expected, "model")
        assert {t["result"] for t in answer["tracks"]} == {"enrolled"}
        given = client.post(
            "/tracks", **upload(footage, camera="camB", action="match-or-enroll", threshold=0.99)
        ).json()
        assert (given["threshold"], given["threshold_from"]) == (0.99, "request")
        # the same clip again as another camera: every track is its own camera-A track, at 0.99 or over
        assert {t["result"] for t in given["tracks"]} == {"matched"}
        assert min(t["similarity"] for t in given["tracks"]) >= 0.99
        embedded = client.post("/tracks", **upload(footage, camera="camA", action="embed", threshold=0.5))
        assert (embedded.json()["threshold"], embedded.json()["threshold_from"]) == (None, None)  # unused


def test_a_model_file_without_thresholds_needs_one_from_the_request(
    serve, cameras: tuple[Footage, Footage]
) -> None:
    """No fallback number: a threshold read off another model's scores would mean nothing here."""
    server = serve()
    with server.client() as client:
        assert client.get("/model").json()["calibration"] is None
        response = client.post("/tracks", **upload(cameras[0], camera="camA", action="match-or-enroll"))
        assert response.status_code == 422
        assert "this model's file carries no calibrated one" in response.json()["error"]["message"]
        assert client.get("/gallery").json()["total"] == 0


def test_embed_gives_the_vector_embed_gives_for_the_same_crops(
    serve_shipped, cameras: tuple[Footage, Footage]
) -> None:
    footage = cameras[0]
    server = serve_shipped()
    with server.client() as client:
        answer = client.post("/tracks", **upload(footage, camera="camA", action="embed")).json()
        model = client.get("/model").json()
        track = next(t for t in answer["tracks"] if t["track_id"] == 1)
        assert track["result"] == "embedded" and track["chunks"] == 2 and track["frames_used"] == 32
        # the same crops, cut here and sent to /embed as lossless PNG frames
        tracker = parse_tracker_file(footage.mot().encode(), TrackFileLimits())
        media = MediaLimits(1 << 26, 512, 1 << 24, 10)
        with open_video(Upload("v.mp4", footage.video), media) as video:
            plan = plan_crops(tracker, video.width, video.height, CropRules(), 16)
            size = (model["height"], model["width"])
            crops = cut_crops(video, plan, size, 10_000).crops[1]
        frames = [("frames", (f"{i:03d}.png", cv2.imencode(".png", c[..., ::-1])[1].tobytes(), "image/png"))
                  for i, c in enumerate(crops)]  # fmt: skip
        direct = client.post("/embed", files=frames).json()
    assert direct["chunks"] == 2
    assert float(np.dot(track["embedding"], direct["embedding"])) > 0.9999


def test_skipped_tracks_say_why_and_matching_stores_nothing(
    serve_shipped, cameras: tuple[Footage, Footage]
) -> None:
    footage = cameras[0]
    junk = "".join(f"{f},77,5,5,10,20,0.9\n" for f in range(1, 6)) + "1,78,0,0,64,128,0.2\n"
    server = serve_shipped()
    with server.client() as client:
        answer = client.post(
            "/tracks", **upload(footage, footage.mot() + junk, camera="camA", action="match")
        )
        assert answer.status_code == 200, answer.text
        tracks = {t["track_id"]: t for t in answer.json()["tracks"]}
        assert tracks[77]["result"] == "skipped" and tracks[77]["dropped"] == {"too_small": 5}
        assert tracks[77]["skipped"] == "0 usable boxes of the 3 needed (dropped: 5 too small)"
        assert tracks[78]["dropped"] == {"low_confidence": 1}
        assert tracks[1]["result"] == "searched" and tracks[1]["matches"] == []
        assert client.get("/gallery").json()["total"] == 0


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"mot": "1,1,0,0,64,128\n1,2,0,0,64\n"}, 422, r"tracker file line 2: expected at least 6 values"),
        (
            {"mot": '[{"frame": 1, "track_id": 1, "x": 0, "y": 0, "w": 9, "h": 9, "score": 1}]'},
            422,
            r"item 0: score",
        ),
        ({"extra": {"colour": "red"}}, 422, r"unknown form field 'colour'"),
        ({"video": b"not a video at all"}, 415, r"not an MP4"),
        ({"video_cut": True}, 422, r"cannot decode video|video has no frames|only \d+ frames"),
        ({"mot_extra_frame": 500}, 422, r"boxes up to frame 500 \(line \d+\) but video 'camA.mp4' has only"),
        (
            {"extra": {"threshold": ""}, "settings": {"match_false_match_rate": 0.05}},
            422,
            r"give a threshold: no operating point at false match rate 0.05 \(calibrated: 0.01, 0.001",
        ),
        ({"extra": {"id_template": "{camera}"}}, 422, r"must contain \{track\}"),
        ({"extra": {"id_template": "{camera}/{track}"}}, 422, r"not a valid gallery id"),
        (
            {"no_tracks": True, "settings": {"detector_path": ""}},
            422,
            r"no tracker file \(`tracks`\) and this service has no person detector \(REID_DETECTOR_PATH",
        ),
        ({"extra": {"detect_stride": "2"}}, 422, r"detect_stride: options of footage without a tracker file"),
        ({"settings": {"tracks_max_boxes": 10}}, 413, r"line 11: more than 10 boxes"),
        ({"settings": {"tracks_max_crops": 20}}, 413, r"more than 20 crops"),
        (
            {"settings": {"tracks_max_video_frames": 10}},
            413,
            r"names frame \d+ \(line \d+\), over the limit of 10",
        ),
        ({"extra": {"fps": "0.001"}}, 422, r"fps: Input should be greater than or equal to 0.01"),
    ],
)
def test_bad_input_is_a_4xx_with_json_and_stores_nothing(
    serve_shipped, cameras: tuple[Footage, Footage], redis_url: str, namespace: str,
    change: dict, status: int, message: str,
) -> None:  # fmt: skip
    footage = cameras[0]
    server = serve_shipped(redis_url=redis_url, redis_namespace=namespace, **change.get("settings", {}))
    mot = change.get("mot", footage.mot())
    if "mot_extra_frame" in change:
        mot += f"{change['mot_extra_frame']},1,10,10,64,128,1\n"
    body = upload(footage, mot, camera="camA", action="match-or-enroll", threshold=0.5)
    body["data"].update(change.get("extra", {}))
    if "video" in change:
        body["files"]["video"] = ("camA.mp4", change["video"], "video/mp4")
    if change.get("video_cut"):
        body["files"]["video"] = ("camA.mp4", footage.video[: len(footage.video) // 3], "video/mp4")
    if change.get("no_tracks"):
        del body["files"]["tracks"]
    with server.client() as client:
        response = client.post("/tracks", **body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] and re.search(message, error["message"]), error
        assert client.get("/gallery").json()["total"] == 0
    assert [k for k in keys(redis_url, namespace) if ":entry:" in k or ":thumb" in k] == []


def test_ids_in_use_are_a_conflict_and_a_later_clip_uses_start(
    serve_shipped, cameras: tuple[Footage, Footage]
) -> None:
    footage = cameras[0]
    server = serve_shipped()
    with server.client() as client:
        assert client.post("/tracks", **upload(footage, camera="camA", action="enroll")).status_code == 200
        again = client.post("/tracks", **upload(footage, camera="camA", action="enroll"))
        assert again.status_code == 409 and again.json()["error"]["code"] == "id_in_use"
        assert client.get("/gallery").json()["total"] == 3
        later = client.post(
            "/tracks",
            **upload(
                footage,
                camera="camA",
                action="enroll",
                start_time=START,
                id_template="{camera}:{start}:{track}",
            ),
        )
        assert later.status_code == 200, later.text
        assert sorted(e["id"] for e in later.json()["enrolled"]) == [
            f"camA:{int(START)}:{t}" for t in (1, 2, 3)
        ]


def test_roles_are_those_of_the_other_routes(serve_shipped, cameras: tuple[Footage, Footage]) -> None:
    footage = cameras[0]
    server = serve_shipped(api_keys="reader:read:r-key,writer:write:w-key", protect_reads=True)
    with server.client() as client:
        anonymous = client.post("/tracks", **upload(footage, camera="camA", action="match"))
        assert anonymous.status_code == 401
        read = {"Authorization": "Bearer r-key"}
        assert (
            client.post("/tracks", headers=read, **upload(footage, camera="camA", action="match")).status_code
            == 200
        )
        refused = client.post("/tracks", headers=read, **upload(footage, camera="camA", action="enroll"))
        assert refused.status_code == 403 and "write" in refused.json()["error"]["message"]
        write = {"Authorization": "Bearer w-key"}
        assert (
            client.post(
                "/tracks", headers=write, **upload(footage, camera="camA", action="enroll")
            ).status_code
            == 200
        )


def test_json_boxes_give_what_mot_lines_give_and_fps_sets_the_times(
    serve_shipped, cameras: tuple[Footage, Footage]
) -> None:
    footage = cameras[0]
    boxes = [
        {"frame": b.frame, "track_id": b.track_id, "x": b.x, "y": b.y, "w": b.w, "h": b.h, "conf": 1.0}
        for b in footage.boxes
    ]
    server = serve_shipped()
    with server.client() as client:
        mot = client.post("/tracks", **upload(footage, camera="camA", action="embed")).json()
        as_json = client.post(
            "/tracks",
            **upload(footage, json.dumps(boxes), camera="camA", action="embed", fps=25, start_time=START),
        ).json()
    assert (mot["tracker_format"], as_json["tracker_format"]) == ("mot", "json")
    assert mot["video"]["fps"] == footage.fps and mot["video"]["fps_from"] == "video"
    assert as_json["video"]["fps"] == 25 and as_json["video"]["fps_from"] == "request"
    for a, b in zip(mot["tracks"], as_json["tracks"], strict=True):
        assert a["track_id"] == b["track_id"] and a["frames_used"] == b["frames_used"]
        assert float(np.dot(a["embedding"], b["embedding"])) > 0.9999
        assert a["first_seen"] == pytest.approx((a["first_frame"] - 1) / footage.fps, abs=1e-3)
        assert b["last_seen"] == pytest.approx(START + (b["last_frame"] - 1) / 25, abs=1e-3)
