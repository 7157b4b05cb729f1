"""Security properties of the service, each shown on a live server or on its source:

- writes refuse requests without the right key, and keys are compared in constant time;
- bodies over the limit are refused from their declared length, before they are read;
- nothing a client sends reaches the file system outside a private temporary directory;
- nothing a client sends is unpickled or torch.load-ed (no such code, and a pickle bomb stays inert);
- CORS is closed unless origins are configured.

(The container's non-root user is checked with the Dockerfile, in tests/deploy/test_dockerfile.py.)
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import socket
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_inputs import mp4

from devtools.harness import ServerFactory
from devtools.synthetic import frames_files, person_frames
from service.core import security
from service.media import decode as decode_module

SERVICE = Path(__file__).resolve().parents[3] / "service"
KEY = "s3cret-write-key"
DIM = 64


def unit() -> list[float]:
    return [1.0] + [0.0] * (DIM - 1)


def _writes() -> list[tuple[str, str, dict]]:
    """(method, path, request kwargs) of every call that changes the gallery."""
    return [
        ("POST", "/gallery", {"json": {"id": "p1", "embedding": unit()}}),
        ("POST", "/gallery", {"files": frames_files(person_frames(1, 3)), "data": {"id": "p2"}}),
        ("POST", "/match", {"json": {"embedding": unit(), "enroll": {"id": "p3"}}}),
        (
            "POST",
            "/match",
            {"files": frames_files(person_frames(1, 3)), "data": {"enroll": "true", "id": "p4"}},
        ),
        ("DELETE", "/gallery/p1", {}),
        ("DELETE", "/gallery", {"params": {"confirm": "anything"}}),
    ]


def test_writes_refuse_a_missing_or_wrong_key_and_accept_the_right_one(serve: ServerFactory) -> None:
    server = serve(api_key=KEY)
    wrong = [
        {},
        {"Authorization": f"Bearer {KEY[:-1]}"},  # one character short
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Basic {KEY}"},
        {"X-API-Key": KEY.upper()},
    ]
    with server.client() as client:
        for method, path, kwargs in _writes():
            for headers in wrong:
                response = client.request(method, path, headers=headers, **kwargs)
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
        assert client.get("/gallery", headers={"X-API-Key": KEY}).json()["total"] == 0  # nothing got in
        for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
            statuses = [client.request(m, p, headers=headers, **kw).status_code for m, p, kw in _writes()]
            # enrolled (201, 200 for match-and-enroll), deleted (200), clear without confirmation (409)
            assert statuses == [201, 201, 200, 200, 200, 409], statuses
            client.delete("/gallery", params={"confirm": client.get("/model").json()["id"]}, headers=headers)


def test_keys_are_compared_in_constant_time_against_every_key(
    serve: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = security.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    server = serve(api_key=KEY, api_keys=["ops:write:other-key-1", "auditor:read:other-key-2"])
    with server.client() as client:
        response = client.post(
            "/gallery", json={"id": "p1", "embedding": unit()}, headers={"X-API-Key": "guess"}
        )
    assert response.status_code == 401
    # The guess went through compare_digest against all three keys: no early exit, no `==`.
    assert sorted(b for a, b in compared if a == b"guess") == sorted(
        [KEY.encode(), b"other-key-1", b"other-key-2"]
    )


def test_a_body_over_the_limit_is_refused_from_its_declared_length_before_it_is_read(
    serve: ServerFactory,
) -> None:
    server = serve(max_upload_bytes=1 << 20)
    # Only the headers are sent: the answer comes without waiting for the 10 GB they announce.
    head = (
        b"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after its answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request body over" in answer

    def chunks() -> Iterator[bytes]:  # no Content-Length: caught while it streams
        yield b'--b\r\nContent-Disposition: form-data; name="frames"; filename="a.jpg"\r\n\r\n'
        for _ in range(40):
            yield b"\x00" * 65536

    with server.client() as client:
        response = client.post(
            "/embed", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
        )
    assert response.status_code == 413, response.text


class _Pwned:
    """A pickle that creates a file when loaded: the proof of an unpickled upload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_a_pickle_or_a_torch_checkpoint_sent_anywhere_stays_inert(
    serve: ServerFactory, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Pwned(marker))
    checkpoint = io.BytesIO()  # what torch.save writes: a zip whose data.pkl is a pickle
    with zipfile.ZipFile(checkpoint, "w") as archive:
        archive.writestr("model/data.pkl", payload)
        archive.writestr("model/version", b"3\n")
    server = serve()
    with server.client() as client:
        answers = [
            client.post("/embed", files={"frames": ("a.jpg", payload)}),
            client.post("/embed", files={"archive": ("model.pt", checkpoint.getvalue())}),
            client.post("/embed", files={"video": ("clip.mp4", payload)}),
            client.post("/match", content=payload, headers={"content-type": "application/json"}),
            client.post("/gallery", content=payload, headers={"content-type": "application/python-pickle"}),
        ]
    assert [a.status_code for a in answers] == [415, 422, 415, 422, 415], [a.text for a in answers]
    assert not marker.exists()


