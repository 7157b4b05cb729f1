"""Crafted media files for tests: images, archives and the hostile shapes of both (a PNG declaring
any size, archive links), built in memory so the suite needs no fixture files."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    """An image array encoded as `ext` (".jpg", ".png", ...) by OpenCV."""
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int, idat: bytes, colour_type: int = 2) -> bytes:
    """An 8-bit PNG whose IHDR declares any size, with the given IDAT stream: with a tiny one, the
    shape of a decompression bomb (colour type 2: RGB, 0: grey)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def tar_of(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> bytes:
    """A tar (mode "w:gz" for .tar.gz) of (name, data) files and ready-made members (links)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as archive:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    """A tar member that is no regular file: a symbolic or hard link, a device, a FIFO."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info
