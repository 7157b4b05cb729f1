"""Uploads (image files, an archive of them, or a video) to a list of RGB uint8 frames, within limits.

Everything a client sends is hostile until proven otherwise: the kind comes from the magic bytes, an
image's declared size is checked before its pixels are allocated, archives are read in memory with
their uncompressed size counted while reading (a zip bomb stops at the limit, whatever it declares),
and member paths that would leave the archive are refused even though nothing is ever extracted. The
only thing written to disk is a video, because OpenCV's VideoCapture reads files: into a private
temporary directory, under a fixed name, removed when done.

Errors name the file or archive member at fault, so that a client with 300 frames knows which one.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

import cv2
import numpy as np

from service.core.errors import BadInput, TooLarge, UnsupportedMedia
from service.media.probe import IMAGE_KINDS, VIDEO_KINDS, image_size, sniff

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MEMORY_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None  # noqa: PTH112
_READ_BLOCK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_DIGITS = re.compile(r"([0-9]+)")


@dataclass(frozen=True)
class MediaLimits:
    max_bytes: int  # of the request's uploads, and of an archive's uncompressed content
    max_frames: int  # decoded frames per request
    max_frame_pixels: int  # width * height of one frame
    max_archive_members: int  # entries of an archive, directories and skipped junk included


@dataclass(frozen=True)
class Upload:
    filename: str  # only for messages and name ordering; never used as a path
    data: bytes


def natural_key(name: str) -> tuple[list[str | int], str]:
    """Sort key that puts frame2 before frame10 (digit runs compare as numbers, text ignoring case)."""
    parts = _DIGITS.split(name)
    key: list[str | int] = [int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)]
    return key, name


# --------------------------------------------------------------------------------------------- images


def decode_image(data: bytes, where: str, limits: MediaLimits) -> np.ndarray:
    """One image file to a contiguous (H, W, 3) uint8 RGB array; `where` prefixes every error."""
    if not data:
        raise BadInput(f"{where} is empty")
    kind = sniff(data)
    if kind not in IMAGE_KINDS:
        found = "unrecognised bytes" if kind == "unknown" else f"a {kind} file"
        raise UnsupportedMedia(f"{where}: not a JPEG, PNG, BMP or WebP image ({found})")
    try:
        width, height = image_size(data, kind)
    except BadInput as err:
        raise BadInput(f"{where}: {err.message}") from None
    _check_pixels(width, height, where, limits)
    _check_complete(data, kind, where)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise BadInput(f"{where}: corrupt or truncated {kind.upper()} image")
    # The decoder's own view of the size is the one that was allocated; check it too.
    _check_pixels(image.shape[1], image.shape[0], where, limits)
    return _to_rgb8(image, where)


def _check_pixels(width: int, height: int, where: str, limits: MediaLimits) -> None:
    if width * height > limits.max_frame_pixels:
        raise TooLarge(
            f"{where}: {width}x{height} = {width * height} pixels, over the limit of "
            f"{limits.max_frame_pixels} pixels per frame"
        )


def _check_complete(data: bytes, kind: str, where: str) -> None:
    """Refuse truncated JPEG and PNG files, which some decoder builds return partly grey without error."""
    if kind == "jpeg" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise BadInput(f"{where}: truncated JPEG (no end-of-image marker)")
    if kind == "png" and not _png_has_iend(data):
        raise BadInput(f"{where}: truncated PNG (no IEND chunk)")


def _png_has_iend(data: bytes) -> bool:
    """Walk the chunk headers (not their content) until IEND; running out of bytes first means truncated."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"IEND":
            return True
        pos += 12 + length  # length, type, data, CRC
    return False