BANNED_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "joblib",
    "marshal",
    "shelve",
    "torch",
}
BANNED_CALLS = {"eval", "exec", "__import__"}
# np.load(allow_pickle=...), yaml.load: deserialisers that can run code
BANNED_LOADERS = {("np", "load"), ("numpy", "load"), ("yaml", "load"), ("yaml", "unsafe_load")}
# Calls that write to the file system (and any os.* or shutil.* call but a few readers), and the one
# place allowed to: the video decoder writes the
# upload under a fixed name into a private temporary directory, because OpenCV reads videos from files.
WRITE_CALLS = {
    "write_bytes", "write_text", "mkdir", "makedirs", "touch", "rename", "unlink", "rmdir", "symlink_to",
    "hardlink_to", "chmod", "extract", "extractall", "tofile", "save", "savez", "savetxt", "imwrite",
    "VideoWriter", "TemporaryDirectory", "NamedTemporaryFile", "mkstemp", "mkdtemp", "TemporaryFile",
}  # fmt: skip
ALLOWED_WRITES = {("media/decode.py", "TemporaryDirectory"), ("media/decode.py", "write_bytes")}
# ...and, at start only, the admin key generated when none is configured, into the operator's
# REID_API_KEY_FILE (made private, then linked into place): nothing a client sends.
ALLOWED_WRITES |= {
    ("core/security.py", name) for name in ("os.open", "os.fdopen", "os.fsync", "os.link", "unlink")
}
# ...and the operator's gallery copy command (`python -m service.gallery.copy`, never run by the server):
# its resume checkpoint, at the path the operator gives with --checkpoint.
ALLOWED_WRITES |= {("gallery/copy.py", "write_text")}


