"""POST /tracks with a clip and no tracker file, over HTTP on the shipped model and detector: people
found, tracked and enrolled under the deployment's retention and audit rules; bad input a clear 4xx;
progress streamed as NDJSON; a client that goes away cancels the work and gives its memory back."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from clips import VTEST, back_and_forth, nobody

from devtools.harness import LiveServer, live_servers
from reid_client.cli import main as reid
from service.tracks.trackfile import TrackFileLimits, parse_mot

KEY = "footage-admin"
AUTH = {"Authorization": f"Bearer {KEY}"}
NDJSON = {"Accept": "application/x-ndjson", **AUTH}
TTL = 3600
BUDGET = 512 << 20


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_servers(
        intra_op_threads=1,
        detector_threads=1,
        redis_url=None,
        rate_limit_per_minute=0,
        api_key=KEY,
        gallery_ttl_seconds=TTL,
        memory_budget_bytes=BUDGET,
    ) as start:
        yield start()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """600 frames of 768x576: several seconds of detection on two shared cores."""
    return back_and_forth(tmp_path_factory.mktemp("clips") / "long.mp4", 600)


@pytest.fixture(scope="module")
def empty_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return nobody(tmp_path_factory.mktemp("clips") / "nobody.mp4")


def post(client: httpx.Client, video: bytes, headers: dict[str, str] | None = None, **fields: object):
    data = {"camera": "camP", "action": "enroll", **{k: str(v) for k, v in fields.items()}}
    return client.post(
        "/tracks", data=data, files={"video": ("pets.mp4", video, "video/mp4")}, headers=headers or AUTH
    )


def reserved(client: httpx.Client) -> float:
    text = client.get("/metrics", headers=AUTH).text
    return float(re.search(r"^reid_memory_reserved_bytes (\S+)$", text, re.M).group(1))


def clear(client: httpx.Client) -> None:
    model_id = client.get("/model", headers=AUTH).json()["id"]
    cleared = client.request("DELETE", "/gallery", params={"confirm": model_id}, headers=AUTH)
    assert cleared.status_code == 200, cleared.text


def test_people_found_in_footage_are_enrolled_under_retention_and_audit(server: LiveServer) -> None:
    with server.client() as client:
        clear(client)
        before = time.time()
        response = post(client, VTEST.read_bytes(), tracker_output="true", mot_output="true")
        assert response.status_code == 200, response.text
        answer = response.json()
        detection = answer["detection"]
        assert detection["detector"] == "pedestrian-detection-adas-0002"
        assert detection["stride"] == 1 and detection["confidence"] == 0.3 and detection["roi"] is None
        assert detection["frames_detected"] == 12 and detection["tracks"] >= 3
        assert answer["video"] == {
            "width": 768, "height": 576, "fps": 10.0, "fps_from": "video", "frames_decoded": 12,
        }  # fmt: skip
        # the tracker file the service made: MOTChallenge, parsed as a user's would be
        made = parse_mot(answer["tracker_file"], TrackFileLimits())
        assert sorted(made.tracks) == sorted(t["track_id"] for t in answer["tracks"])
        assert answer["boxes"] == made.boxes
        enrolled = answer["enrolled"]
        assert len(enrolled) >= 2 and {e["id"] for e in enrolled} <= {
            t["gallery_id"] for t in answer["tracks"] if t["result"] == "enrolled"
        }
        for entry in enrolled:  # the deployment's retention, like any other entry
            assert entry["camera"] == "camP" and entry["tags"]["source"] == "tracks"
            assert before + TTL - 5 <= entry["expires_at"] <= time.time() + TTL + 5
        assert answer["mot"] and all(
            line.split(",")[1].startswith("camP:") for line in answer["mot"].splitlines()
        )
        trail = client.get("/audit", params={"action": "enroll"}, headers=AUTH).json()["items"]
        assert trail[0]["ids"] == [e["id"] for e in enrolled] and trail[0]["actor"] == "default"
        assert client.get("/gallery", headers=AUTH).json()["total"] == len(enrolled)

        # options: a stride, a region of interest and a minimum box size are used
        clear(client)
        narrow = post(
            client, VTEST.read_bytes(), action="embed", detect_stride=2, roi="0,100,768,576",
            detect_min_height=40, detect_confidence=0.4,
        )  # fmt: skip
        assert narrow.status_code == 200, narrow.text
        d = narrow.json()["detection"]
        assert (d["stride"], d["roi"], d["min_height"], d["confidence"]) == (2, [0, 100, 768, 576], 40, 0.4)
        assert d["frames_detected"] == 6 and narrow.json()["tracker_file"] is None
        assert client.get("/gallery", headers=AUTH).json()["total"] == 0


@pytest.mark.parametrize(
    ("fields", "video", "status", "message"),
    [
        ({"detect_stride": 0}, "vtest", 422, r"detect_stride: Input should be greater than or equal to 1"),
        ({"roi": "0,0,800,600"}, "vtest", 422, r"region of interest 0,0,800,600 lies outside the 768x576"),
        ({"roi": "10,20,30"}, "vtest", 422, r"roi '10,20,30': expected x1,y1,x2,y2"),
        ({"detect_confidence": 1.5}, "vtest", 422, r"detect_confidence: Input should be less than"),
        ({}, "nobody", 422, r"no person tracked in 12 frames"),
        ({}, "truncated", 422, r"no frame could be decoded|corrupt|truncated|cannot"),
        ({}, "junk", 415, r"not an MP4, AVI or MKV/WebM video"),
    ],
    ids=["stride-0", "roi-outside", "roi-malformed", "confidence", "nobody", "truncated", "junk"],
)
def test_bad_footage_is_a_clear_4xx_and_stores_nothing(
    server: LiveServer, empty_clip: bytes, fields: dict, video: str, status: int, message: str
) -> None:
    data = {
        "vtest": VTEST.read_bytes(),
        "nobody": empty_clip,
        "truncated": VTEST.read_bytes()[:2000],
        "junk": b"this is not a video at all" * 100,
    }[video]
    with server.client() as client:
        clear(client)
        for headers in (AUTH, NDJSON):  # plain, and streamed: refusals before the work are plain too
            response = post(client, data, headers, **fields)
            if response.headers["content-type"].startswith("application/x-ndjson"):
                # found once the work had started: the stream's last line carries the same error
                assert response.status_code == 200 and video == "nobody"
                last = json.loads(response.text.splitlines()[-1])
                assert last["event"] == "error" and last["status"] == status
                error = last["error"]["error"]
            else:
                assert response.status_code == status, response.text
                error = response.json()["error"]
            assert re.search(message, error["message"]), error
        assert client.get("/gallery", headers=AUTH).json()["total"] == 0
        assert reserved(client) == 0


def test_the_answer_streams_progress_then_the_result(server: LiveServer, long_clip: bytes) -> None:
    with server.client() as client:
        clear(client)
        response = post(client, long_clip, NDJSON, action="embed", detect_stride=3)
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
        events = [json.loads(line) for line in response.text.splitlines()]
    *progress, last = events
    assert last["event"] == "result" and last["result"]["detection"]["frames_detected"] == 200
    assert last["result"]["tracks"] and last["result"]["action"] == "embed"
    assert all(e["event"] == "progress" for e in progress) and len(progress) >= 2
    assert set(progress[0]) == {"event", "stage", "frames_done", "frames_total", "people", "seconds_left"}
    stages = [e["stage"] for e in progress]
    assert stages[0] == "tracking" and stages == sorted(stages, key=["tracking", "embedding"].index)
    tracking = [e for e in progress if e["stage"] == "tracking"]
    assert all(e["frames_total"] in (600, None) for e in tracking)
    assert [e["frames_done"] for e in tracking] == sorted(e["frames_done"] for e in tracking)
    assert max(e["people"] for e in progress) >= 1


def test_a_client_that_goes_away_cancels_the_work(server: LiveServer, long_clip: bytes) -> None:
    """Read one progress line of a long clip, close the connection: the work stops (its memory is
    back well before the clip could have been detected), nothing is enrolled, the service serves on."""
    with server.client() as client:
        clear(client)
        enrolments = len(client.get("/audit", params={"action": "enroll"}, headers=AUTH).json()["items"])
        with client.stream(
            "POST",
            "/tracks",
            data={"camera": "camP", "action": "enroll"},
            files={"video": ("long.mp4", long_clip, "video/mp4")},
            headers=NDJSON,
        ) as response:
            assert response.status_code == 200
            first = json.loads(next(response.iter_lines()))
            assert first["event"] == "progress" and first["stage"] == "tracking"
            assert reserved(client) > 0  # the upload and the detection pass hold their memory
        closed = time.monotonic()
        while reserved(client) != 0 and time.monotonic() - closed < 10:
            time.sleep(0.05)
        released_after = time.monotonic() - closed
        assert reserved(client) == 0, "the cancelled request still holds memory"
        assert released_after < 5, released_after  # detecting the 600 frames takes longer than that
        time.sleep(0.5)
        assert client.get("/gallery", headers=AUTH).json()["total"] == 0
        assert client.get("/readyz").status_code == 200
        trail = client.get("/audit", params={"action": "enroll"}, headers=AUTH).json()["items"]
        assert len(trail) == enrolments  # no enrolment recorded
        # and it still serves footage
        again = post(client, VTEST.read_bytes(), action="embed")
        assert again.status_code == 200, again.text
        assert reserved(client) == 0


def test_the_reid_command_sends_footage_alone(server: LiveServer, tmp_path: Path) -> None:

    video = tmp_path / "pets.mp4"
    video.write_bytes(VTEST.read_bytes())
    out, err = io.StringIO(), _Terminal()
    env = {"REID_URL": server.url, "REID_API_KEY": KEY}
    argv = ["tracks", str(video), "--camera", "camQ", "--stride", "1", "--confidence", "0.3"]
    argv += ["--roi", "0,0,768,576", "--tracker-out", str(tmp_path / "made.txt")]
    argv += ["--mot-out", str(tmp_path / "ids.txt"), "--id-template", "{camera}:{track}"]
    with server.client() as client:
        clear(client)
        code = reid(argv, env=env, stdout=out, stderr=err)
        assert code == 0, err.getvalue()
        answer = json.loads(out.getvalue())
        assert answer["detection"]["roi"] == [0, 0, 768, 576] and "tracker_file" not in answer
        assert "mot" not in answer
        made = parse_mot((tmp_path / "made.txt").read_text(), TrackFileLimits())
        assert made.boxes == answer["boxes"]
        assert all(
            line.split(",")[1].startswith("camQ:") for line in (tmp_path / "ids.txt").read_text().splitlines()
        )
        assert re.search(r"tracking +\d+ frames, \d+ people", err.getvalue()), err.getvalue()
        enrolled = client.get("/gallery", headers=AUTH).json()["total"]
        assert enrolled == len(answer["enrolled"]) >= 2


class _Terminal(io.StringIO):
    """stderr as a terminal: the progress bars are drawn."""

    def isatty(self) -> bool:
        return True


class _InterruptingTerminal(_Terminal):
    """A terminal whose user presses Ctrl-C as the first line of the work's progress is drawn."""

    def write(self, text: str) -> int:
        if "tracking" in text:
            raise KeyboardInterrupt
        return super().write(text)