def _to_rgb8(image: np.ndarray, where: str) -> np.ndarray:
    """OpenCV's BGR(A)/grey, 8 or 16 bits, to contiguous uint8 RGB: the one layout the model accepts."""
    if image.dtype == np.uint16:
        # Rounded 65535 -> 255 scaling; a plain >> 8 would darken every value by up to one step.
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise BadInput(f"{where}: unsupported sample type {image.dtype}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        rgb = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    elif channels == 3:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif channels == 4:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)  # alpha dropped, as the training side did
    else:
        raise BadInput(f"{where}: unsupported number of channels ({channels})")
    return np.ascontiguousarray(rgb)


def decode_images(
    uploads: list[Upload], limits: MediaLimits, order: Literal["upload", "name"] = "upload"
) -> list[np.ndarray]:
    """Image files, one frame each, in upload order or natural file-name order; sizes may differ."""
    if not uploads:
        raise BadInput("no frames uploaded")
    if len(uploads) > limits.max_frames:
        raise TooLarge(f"{len(uploads)} frames uploaded, over the limit of {limits.max_frames}")
    indexed = list(enumerate(uploads))
    if order == "name":
        indexed.sort(key=lambda item: natural_key(item[1].filename))
    elif order != "upload":
        raise BadInput(f"unknown frame order {order!r} (expected 'upload' or 'name')")
    return [decode_image(u.data, f"frames[{i}] {u.filename!r}", limits) for i, u in indexed]


# ------------------------------------------------------------------------------------------- archives


@dataclass
class _Budget:
    """Uncompressed bytes still allowed across all members of one archive."""

    left: int
    limit: int

    def read(self, stream: IO[bytes], where: str) -> bytes:
        """Read `stream` in blocks, counting every byte, so declared sizes cannot lie their way past."""
        parts: list[bytes] = []
        while block := stream.read(_READ_BLOCK):
            self.left -= len(block)
            if self.left < 0:
                raise TooLarge(f"{where}: unpacks to over {self.limit} bytes, the limit on uploads")
            parts.append(block)
        return b"".join(parts)


@dataclass
class _Member:
    name: str  # normalised: forward slashes, no leading "./"
    where: str
    open: Callable[[], IO[bytes]]
    declared_size: int


def decode_archive(upload: Upload, limits: MediaLimits) -> list[np.ndarray]:
    """The images of a zip, tar or tar.gz (by magic bytes), in natural name order, read in memory."""
    label = f"archive {upload.filename!r}"
    if not upload.data:
        raise BadInput(f"{label} is empty")
    kind = sniff(upload.data)
    budget = _Budget(limits.max_bytes, limits.max_bytes)
    try:
        if kind == "zip":
            return _decode_zip(upload.data, label, limits, budget)
        if kind == "tar":
            return _decode_tar(upload.data, label, limits, budget)
        if kind == "gzip":
            with gzip.GzipFile(fileobj=io.BytesIO(upload.data)) as stream:
                inner = budget.read(stream, label)
            if sniff(inner) != "tar":
                raise UnsupportedMedia(f"{label}: the gzip stream does not hold a tar archive")
            # The members were already counted as part of the decompressed stream: a fresh budget.
            return _decode_tar(inner, label, limits, _Budget(limits.max_bytes, limits.max_bytes))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise BadInput(f"{label}: corrupt or truncated archive ({err})") from None
    found = "unrecognised bytes" if kind == "unknown" else f"a {kind} file"
    raise UnsupportedMedia(f"{label}: not a zip, tar or tar.gz archive ({found})")


def _decode_zip(data: bytes, label: str, limits: MediaLimits, budget: _Budget) -> list[np.ndarray]:
    counted = _zip_entry_count(data, limits.max_archive_members + 1)
    if counted is not None:
        _check_member_count(counted, label, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (ValueError, NotImplementedError) as err:  # zipfile's answers to forged offsets and versions
        raise BadInput(f"{label}: corrupt or unsupported zip ({err})") from None
    with archive:
        infos = archive.infolist()
        _check_member_count(len(infos), label, limits)
        members: list[_Member] = []
        for info in infos:
            name = _safe_name(info.filename, label)
            where = f"{label} member {info.filename!r}"
            mode = info.external_attr >> 16
            if info.create_system == 3 and stat.S_ISLNK(mode):  # Unix-made zips can store symlinks
                raise BadInput(f"{where}: is a symbolic link")
            if info.is_dir() or not _wanted(name):
                continue
            if info.flag_bits & 0x1:
                raise BadInput(f"{where}: is encrypted")
            members.append(_Member(name, where, _zip_opener(archive, info), info.file_size))
        return _decode_members(members, label, limits, budget)


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: archive.open(info)


def _zip_entry_count(data: bytes, stop: int) -> int | None:
    """Entries in the central directory, counted up to `stop` before zipfile builds an object per entry.

    An upload of tens of MB can hold a million empty entries; counting raw records costs nothing.
    None where the layout is not the plain one (zip64, odd offsets): zipfile then parses, and the
    count is checked after.
    """
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        return None
    entries = int.from_bytes(data[end + 10 : end + 12], "little")
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    start = end - size  # zipfile does the same, which allows bytes prepended to the archive
    if entries == 0xFFFF or size == 0xFFFFFFFF or start < 0:
        return None
    count, pos = 0, start
    while pos + 46 <= end and data[pos : pos + 4] == b"PK\x01\x02" and count < stop:
        lengths = data[pos + 28 : pos + 34]
        pos += 46 + sum(int.from_bytes(lengths[i : i + 2], "little") for i in (0, 2, 4))
        count += 1
    return max(count, entries)


def _decode_tar(data: bytes, label: str, limits: MediaLimits, budget: _Budget) -> list[np.ndarray]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        members: list[_Member] = []
        for count, info in enumerate(_iter_tar(archive), start=1):
            _check_member_count(count, label, limits)
            name = _safe_name(info.name, label)
            where = f"{label} member {info.name!r}"
            if info.issym() or info.islnk():
                raise BadInput(f"{where}: is a link (to {info.linkname!r}); links are not accepted")
            if info.isdir():
                continue
            if not info.isreg():
                raise BadInput(f"{where}: is a device or special file")
            if _wanted(name):
                members.append(_Member(name, where, _tar_opener(archive, info, where), info.size))
        return _decode_members(members, label, limits, budget)


def _iter_tar(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Headers one at a time (TarFile.getmembers would parse them all before the count is checked)."""
    while (info := archive.next()) is not None:
        yield info


def _tar_opener(archive: tarfile.TarFile, info: tarfile.TarInfo, where: str) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        stream = archive.extractfile(info)
        if stream is None:  # only for non-regular members, which were refused above
            raise BadInput(f"{where}: not a regular file")
        return stream

    return open_member


def _check_member_count(count: int, label: str, limits: MediaLimits) -> None:
    if count > limits.max_archive_members:
        raise TooLarge(f"{label}: more than {limits.max_archive_members} members, over the limit")


def _safe_name(raw: str, label: str) -> str:
    """The member's path with forward slashes; BadInput for one that is absolute or climbs out.

    Nothing is extracted, but such a name only comes from a crafted archive, which is refused whole.
    Backslashes count as separators, so that "..\\evil.jpg" and "C:\\evil.jpg" are caught too.
    """
    where = f"{label} member {raw!r}"
    if not raw or "\x00" in raw:
        raise BadInput(f"{where}: empty or invalid name")
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise BadInput(f"{where}: absolute path")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise BadInput(f"{where}: path leaves the archive")
    return "/".join(p for p in parts if p != ".")


def _wanted(name: str) -> bool:
    """An image by its name, and not the junk that macOS and others leave in archives."""
    parts = name.split("/")
    if parts[0] == "__MACOSX" or parts[-1].startswith("."):
        return False
    return parts[-1].lower().endswith(IMAGE_EXTENSIONS)


def _decode_members(
    members: list[_Member], label: str, limits: MediaLimits, budget: _Budget
) -> list[np.ndarray]:
    """Count and size checks on what the archive declares, then read and decode member by member."""
    if not members:
        raise BadInput(f"{label}: archive holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    if len(members) > limits.max_frames:
        raise TooLarge(f"{label}: {len(members)} images, over the limit of {limits.max_frames} frames")
    if sum(m.declared_size for m in members) > limits.max_bytes:
        raise TooLarge(f"{label}: images unpack to over {limits.max_bytes} bytes")
    members.sort(key=lambda m: natural_key(m.name))
    frames = []
    for member in members:
        try:
            with member.open() as stream:
                data = budget.read(stream, member.where)
        except (ValueError, NotImplementedError) as err:  # forged offsets, unknown methods or versions
            raise BadInput(f"{member.where}: cannot be read ({err})") from None
        frames.append(decode_image(data, member.where, limits))
    return frames


# --------------------------------------------------------------------------------------------- videos


def decode_video(upload: Upload, limits: MediaLimits) -> list[np.ndarray]:
    """Every frame of an mp4/mov, avi or mkv/webm (by magic bytes) as RGB uint8, up to the frame limit."""
    with open_video(upload, limits) as video:
        frames = [f for f in video.frames(limits.max_frames) if f is not None]
    if not frames:
        raise BadInput(f"{video.label}: video has no frames")
    return frames


class VideoReader:
    """An opened video: its size and rate as the container declares them, then its frames in one pass.

    Shared by `decode_video` (every frame into a list) and the tracker-file path (service/tracks),
    which keeps only a few crops of the frames it wants and so must not hold the whole clip.
    """

    def __init__(self, capture: cv2.VideoCapture, label: str, limits: MediaLimits) -> None:
        self._capture = capture
        self._limits = limits
        self.label = label
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)  # 0 when the container does not say
        self.declared_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # a hint, often wrong

    def frames(
        self,
        max_frames: int,
        wanted: Callable[[int], bool] | None = None,
        limit_hint: str = "REID_MAX_FRAMES",
    ) -> Iterator[np.ndarray | None]:
        """Frames 0, 1, ... as RGB uint8 until the video ends; a frame `wanted` refuses is decoded (the
        codec needs it) but not converted, and comes as None. TooLarge past `max_frames` frames."""
        count = 0
        while True:
            if wanted is None or wanted(count):
                ok, frame = self._capture.read()
            else:
                ok, frame = self._capture.grab(), None
            if not ok:
                break
            if count >= max_frames:
                raise TooLarge(
                    f"{self.label}: more than {max_frames} frames; trim the clip or raise {limit_hint}"
                )
            if frame is None:
                yield None
            else:
                where = f"{self.label} frame {count}"
                _check_pixels(frame.shape[1], frame.shape[0], where, self._limits)
                yield _to_rgb8(frame, where)
            count += 1


@contextlib.contextmanager
def open_video(upload: Upload, limits: MediaLimits) -> Iterator[VideoReader]:
    """The upload as an opened video (kind checked by magic bytes, frame size checked before the first
    frame is allocated); decoder failures inside the block become BadInput."""
    label = f"video {upload.filename!r}"
    if not upload.data:
        raise BadInput(f"{label} is empty")
    kind = sniff(upload.data)
    if kind not in VIDEO_KINDS:
        found = "unrecognised bytes" if kind == "unknown" else f"a {kind} file"
        raise UnsupportedMedia(f"{label}: not an MP4, AVI or MKV/WebM video ({found})")
    # OpenCV reads videos from files only: the file goes to memory-backed /dev/shm where there is one,
    # so no uploaded frame is written to a disk, and it is removed when decoding ends.
    with tempfile.TemporaryDirectory(prefix="reid-video-", dir=MEMORY_TMP) as tmp:
        # Fixed name: the client's name never reaches the file system. The extension only helps FFmpeg.
        path = Path(tmp) / f"upload.{kind}"
        path.write_bytes(upload.data)
        capture = None
        try:
            capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
            if not capture.isOpened():
                raise BadInput(f"{label}: cannot decode video (corrupt, truncated or unsupported codec)")
            reader = VideoReader(capture, label, limits)
            _check_pixels(reader.width, reader.height, label, limits)  # before the first frame
            yield reader
        except cv2.error:
            raise BadInput(f"{label}: cannot decode video (the decoder failed)") from None
        finally:
            if capture is not None:
                capture.release()


# -------------------------------------------------------------------------------------------- dispatch


# Compressed archives and videos: their decoded frames counted as this many times their bytes (a
# JPEG crop decodes to about 10x its size; a video's frames to far more, but /embed samples at most
# REID_MAX_FRAMES of them); the cap below keeps the estimate within what the limits allow.
COMPRESSED_EXPANSION = 10


def decoded_bytes(kind: str, uploads: list[Upload], limits: MediaLimits) -> int:
    """About how many bytes the upload's frames take once decoded, known before decoding: exact for
    images (their headers say their size), an estimate for archives and videos. What a request
    reserves from the memory budget."""
    if kind == "frames":
        total = 0
        for upload in uploads:
            kind_of = sniff(upload.data)
            if kind_of not in IMAGE_KINDS:
                continue  # not an image: decoding refuses it before allocating anything
            try:
                width, height = image_size(upload.data, kind_of)
            except BadInput:
                continue
            if width * height > limits.max_frame_pixels:
                continue  # refused by the pixel limit before anything is decoded
            total += width * height * 3
        return total
    ceiling = limits.max_frames * limits.max_frame_pixels * 3
    return min(ceiling, COMPRESSED_EXPANSION * sum(len(u.data) for u in uploads))


def decode_upload(
    kind: Literal["frames", "archive", "video"],
    uploads: list[Upload],
    limits: MediaLimits,
    order: Literal["upload", "name"] = "upload",
) -> list[np.ndarray]:
    """The frames of one request, whichever way they were sent; `order` applies to separate frames."""
    total = sum(len(u.data) for u in uploads)
    if total > limits.max_bytes:
        raise TooLarge(f"uploads total {total} bytes, over the limit of {limits.max_bytes}")
    if kind == "frames":
        for i, u in enumerate(uploads):
            if not u.data:
                raise BadInput(f"frames[{i}] {u.filename!r} is empty")
        return decode_images(uploads, limits, order)
    if kind not in ("archive", "video"):
        raise BadInput(f"unknown upload kind {kind!r} (expected 'frames', 'archive' or 'video')")
    if len(uploads) != 1:
        raise BadInput(f"expected exactly one {kind} file, got {len(uploads)}")
    if kind == "archive":
        return decode_archive(uploads[0], limits)
    return decode_video(uploads[0], limits)
