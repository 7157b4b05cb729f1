"""The `reid` client against a stub HTTP server: what it sends, what it prints, the exit codes."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reid_client.cli import DEFAULT_URL, main
from reid_client.multipart import FilePart, MultipartBody
from reid_client.progress import ProgressBar, WorkBar


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    fields: dict[str, str]
    files: list[tuple[str, str, bytes]]  # field, file name, content


@dataclass
class Stub:
    url: str
    status: int = 200
    answer: dict = field(default_factory=lambda: {"ok": True})
    received: list[Received] = field(default_factory=list)
    refuse_early: bool = False
    stream: list[dict] | None = None  # answer these as NDJSON lines (a streamed /tracks) instead


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list[tuple[str, str, bytes]]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields, files = {}, []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        if filename is None:
            fields[name] = payload.decode()
        else:
            files.append((name, filename, payload))
    return fields, files


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # answers Expect: 100-continue, as uvicorn does

        def handle_expect_100(self) -> bool:
            if state.refuse_early:  # a final answer instead of "100 Continue": the body is never read
                # recorded before answering, as do_POST does: once answered, the test may look
                state.received.append(Received(self.path, dict(self.headers), {}, []))
                self.send_response(state.status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return False
            return super().handle_expect_100()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fields, files = parse_multipart(self.headers["Content-Type"], body)
            state.received.append(Received(self.path, dict(self.headers), fields, files))
            if state.stream is not None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in state.stream:
                    self.wfile.write(json.dumps(event).encode() + b"\n")
                    self.wfile.flush()
                return
            payload = json.dumps(state.answer).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def crops(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\xff\xd8\xff" + name.encode())
    (folder / "notes.txt").write_text("not a crop")
    return folder


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_embed_sends_a_folder_in_natural_order_with_the_key_from_the_environment(
    stub: Stub, tmp_path: Path
) -> None:
    folder = crops(tmp_path / "p1", ["f10.jpg", "f2.jpg", "f1.png"])
    code, out, err = run(
        ["embed", str(folder), "--sampling", "uniform", "--num-frames", "2"],
        env={"REID_URL": stub.url, "REID_API_KEY": "s3cret"},
    )
    assert code == 0, err
    assert json.loads(out) == {"ok": True}
    [sent] = stub.received
    assert sent.path == "/embed"
    assert sent.headers["Authorization"] == "Bearer s3cret"
    assert [(f, n) for f, n, _ in sent.files] == [
        ("frames", "f1.png"),
        ("frames", "f2.jpg"),
        ("frames", "f10.jpg"),
    ]
    assert sent.files[0][2] == b"\xff\xd8\xfff1.png"
    assert sent.fields == {"sampling": "uniform", "num_frames": "2"}


def test_flags_win_over_the_environment_and_enroll_sends_its_fields(stub: Stub, tmp_path: Path) -> None:
    folder = crops(tmp_path / "p", ["a.jpg"])
    env = {"REID_URL": "http://127.0.0.1:9", "REID_API_KEY": "env-key"}
    code, _, err = run(
        [
            "--url",
            stub.url,
            "--api-key",
            "flag-key",
            "enroll",
            str(folder),
            "--id",
            "p7",
            "--camera",
            "B",
            "--tags",
            '{"zone": "n"}',
            "--mode",
            "add",
        ],
        env=env,
    )
    assert code == 0, err
    [sent] = stub.received
    assert sent.path == "/gallery" and sent.headers["Authorization"] == "Bearer flag-key"
    assert sent.fields == {"id": "p7", "camera": "B", "tags": '{"zone": "n"}', "mode": "add"}


def test_match_sends_a_video_as_video(stub: Stub, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    code, _, _ = run(["--url", stub.url, "match", str(clip), "--top-k", "3", "--exclude-camera", "A"])
    assert code == 0
    [sent] = stub.received
    assert sent.path == "/match" and [f for f, _, _ in sent.files] == ["video"]
    assert sent.fields == {"top_k": "3", "exclude_camera": "A"}
    assert "Authorization" not in sent.headers


def test_tracks_sends_video_and_tracker_file_and_writes_the_mot_answer(stub: Stub, tmp_path: Path) -> None:
    clip, mot = tmp_path / "cam.mp4", tmp_path / "cam.txt"
    clip.write_bytes(b"video")
    mot.write_text("1,1,0,0,10,20,1\n")
    stub.answer = {"tracks": [], "mot": "1,camA:1,0,0,10,20,1\n"}
    out_file = tmp_path / "global.txt"
    code, out, err = run(
        [
            "--url",
            stub.url,
            "--compact",
            "tracks",
            str(clip),
            str(mot),
            "--camera",
            "camA",
            "--threshold",
            "0.6",
            "--mot-out",
            str(out_file),
        ]
    )
    assert code == 0
    # the MOT text goes to its file only, not repeated inside the JSON on stdout
    assert out.count("\n") == 1 and json.loads(out) == {"tracks": []}
    assert out_file.read_text() == "1,camA:1,0,0,10,20,1\n"
    assert str(out_file) in err
    [sent] = stub.received
    assert sent.path == "/tracks"
    assert [(f, n) for f, n, _ in sent.files] == [("video", "cam.mp4"), ("tracks", "cam.txt")]
    assert sent.fields == {
        "camera": "camA",
        "action": "match-or-enroll",
        "threshold": "0.6",
        "exclude_own_camera": "true",
        "mot_output": "true",
    }


@pytest.mark.parametrize(("status", "code"), [(422, 3), (401, 3), (413, 3), (500, 4), (503, 4)])
def test_http_errors_map_to_exit_codes_and_the_error_body_is_printed(
    stub: Stub, tmp_path: Path, status: int, code: int
) -> None:
    stub.status = status
    stub.answer = {"error": {"code": "bad_input", "message": "frames[0] is empty"}}
    exit_code, out, err = run(["--url", stub.url, "embed", str(crops(tmp_path / "p", ["a.jpg"]))])
    assert exit_code == code
    assert json.loads(out)["error"]["message"] == "frames[0] is empty"
    assert f"HTTP {status}: frames[0] is empty" in err


def test_no_server_is_exit_5(tmp_path: Path) -> None:
    code, out, _ = run(
        ["--url", "http://127.0.0.1:9", "--timeout", "2", "embed", str(crops(tmp_path / "p", ["a.jpg"]))]
    )
    assert code == 5 and json.loads(out)["error"]["code"] == "unreachable"


@pytest.mark.parametrize(
    "argv",
    [[], ["embed"], ["embed", "/no/such/folder"], ["enroll", "."], ["frobnicate"], ["tracks", "a.mp4"]],
)
def test_usage_errors_are_exit_2_and_send_nothing(
    stub: Stub, argv: list[str], capsys: pytest.CaptureFixture
) -> None:
    code, _, _ = run(["--url", stub.url, *argv])
    assert code == 2 and stub.received == []


def test_a_folder_without_crops_and_bad_tags_are_usage_errors(stub: Stub, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["--url", stub.url, "embed", str(empty)])[0] == 2
    folder = crops(tmp_path / "p", ["a.jpg"])
    assert run(["--url", stub.url, "enroll", str(folder), "--id", "x", "--tags", "zone=n"])[0] == 2
    assert stub.received == []


def test_help_is_exit_0_and_documents_the_exit_codes(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"], env={}) == 0
    text = capsys.readouterr().out
    assert "exit codes" in text and "REID_API_KEY" in text and "tracks" in text


def test_help_gives_the_default_url_once(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"], env={}) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    assert text.count(DEFAULT_URL) == 1 and "None" not in text
    assert f"default: $REID_URL, else {DEFAULT_URL}" in text


def test_tracks_without_mot_out_prints_the_whole_answer(stub: Stub, tmp_path: Path) -> None:
    clip, mot = tmp_path / "cam.mp4", tmp_path / "cam.txt"
    clip.write_bytes(b"video")
    mot.write_text("1,1,0,0,10,20,1\n")
    stub.answer = {"tracks": [], "mot": None}
    code, out, _ = run(["--url", stub.url, "tracks", str(clip), str(mot), "--camera", "camA"])
    assert code == 0 and json.loads(out) == {"tracks": [], "mot": None}
    assert "mot_output" not in stub.received[0].fields


def test_multipart_length_is_exact_and_progress_reaches_the_end(tmp_path: Path) -> None:
    big = tmp_path / "clip.mp4"
    big.write_bytes(bytes(range(256)) * 5000)
    seen: list[tuple[int, int]] = []
    body = MultipartBody({"camera": "A"}, [FilePart("video", big)], on_sent=lambda s, t: seen.append((s, t)))
    data = b"".join(body)
    assert len(data) == body.length
    assert seen[-1] == (body.length, body.length) and len(seen) >= 5
    fields, files = parse_multipart(body.content_type, data)
    assert fields == {"camera": "A"} and files[0][2] == big.read_bytes()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_and_ends_with_a_newline() -> None:
    stream = Terminal()
    bar = ProgressBar(stream, "tracks", enabled=True)
    bar.update(0, 4_000_000)
    bar.update(4_000_000, 4_000_000)
    bar.update(4_000_000, 4_000_000)  # drawn once at the end
    text = stream.getvalue()
    assert text.count("\n") == 1 and "100%" in text and "4.0/4.0 MB" in text
    silent = io.StringIO()
    ProgressBar(silent, "x", enabled=False).update(1, 1)
    assert silent.getvalue() == ""


def test_a_refusal_before_the_body_is_its_status_not_a_broken_upload(stub: Stub, tmp_path: Path) -> None:
    clip = tmp_path / "big.mp4"
    clip.write_bytes(bytes(8 << 20))
    stub.status, stub.refuse_early = 413, True
    code, out, err = run(["--url", stub.url, "embed", str(clip)])
    assert code == 3, (out, err)
    [sent] = stub.received
    assert sent.headers["Expect"] == "100-continue" and "HTTP 413" in err


def progress(stage: str, done: int, total: int | None, people: int, left: float | None) -> dict:
    return {
        "event": "progress", "stage": stage, "frames_done": done, "frames_total": total,
        "people": people, "seconds_left": left,
    }  # fmt: skip


def test_tracks_without_a_tracker_file_streams_progress_and_writes_both_files(
    stub: Stub, tmp_path: Path
) -> None:
    clip = tmp_path / "cam.mp4"
    clip.write_bytes(b"video")
    stub.stream = [
        progress("tracking", 0, None, 0, None),
        progress("tracking", 250, 1000, 4, 12.5),
        progress("embedding", 1000, 1000, 7, 0.0),
        {
            "event": "result",
            "result": {"tracks": [], "tracker_file": "1,1,0,0,9,9,0.9,-1,-1,-1\n", "mot": "m\n"},
        },
    ]
    made, ids = tmp_path / "made.txt", tmp_path / "ids.txt"
    argv = ["--url", stub.url, "--compact", "tracks", str(clip), "--camera", "camA", "--stride", "2"]
    argv += ["--confidence", "0.4", "--roi", "0,10,320,240", "--min-height", "50"]
    argv += ["--tracker-out", str(made), "--mot-out", str(ids)]
    out, err = io.StringIO(), Terminal()
    code = main(argv, env={}, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue()) == {"tracks": []}
    assert made.read_text() == "1,1,0,0,9,9,0.9,-1,-1,-1\n" and ids.read_text() == "m\n"
    [sent] = stub.received
    assert sent.headers["Accept"] == "application/x-ndjson"
    assert [(f, n) for f, n, _ in sent.files] == [("video", "cam.mp4")]
    assert sent.fields == {
        "camera": "camA", "action": "match-or-enroll", "exclude_own_camera": "true", "mot_output": "true",
        "detect_stride": "2", "detect_confidence": "0.4", "detect_min_height": "50", "roi": "0,10,320,240",
        "tracker_output": "true",
    }  # fmt: skip
    drawn = err.getvalue()
    assert "tracking  0 frames, 0 people" in drawn  # the first line, total unknown


def test_a_streamed_error_is_the_exit_code_of_its_status(stub: Stub, tmp_path: Path) -> None:
    clip = tmp_path / "cam.mp4"
    clip.write_bytes(b"video")
    body = {"error": {"code": "bad_input", "message": "video 'cam.mp4': no person tracked in 12 frames"}}
    stub.stream = [progress("tracking", 0, None, 0, None), {"event": "error", "status": 422, "error": body}]
    code, out, err = run(["--url", stub.url, "tracks", str(clip), "--camera", "camA"])
    assert code == 3 and json.loads(out) == body and "HTTP 422: video 'cam.mp4': no person" in err
    stub.stream = [progress("tracking", 0, None, 0, None)]  # cut short: no result
    code, out, _ = run(["--url", stub.url, "tracks", str(clip), "--camera", "camA"])
    assert code == 5 and json.loads(out)["error"]["code"] == "unreachable"


def test_detection_flags_with_a_tracker_file_are_a_usage_error(stub: Stub, tmp_path: Path) -> None:
    clip, mot = tmp_path / "cam.mp4", tmp_path / "cam.txt"
    clip.write_bytes(b"video")
    mot.write_text("1,1,0,0,10,20,1\n")
    code, _, err = run(["--url", stub.url, "tracks", str(clip), str(mot), "--camera", "A", "--stride", "2"])
    assert code == 2 and "without a tracker file" in err and stub.received == []


def test_work_bar_shows_frames_people_and_time_left() -> None:
    stream = Terminal()
    bar = WorkBar(stream, enabled=True)
    bar.update(progress("tracking", 250, 1000, 4, 75.0))
    text = stream.getvalue()
    assert "tracking" in text and "25%" in text and "250/1000 frames" in text
    assert "4 people" in text and "1:15 left" in text
    bar.close()
    assert stream.getvalue().endswith("\n")
    silent = io.StringIO()
    WorkBar(silent, enabled=False).update(progress("tracking", 1, 2, 0, None))
    assert silent.getvalue() == ""