def _calls(tree: ast.AST) -> Iterator[tuple[str, str, ast.Call]]:
    """(owner, name, node) of every call: `owner.name(...)` or `name(...)` (owner "")."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                yield owner, func.attr, node
            elif isinstance(func, ast.Name):
                yield "", func.id, node


def _opens_for_writing(node: ast.Call, builtin: bool) -> bool:
    """open(path, mode) or something.open(mode): a mode that is not a constant read mode counts as a
    write; open() without a mode reads."""
    position = 1 if builtin else 0
    mode = node.args[position] if len(node.args) > position else None
    mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(set(mode.value) & set("wax+"))
    return builtin  # a computed mode: suspicious for open(), usual for e.g. zipfile's open(member)


def test_the_service_code_never_unpickles_and_writes_only_into_its_temporary_directory() -> None:
    found_writes: set[tuple[str, str]] = set()
    problems: list[str] = []
    for path in sorted(SERVICE.rglob("*.py")):
        where = path.relative_to(SERVICE).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    if name.split(".")[0] in BANNED_MODULES | {"model_export"}:
                        problems.append(f"{where}:{node.lineno} imports {name}")
        for owner, name, node in _calls(tree):
            if owner == "" and name in BANNED_CALLS:
                problems.append(f"{where}:{node.lineno} calls {name}()")
            if (owner, name) in BANNED_LOADERS:
                problems.append(f"{where}:{node.lineno} calls {owner}.{name}()")
            if name in WRITE_CALLS:
                found_writes.add((where, name))
            if owner in {"os", "shutil"} and name not in {"environ", "getenv", "path", "cpu_count", "access"}:
                found_writes.add((where, f"{owner}.{name}"))
            if name == "open" and _opens_for_writing(
                node, builtin=owner == "" and isinstance(node.func, ast.Name)
            ):
                found_writes.add((where, "open"))
    assert not problems, "\n".join(problems)
    assert found_writes <= ALLOWED_WRITES, sorted(found_writes - ALLOWED_WRITES)


@pytest.fixture
def file_writes() -> Iterator[list[str]]:
    """Paths opened for writing by this process while the test runs (Python's audit hooks see every
    open(), os.open() and Path.write_*; a hook cannot be removed, so it is switched off after)."""
    seen: list[str] = []
    active = threading.Event()

    def hook(event: str, args: tuple) -> None:
        if event == "open" and active.is_set() and args and args[0] is not None:
            path, mode, flags = [*args, None, None][:3]
            writing = (isinstance(mode, str) and set(mode) & set("wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writing:
                seen.append(os.fsdecode(path) if isinstance(path, bytes | str) else str(path))

    sys.addaudithook(hook)
    active.set()
    yield seen
    active.clear()


def test_uploads_reach_the_file_system_only_inside_a_private_temporary_directory(
    serve: ServerFactory, file_writes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = tempfile.TemporaryDirectory

    def recording(*args: object, **kwargs: object) -> tempfile.TemporaryDirectory:
        directory = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(directory.name)
        return directory

    video = mp4()  # made before the patch (tempfile is one module for everybody)
    monkeypatch.setattr(decode_module.tempfile, "TemporaryDirectory", recording)
    server = serve()
    evil = "../../../../../tmp/reid-escaped.mp4"
    with server.client() as client:
        assert client.post("/embed", files={"video": (evil, video, "video/mp4")}).status_code == 200
        big = [("frames", (f"../x{i}.jpg", data, "image/jpeg")) for i, data in enumerate(person_frames(2, 4))]
        assert client.post("/embed", files=big).status_code == 200
        zipped = io.BytesIO()
        with zipfile.ZipFile(zipped, "w") as archive:
            archive.writestr("../../escaped.jpg", person_frames(3, 1)[0])
        assert client.post("/embed", files={"archive": ("a.zip", zipped.getvalue())}).status_code == 422
    roots = {os.path.realpath(tempfile.gettempdir())}
    if decode_module.MEMORY_TMP:
        roots.add(os.path.realpath(decode_module.MEMORY_TMP))
    assert len(made) == 1  # the video, and only the video
    directory = Path(made[0])
    assert os.path.realpath(directory.parent) in roots and directory.name.startswith("reid-video-")
    assert not directory.exists()  # removed after decoding
    assert file_writes, "the audit hook saw no write at all"
    for path in file_writes:
        assert Path(path).parent == directory and Path(path).name == "upload.mp4", path
    assert not Path("/tmp/reid-escaped.mp4").exists()


def test_cors_is_closed_by_default_and_open_only_to_the_configured_origins(serve: ServerFactory) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    closed = serve()
    with closed.client() as client:
        answer = client.options("/embed", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
        simple = client.get("/model", headers={"Origin": "https://evil.example"})
        assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers

    opened = serve(cors_origins=["https://ops.example"])
    with opened.client() as client:
        allowed = client.options("/embed", headers={**preflight, "Origin": "https://ops.example"})
        assert allowed.headers.get("access-control-allow-origin") == "https://ops.example"
        refused = client.options("/embed", headers=preflight)
        assert "access-control-allow-origin" not in refused.headers