def test_ctrl_c_in_the_reid_command_cancels_the_work(
    server: LiveServer, long_clip: bytes, tmp_path: Path
) -> None:
    video = tmp_path / "long.mp4"
    video.write_bytes(long_clip)
    out, err = io.StringIO(), _InterruptingTerminal()
    env = {"REID_URL": server.url, "REID_API_KEY": KEY}
    with server.client() as client:
        clear(client)
        code = reid(
            ["tracks", str(video), "--camera", "camR", "--action", "enroll"], env=env, stdout=out, stderr=err
        )
        assert code == 130 and out.getvalue() == ""
        closed = time.monotonic()
        while reserved(client) != 0 and time.monotonic() - closed < 10:
            time.sleep(0.05)
        assert reserved(client) == 0 and time.monotonic() - closed < 5
        time.sleep(0.5)
        assert client.get("/gallery", headers=AUTH).json()["total"] == 0


def test_a_detector_that_cannot_load_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from devtools.harness import free_port

    repo = Path(__file__).resolve().parents[3]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REID_")}
    env = {**clean, "PYTHONPATH": str(repo), "REID_PORT": str(free_port()), "REID_LOG_LEVEL": "warning"}
    env["REID_DETECTOR_PATH"] = str(tmp_path / "no-detector-here")
    done = subprocess.run(
        [sys.executable, "-m", "service"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert f"REID_DETECTOR_PATH={tmp_path / 'no-detector-here'}: no OpenVINO IR" in done.stderr, done.stderr[
        -2000:
    ]
