"""What an upload is, from its bytes alone, and how large an image says it is before any pixel is decoded.

The client's file name and content type are never trusted: a renamed file is still what its magic
bytes say. Reading the declared size from the header is what lets a decompression bomb (a PNG that
declares 100000x100000 pixels in a few hundred bytes) be refused before the decoder allocates it.
"""

from __future__ import annotations

import struct
from typing import Literal

from service.core.errors import BadInput

Kind = Literal["jpeg", "png", "bmp", "webp", "zip", "tar", "gzip", "mp4", "avi", "mkv", "unknown"]
ImageKind = Literal["jpeg", "png", "bmp", "webp"]
IMAGE_KINDS: frozenset[str] = frozenset({"jpeg", "png", "bmp", "webp"})
ARCHIVE_KINDS: frozenset[str] = frozenset({"zip", "tar", "gzip"})
VIDEO_KINDS: frozenset[str] = frozenset({"mp4", "avi", "mkv"})

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# BMP's "BM" is only two bytes, so the DIB header size (one of a few fixed values) confirms it;
# otherwise any text starting with "BM" would be taken for a (corrupt) bitmap instead of refused.
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
# JPEG start-of-frame markers (the ones holding the size): C0-CF minus DHT (C4), JPG (C8), DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def sniff(data: bytes) -> Kind:
    """The kind of `data` by its magic bytes; strong signatures first, the weak ones (tar, BMP) last."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"RIFF") and data[8:12] == b"AVI ":
        return "avi"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "mkv"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[257:262] == b"ustar":
        return "tar"
    if data.startswith(b"BM") and (len(data) < 18 or _u32le(data, 14) in _BMP_DIB_SIZES):
        return "bmp"
    return "unknown"


def image_size(data: bytes, kind: str) -> tuple[int, int]:
    """(width, height) declared by the header of an image of `kind`; BadInput if it cannot be read."""
    readers = {"png": _png_size, "jpeg": _jpeg_size, "bmp": _bmp_size, "webp": _webp_size}
    if kind not in readers:
        raise ValueError(f"not an image kind: {kind!r}")
    width, height = readers[kind](data)
    if width <= 0 or height <= 0:
        raise BadInput(f"{kind.upper()} header declares an empty image ({width}x{height})")
    return width, height


def _u32le(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little")


def _need(data: bytes, size: int, kind: str, what: str) -> None:
    if len(data) < size:
        raise BadInput(f"truncated {kind} header ({what} missing)")


def _png_size(data: bytes) -> tuple[int, int]:
    _need(data, 24, "PNG", "IHDR")
    if data[12:16] != b"IHDR":
        raise BadInput("PNG does not start with an IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the marker segments up to the first start-of-frame; the scan data is never touched."""
    pos = 2
    while True:
        # A marker is 0xFF (any number of fill bytes) then a code that is not 0x00 or 0xFF.
        _need(data, pos + 2, "JPEG", "marker")
        if data[pos] != 0xFF:
            raise BadInput(f"JPEG marker expected at byte {pos}")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1
        _need(data, pos + 2, "JPEG", "marker")
        code = data[pos + 1]
        pos += 2
        if code in _JPEG_STANDALONE:
            continue
        if code in (0xD8, 0xD9, 0xDA, 0x00):
            raise BadInput("JPEG has no start-of-frame before its image data")
        _need(data, pos + 2, "JPEG", "segment length")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            raise BadInput(f"JPEG segment at byte {pos} has an invalid length")
        if code in _JPEG_SOF:
            _need(data, pos + 7, "JPEG", "frame size")
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            if height == 0:
                # Height defined later by a DNL marker: legal but unseen in practice, and unboundable here.
                raise BadInput("JPEG declares its height only after the image data (DNL), not supported")
            return width, height
        pos += length


def _bmp_size(data: bytes) -> tuple[int, int]:
    _need(data, 18, "BMP", "DIB header size")
    dib = _u32le(data, 14)
    if dib == 12:  # BITMAPCOREHEADER: unsigned 16-bit sizes
        _need(data, 22, "BMP", "size")
        width, height = struct.unpack("<HH", data[18:22])
        return width, height
    if dib not in _BMP_DIB_SIZES:
        raise BadInput(f"BMP has an unknown DIB header size {dib}")
    _need(data, 26, "BMP", "size")
    width, height = struct.unpack("<ii", data[18:26])
    # A negative height means rows stored top-down; a negative width is simply invalid.
    return width, abs(height)


def _webp_size(data: bytes) -> tuple[int, int]:
    _need(data, 20, "WebP", "first chunk")
    chunk = data[12:16]
    if chunk == b"VP8 ":
        _need(data, 30, "WebP", "VP8 frame header")
        if data[23:26] != b"\x9d\x01\x2a":
            raise BadInput("WebP VP8 frame has no start code")
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        _need(data, 25, "WebP", "VP8L header")
        if data[20] != 0x2F:
            raise BadInput("WebP VP8L chunk has no signature")
        bits = _u32le(data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        _need(data, 30, "WebP", "VP8X canvas size")
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise BadInput(f"WebP has an unknown first chunk {chunk!r}")
