"""Sniffing by magic bytes and reading image sizes from headers alone; every file is made here."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib

import cv2
import numpy as np
import pytest

from devtools.craft import encode, png_declaring
from service.core.errors import BadInput
from service.media.probe import image_size, sniff


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares any size, with a tiny IDAT: the shape of a decompression bomb."""
    return png_declaring(width, height, zlib.compress(b"\x00" * 16))


IMAGE = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)  # height 40, width 50


def tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (encode(".jpg", IMAGE), "jpeg"),
        (encode(".png", IMAGE), "png"),
        (encode(".bmp", IMAGE), "bmp"),
        (encode(".webp", IMAGE), "webp"),
        (zip_bytes({"a.txt": b"x"}), "zip"),
        (zip_bytes({}), "zip"),
        (tar_bytes(), "tar"),
        (gzip.compress(tar_bytes()), "gzip"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "mp4"),
        (b"RIFF\x00\x10\x00\x00AVI LIST", "avi"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "mkv"),
        (b"hello, this is text", "unknown"),
        (b"BMW is a car brand, not a bitmap header", "unknown"),
        (b"RIFF\x00\x10\x00\x00WAVEfmt ", "unknown"),
        (b"", "unknown"),
        (b"\xff\xd8", "unknown"),
    ],
)
def test_sniff(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


def test_sniff_ignores_everything_but_the_bytes() -> None:
    """A PNG's bytes stay a PNG whatever it is called: sniff never sees the name at all."""
    assert sniff(encode(".png", IMAGE)) == "png"
    assert sniff(b"GIF89a\x01\x00\x01\x00") == "unknown"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (encode(".png", IMAGE), "png"),
        (encode(".png", IMAGE[:, :, 0]), "png"),
        (encode(".jpg", IMAGE), "jpeg"),
        (encode(".jpg", IMAGE, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), "jpeg"),  # SOF2
        (encode(".jpg", IMAGE[:, :, 0]), "jpeg"),
        (encode(".bmp", IMAGE), "bmp"),
        (encode(".bmp", IMAGE[:, :, 0]), "bmp"),
        (encode(".webp", IMAGE, [cv2.IMWRITE_WEBP_QUALITY, 90]), "webp"),  # VP8
        (encode(".webp", IMAGE, [cv2.IMWRITE_WEBP_QUALITY, 101]), "webp"),  # VP8L
        (encode(".webp", np.dstack([IMAGE, IMAGE[:, :, :1]]), [cv2.IMWRITE_WEBP_QUALITY, 50]), "webp"),
    ],
)
def test_image_size_reads_width_then_height(data: bytes, kind: str) -> None:
    assert sniff(data) == kind
    assert image_size(data, kind) == (50, 40)


def test_webp_variants_are_all_exercised() -> None:
    chunks = {
        encode(".webp", IMAGE, [cv2.IMWRITE_WEBP_QUALITY, 90])[12:16],
        encode(".webp", IMAGE, [cv2.IMWRITE_WEBP_QUALITY, 101])[12:16],
        encode(".webp", np.dstack([IMAGE, IMAGE[:, :, :1]]), [cv2.IMWRITE_WEBP_QUALITY, 50])[12:16],
    }
    assert chunks == {b"VP8 ", b"VP8L", b"VP8X"}


def test_jpeg_size_skips_app_segments_and_fill_bytes() -> None:
    data = encode(".jpg", IMAGE)
    app = b"\xff\xe1" + struct.pack(">H", 2 + 100) + b"\x07" * 100  # an APP1 (EXIF-like) segment
    padded = data[:2] + app + b"\xff\xff" + data[3:]  # extra fill byte before the next marker
    assert image_size(padded, "jpeg") == (50, 40)


def test_bmp_top_down_height_is_positive() -> None:
    data = bytearray(encode(".bmp", IMAGE))
    data[22:26] = struct.pack("<i", -40)
    assert image_size(bytes(data), "bmp") == (50, 40)


def test_png_bomb_header_is_read_without_decoding() -> None:
    assert image_size(png_header_only(100_000, 100_000), "png") == (100_000, 100_000)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
@pytest.mark.parametrize("keep", [0, 3, 12, 19])
def test_truncated_headers_are_bad_input(ext: str, keep: int) -> None:
    kind = {".png": "png", ".jpg": "jpeg", ".bmp": "bmp", ".webp": "webp"}[ext]
    with pytest.raises(BadInput) as err:
        image_size(encode(ext, IMAGE)[:keep], kind)
    assert err.value.status == 422


def test_jpeg_without_frame_header_is_bad_input() -> None:
    data = encode(".jpg", IMAGE)
    sof = data.index(b"\xff\xc0")
    with pytest.raises(BadInput, match=r"truncated JPEG"):
        image_size(data[:sof], "jpeg")
    with pytest.raises(BadInput, match=r"no start-of-frame"):
        image_size(b"\xff\xd8\xff\xd9", "jpeg")


def test_zero_sized_image_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"empty image"):
        image_size(png_header_only(0, 10), "png")


def test_image_size_refuses_non_image_kinds() -> None:
    with pytest.raises(ValueError, match=r"not an image kind"):
        image_size(b"PK\x05\x06", "zip")
