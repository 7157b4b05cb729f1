"""A corpus of hostile and odd requests, generated in memory (no binary is committed), each with the
answer the service owes it.

Every request is built lazily (`Case.request()`), so that the heavy ones (a 5 000-frame upload, bombs)
cost nothing until sent. Sizes are chosen against the service's *default* limits (64 MiB of uploads,
512 frames, 4096x4096 pixels per frame, 2 048 archive members, 1 MiB of JSON): the corpus checks the
limits as shipped.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from devtools.craft import png_declaring, tar_link, tar_of, zip_of

DIM = 64  # the tiny test model's embedding size
MiB = 1024 * 1024

Files = list[tuple[str, tuple[str, bytes, str]]]


@dataclass(frozen=True)
class Case:
    """One request and the answer it must get: `status`, and for errors a fragment of the message."""

    name: str
    method: str
    path: str
    status: int
    message: str
    build: Callable[[], dict[str, Any]]
    why: str = ""  # for the cases that are accepted on purpose

    def send(self, client: httpx.Client) -> tuple[int, str]:
        """Send the request; (status, body text). `raw` requests bypass httpx, which refuses to send
        a Content-Length that the body does not match."""
        spec = self.build()
        if "raw" in spec:
            return send_raw(client.base_url.host, client.base_url.port or 80, spec["raw"])
        response = client.request(self.method, self.path, **spec)
        return response.status_code, response.text


def send_raw(host: str, port: int, data: bytes) -> tuple[int, str]:
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace")


# ----------------------------------------------------------------------------------------- images


def jpeg(height: int = 64, width: int = 32, seed: int = 0) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def grey_png_declaring(width: int, height: int, idat: bytes) -> bytes:
    """A grey 8-bit PNG with the given IHDR size and IDAT stream."""
    return png_declaring(width, height, idat, colour_type=0)


@cache
def png_bomb() -> bytes:
    """Decompression bomb: 100 000 x 100 000 pixels (10 GB once decoded) declared in ~100 bytes."""
    return grey_png_declaring(100_000, 100_000, zlib.compress(b"\x00" * 1024))


@cache
def png_10000() -> bytes:
    """A real, complete 10 000 x 10 000 grey PNG (~100 KB): its pixel data compressed row by row, so
    the 100 MB image is never held in the test's memory either."""
    width = height = 10_000
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return grey_png_declaring(width, height, idat)


def bmp_declaring(width: int, height: int) -> bytes:
    """A BITMAPINFOHEADER BMP that declares a size and holds no pixel data."""
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(dib), 0, 0, 14 + len(dib)) + dib


# ----------------------------------------------------------------------------------------- videos


@cache
def mp4(frames: int = 8) -> bytes:
    """An mp4v clip; with frames=0 a valid container (ftyp, moov) holding no track at all."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (32, 64))
        assert writer.isOpened(), "OpenCV cannot write mp4v here"
        rng = np.random.default_rng(1)
        for _ in range(frames):
            writer.write(rng.integers(0, 256, (64, 32, 3), dtype=np.uint8))
        writer.release()
        return path.read_bytes()


# --------------------------------------------------------------------------------------- archives


@cache
def zip_bomb(lie: bool) -> bytes:
    """One member of 80 MiB of zeros deflated to ~80 KB (over the 64 MiB upload limit once unpacked).
    With `lie`, both headers claim it unpacks to 1 000 bytes, as a crafted bomb would."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("bomb.jpg", "w") as member,
    ):
        block = b"\x00" * MiB
        for _ in range(80):
            member.write(block)
    data = bytearray(buf.getvalue())
    if lie:
        local = data.find(b"PK\x03\x04")
        central = data.find(b"PK\x01\x02")
        data[local + 22 : local + 26] = struct.pack("<I", 1000)
        data[central + 24 : central + 28] = struct.pack("<I", 1000)
    return bytes(data)


@cache
def gzip_bomb() -> bytes:
    """A .tar.gz whose gzip stream unpacks to 80 MiB: caught while decompressing, whatever it says."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("bomb.jpg")
        info.size = 80 * MiB
        archive.addfile(info, io.BytesIO(b"\x00" * info.size))
    return zlib_gzip(raw.getvalue())


def zlib_gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    return compressor.compress(data) + compressor.flush()


# --------------------------------------------------------------------------------------- requests


def frames(*items: tuple[str, bytes], field: str = "frames") -> dict[str, Any]:
    return {"files": [(field, (name, data, "application/octet-stream")) for name, data in items]}


def one(field: str, name: str, data: bytes) -> dict[str, Any]:
    return {"files": [(field, (name, data, "application/octet-stream"))]}


def good(count: int = 3) -> list[tuple[str, bytes]]:
    return [(f"f{i}.jpg", jpeg(seed=i)) for i in range(count)]


def raw_json(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def vector(dim: int = DIM) -> list[float]:
    return [1.0] + [0.0] * (dim - 1)


def enroll_json(entry_id: str) -> dict[str, Any]:
    # json.dumps escapes every non-ASCII character (\uXXXX): the server's JSON parser decodes them.
    return raw_json(json.dumps({"id": entry_id, "embedding": vector()}))


def multipart(body: bytes, boundary: str = "b0undary") -> dict[str, Any]:
    return {"content": body, "headers": {"content-type": f"multipart/form-data; boundary={boundary}"}}


def corpus() -> list[Case]:
    small = jpeg()
    many = jpeg(8, 8)
    return [
        # ---- images
        Case("zero-byte file", "POST", "/embed", 422, "is empty", lambda: frames(("a.jpg", b""))),
        Case(
            "text named .jpg",
            "POST",
            "/embed",
            415,
            "not a JPEG, PNG, BMP or WebP",
            lambda: frames(("person.jpg", b"just some text, not an image\n" * 20)),
        ),
        Case(
            "truncated JPEG",
            "POST",
            "/embed",
            422,
            "truncated JPEG",
            lambda: frames(("a.jpg", small[: len(small) // 2])),
        ),
        Case(
            "truncated PNG",
            "POST",
            "/embed",
            422,
            "truncated PNG",
            lambda: frames(("a.png", png(np.full((64, 32, 3), 9, np.uint8))[:-20])),
        ),
        Case(
            "PNG decompression bomb (100000x100000 declared)",
            "POST",
            "/embed",
            413,
            "over the limit",
            lambda: frames(("bomb.png", png_bomb())),
        ),
        Case(
            "BMP declaring 60000x60000",
            "POST",
            "/embed",
            413,
            "over the limit",
            lambda: frames(("big.bmp", bmp_declaring(60_000, 60_000))),
        ),
        Case(
            "10000x10000 image (100 Mpx, over REID_MAX_FRAME_PIXELS = 4096^2)",
            "POST",
            "/embed",
            413,
            "10000x10000",
            lambda: frames(("huge.png", png_10000())),
        ),
        Case(
            "1x1 image",
            "POST",
            "/embed",
            200,
            "",
            lambda: frames(("dot.png", png(np.full((1, 1, 3), 200, np.uint8)))),
            why="a valid image; resized to the model's input like any crop",
        ),
        Case(
            "mixed sizes in one tracklet",
            "POST",
            "/embed",
            200,
            "",
            lambda: frames(("a.jpg", jpeg(200, 80)), ("b.jpg", jpeg(31, 17)), ("c.jpg", jpeg(128, 64))),
            why="tracker crops vary in size; each frame is resized to the model's input",
        ),
        Case(
            "grey image",
            "POST",
            "/embed",
            200,
            "",
            lambda: frames(("g.png", png(np.full((64, 32), 90, np.uint8)))),
            why="grey is converted to three equal channels",
        ),
        Case(
            "RGBA image",
            "POST",
            "/embed",
            200,
            "",
            lambda: frames(("a.png", png(np.full((64, 32, 4), 77, np.uint8)))),
            why="alpha is dropped, as on the training side",
        ),
        Case(
            "5000 frames in one multipart request",
            "POST",
            "/embed",
            413,
            "too many files",
            lambda: frames(*[(f"f{i:04d}.jpg", many) for i in range(5000)]),
        ),
        # ---- videos
        Case("video with no frames", "POST", "/embed", 422, "video", lambda: one("video", "v.mp4", mp4(0))),
        Case(
            "truncated mp4",
            "POST",
            "/embed",
            422,
            "cannot decode video",
            lambda: one("video", "v.mp4", mp4()[: len(mp4()) // 2]),
        ),
        Case(
            "mp4 named .jpg, sent as a frame",
            "POST",
            "/embed",
            415,
            "a mp4 file",
            lambda: frames(("frame.jpg", mp4())),
            why="the same bytes sent as `video` are accepted whatever their name: files are "
            "recognised by their bytes",
        ),
        Case(
            "mp4 named .jpg, sent as a video",
            "POST",
            "/embed",
            200,
            "",
            lambda: one("video", "frame.jpg", mp4()),
            why="the name is only a label; the bytes are a valid mp4",
        ),
        Case(
            "mp4 sent as an archive",
            "POST",
            "/embed",
            415,
            "not a zip, tar or tar.gz",
            lambda: one("archive", "x.zip", mp4()),
        ),
        # ---- archives
        Case(
            "zip with ../ member",
            "POST",
            "/embed",
            422,
            "path leaves the archive",
            lambda: one("archive", "t.zip", zip_of({"../../etc/evil.jpg": small})),
        ),
        Case(
            "zip with absolute member",
            "POST",
            "/embed",
            422,
            "absolute path",
            lambda: one("archive", "t.zip", zip_of({"/tmp/evil.jpg": small})),
        ),
        Case(
            "zip bomb (80 MiB declared)",
            "POST",
            "/embed",
            413,
            "unpack to over",
            lambda: one("archive", "bomb.zip", zip_bomb(lie=False)),
        ),
        Case(
            "zip bomb lying about its size",
            "POST",
            "/embed",
            422,
            "corrupt",
            lambda: one("archive", "bomb.zip", zip_bomb(lie=True)),
            why="zipfile stops at the declared 1 000 bytes and the CRC fails: refused as corrupt",
        ),
        Case(
            "tar.gz bomb (80 MiB once gunzipped)",
            "POST",
            "/embed",
            413,
            "unpacks to over",
            lambda: one("archive", "bomb.tar.gz", gzip_bomb()),
        ),
        Case(
            "tar with a symbolic link",
            "POST",
            "/embed",
            422,
            "is a link",
            lambda: one(
                "archive",
                "t.tar",
                tar_of([("a.jpg", small), tar_link("b.jpg", tarfile.SYMTYPE, "/etc/passwd")]),
            ),
        ),
        Case(
            "tar with a hard link",
            "POST",
            "/embed",
            422,
            "is a link",
            lambda: one(
                "archive", "t.tar", tar_of([("a.jpg", small), tar_link("b.jpg", tarfile.LNKTYPE, "a.jpg")])
            ),
        ),
        Case(
            "zip of 5000 frames",
            "POST",
            "/embed",
            413,
            "members",
            lambda: one("archive", "t.zip", zip_of({f"f{i:04d}.jpg": many for i in range(5000)})),
        ),
        Case(
            "truncated zip",
            "POST",
            "/embed",
            422,
            "archive",
            lambda: one("archive", "t.zip", zip_of({"a.jpg": small, "b.jpg": small})[:-40]),
        ),
        Case(
            "gzip that is not a tar",
            "POST",
            "/embed",
            415,
            "does not hold a tar",
            lambda: one("archive", "t.tar.gz", zlib_gzip(b"hello" * 100)),
        ),
        # ---- multipart framing and fields
        Case(
            "empty multipart",
            "POST",
            "/embed",
            422,
            "upload a tracklet",
            lambda: multipart(b"--b0undary--\r\n"),
        ),
        Case(
            "multipart cut in the middle of a part",
            "POST",
            "/embed",
            422,
            "",
            lambda: multipart(
                b'--b0undary\r\nContent-Disposition: form-data; name="frames"; filename="a.jpg"\r\n\r\n'
                + small[:100]
            ),
        ),
        Case(
            "multipart without a boundary",
            "POST",
            "/embed",
            422,
            "missing boundary",
            lambda: {"content": b"--x--\r\n", "headers": {"content-type": "multipart/form-data"}},
        ),
        Case(
            "multipart part without a name",
            "POST",
            "/embed",
            422,
            "malformed multipart",
            lambda: multipart(b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0undary--\r\n"),
        ),
        Case(
            "100 form fields",
            "POST",
            "/embed",
            413,
            "too many fields",
            lambda: {**frames(*good()), "data": {f"x{i}": "1" for i in range(100)}},
        ),
        Case(
            "a 2 MiB form field",
            "POST",
            "/match",
            413,
            "exceeded maximum size",
            lambda: {**frames(*good()), "data": {"filter_label": "x" * (2 * MiB)}},
        ),
        Case(
            "wrong field name (frame)",
            "POST",
            "/embed",
            422,
            "unknown file field 'frame'",
            lambda: frames(*good(), field="frame"),
        ),
        Case(
            "unknown form field",
            "POST",
            "/embed",
            422,
            "unknown form field 'topk'",
            lambda: {**frames(*good()), "data": {"topk": "3"}},
        ),
        Case(
            "frames and a video together",
            "POST",
            "/embed",
            422,
            "give one of",
            lambda: {"files": frames(*good())["files"] + one("video", "v.mp4", mp4())["files"]},
        ),
        Case(
            "bad option value",
            "POST",
            "/embed",
            422,
            "sampling",
            lambda: {**frames(*good()), "data": {"sampling": "every-other"}},
        ),
        Case(
            "text/plain body",
            "POST",
            "/embed",
            415,
            "expected multipart/form-data",
            lambda: {"content": b"hello", "headers": {"content-type": "text/plain"}},
        ),
        Case(
            "tags that are not JSON",
            "POST",
            "/gallery",
            422,
            "tags must be a JSON object",
            lambda: {**frames(*good()), "data": {"id": "p1", "tags": "{zone: north"}},
        ),
        Case(
            "NaN threshold in a form",
            "POST",
            "/match",
            422,
            "threshold",
            lambda: {**frames(*good()), "data": {"threshold": "nan"}},
        ),
        # ---- JSON
        Case(
            "JSON with NaN",
            "POST",
            "/match",
            422,
            "NaN",
            lambda: raw_json('{"embedding": [NaN' + ", 0.0" * (DIM - 1) + "]}"),
        ),
        Case(
            "JSON with Infinity",
            "POST",
            "/gallery",
            422,
            "infinite",
            lambda: raw_json('{"id": "p1", "embedding": [Infinity' + ", 0.0" * (DIM - 1) + "]}"),
        ),
        Case(
            "JSON with the wrong embedding size",
            "POST",
            "/match",
            422,
            f"makes {DIM}",
            lambda: {"json": {"embedding": vector(DIM + 1)}},
        ),
        Case(
            "JSON enrolment with the wrong embedding size",
            "POST",
            "/gallery",
            422,
            f"makes {DIM}",
            lambda: {"json": {"id": "p1", "embedding": vector(DIM - 1)}},
        ),
        Case(
            "JSON all zeros",
            "POST",
            "/match",
            422,
            "zeros",
            lambda: {"json": {"embedding": [0.0] * DIM}},
        ),
        Case(
            "JSON of another model",
            "POST",
            "/match",
            409,
            "re-embed",
            lambda: {"json": {"embedding": vector(), "model_id": "other@1.0.0+deadbeef"}},
        ),
        Case("invalid JSON", "POST", "/match", 422, "json", lambda: raw_json('{"embedding": [1.0,')),
        Case("JSON array body", "POST", "/match", 422, "", lambda: raw_json("[1, 2, 3]")),
        Case(
            "deeply nested JSON", "POST", "/match", 422, "", lambda: raw_json("[" * 100_000 + "]" * 100_000)
        ),
        Case(
            "huge JSON body (2 MiB, over REID_MAX_JSON_BYTES)",
            "POST",
            "/match",
            413,
            "limit",
            lambda: raw_json(json.dumps({"embedding": [0.5] * (2 * MiB // 5)})),
        ),
        Case(
            "body declared at 1 TiB",
            "POST",
            "/embed",
            413,
            "request body over",
            lambda: {
                "raw": b"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1099511627776\r\n\r\n"
                + b"x"
                * 1000
            },
        ),
        Case(
            "unknown JSON field",
            "POST",
            "/match",
            422,
            "extra",
            lambda: {"json": {"embedding": vector(), "topk": 3}},
        ),
        Case(
            "top_k of 0",
            "POST",
            "/match",
            422,
            "top_k",
            lambda: {"json": {"embedding": vector(), "top_k": 0}},
        ),
        Case(
            "time_from after time_to",
            "POST",
            "/match",
            422,
            "time_from is after time_to",
            lambda: {"json": {"embedding": vector(), "time_from": 10, "time_to": 1}},
        ),
        # ---- ids
        *[
            Case(
                f"id {label}", "POST", "/gallery", 422, "id", lambda entry_id=entry_id: enroll_json(entry_id)
            )
            for label, entry_id in [
                ("with a right-to-left override", "alice\u202egpj.exe"),
                ("with a zero-width space", "ali\u200bce"),
                ("with a zero-width joiner", "ali\u200dce"),
                ("with a combining mark (not NFC)", "jose\u0301"),
                ("with a NUL", "ali\x00ce"),
                ("climbing a path", "../../etc/passwd"),
                ("with a space", "alice smith"),
                ("of 129 characters", "a" * 129),
                ("empty", ""),
            ]
        ],
        Case(
            "id with a lone surrogate",
            "POST",
            "/gallery",
            422,
            "",
            lambda: raw_json('{"id": "a\\ud800b", "embedding": [1.0' + ", 0.0" * (DIM - 1) + "]}"),
        ),
        Case(
            "path id with a right-to-left override",
            "GET",
            "/gallery/alice%E2%80%AEgpj",
            422,
            "entry_id",
            dict,
        ),
        Case(
            "path id with an encoded slash",
            "GET",
            "/gallery/..%2F..%2Fetc",
            404,
            "not found",
            dict,
            why="%2F decodes to '/', so no route matches; nothing is ever looked up by path",
        ),
        Case("unknown id", "GET", "/gallery/nobody-here", 404, "no gallery entry", dict),
        Case(
            "id in any script",
            "POST",
            "/gallery",
            201,
            "",
            lambda: enroll_json("José-李-Ωμέγα"),
            why="ids may be letters of any script (NFC); invisible, control and path characters are not",
        ),
    ]
