"""Uploads to frames: images, archives and videos, all generated in the test, and every way they fail."""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from devtools.craft import encode, png_declaring, tar_link, tar_of, zip_of
from service.core.errors import BadInput, ServiceError, TooLarge, UnsupportedMedia
from service.media import decode as decode_module
from service.media.decode import (
    MediaLimits,
    Upload,
    decode_archive,
    decode_image,
    decode_images,
    decode_upload,
    decode_video,
)

LIMITS = MediaLimits(max_bytes=8 << 20, max_frames=64, max_frame_pixels=1000 * 1000, max_archive_members=100)

RED_BGR = (0, 0, 255)  # OpenCV writes BGR: this is pure red
BLUE_BGR = (255, 0, 0)


def solid(height: int, width: int, bgr: tuple[int, int, int]) -> np.ndarray:
    return np.full((height, width, 3), bgr, dtype=np.uint8)


def png_bomb(width: int, height: int) -> bytes:
    """A valid IHDR declaring a huge size and a tiny IDAT: refused from the header alone."""
    return png_declaring(width, height, zlib.compress(b"\x00" * 64))


def grey_png(value: int, shape: tuple[int, int] = (4, 6)) -> bytes:
    """A (height, width) grey PNG whose value identifies it after decoding."""
    return encode(".png", np.full(shape, value, dtype=np.uint8))


def write_video(path: Path, fourcc: str, frames: int, bgr: tuple[int, int, int], size=(32, 24)) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, size)
    assert writer.isOpened(), f"VideoWriter cannot write {fourcc} in this environment"
    for _ in range(frames):
        writer.write(solid(size[1], size[0], bgr))
    writer.release()
    return path.read_bytes()


# ------------------------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("ext", "params", "tolerance"),
    [
        (".jpg", [], 12),
        (".png", [], 0),
        (".bmp", [], 0),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101], 0),  # lossless, VP8L
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 90], 12),  # lossy, VP8
    ],
)
def test_every_format_round_trips_as_rgb(ext: str, params: list[int], tolerance: int) -> None:
    data = encode(ext, solid(20, 30, RED_BGR), params)
    frame = decode_image(data, "frames[0] 'red'", LIMITS)
    assert frame.shape == (20, 30, 3)
    assert frame.dtype == np.uint8
    assert frame.flags.c_contiguous
    # Pure red is R=255 in channel 0: the BGR of OpenCV never leaks out.
    assert np.abs(frame.astype(int) - [255, 0, 0]).max() <= tolerance


def test_grey_becomes_three_equal_channels() -> None:
    frame = decode_image(grey_png(100), "grey", LIMITS)
    assert frame.shape == (4, 6, 3)
    assert (frame == 100).all()


def test_alpha_is_dropped_and_colours_kept() -> None:
    bgra = np.zeros((5, 7, 4), dtype=np.uint8)
    bgra[..., 2] = 255  # red
    bgra[..., 1] = 10
    bgra[..., 3] = 0  # fully transparent: the colour still counts, as on the training side
    frame = decode_image(encode(".png", bgra), "rgba", LIMITS)
    assert frame.shape == (5, 7, 3)
    assert (frame == [255, 10, 0]).all()


def test_sixteen_bit_png_scales_to_eight_bits() -> None:
    image = np.zeros((3, 4, 3), dtype=np.uint16)
    image[..., 2] = 65535
    image[..., 1] = 100 * 257
    data = encode(".png", image)
    assert data[24] == 16  # the file really is 16-bit
    frame = decode_image(data, "deep", LIMITS)
    assert frame.dtype == np.uint8
    assert (frame == [255, 100, 0]).all()


def test_one_pixel_image_is_valid() -> None:
    frame = decode_image(encode(".png", solid(1, 1, BLUE_BGR)), "tiny", LIMITS)
    assert frame.shape == (1, 1, 3)
    assert frame[0, 0].tolist() == [0, 0, 255]


def test_jpeg_with_trailing_zero_padding_is_accepted() -> None:
    data = encode(".jpg", solid(8, 8, RED_BGR)) + b"\x00" * 32
    assert decode_image(data, "padded", LIMITS).shape == (8, 8, 3)


def test_mixed_sizes_are_accepted() -> None:
    uploads = [Upload("a.png", grey_png(1, (6, 10))), Upload("b.jpg", encode(".jpg", solid(33, 17, RED_BGR)))]
    frames = decode_images(uploads, LIMITS)
    assert [f.shape for f in frames] == [(6, 10, 3), (33, 17, 3)]


def test_zero_byte_file_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"frames\[1\] 'b.png' is empty") as err:
        decode_upload("frames", [Upload("a.png", grey_png(1)), Upload("b.png", b"")], LIMITS)
    assert err.value.status == 422


def test_text_named_jpg_is_unsupported_media() -> None:
    with pytest.raises(UnsupportedMedia, match=r"frames\[0\] 'notes.jpg'") as err:
        decode_images([Upload("notes.jpg", b"this is not an image at all\n")], LIMITS)
    assert err.value.status == 415


def test_archive_sent_as_a_frame_is_unsupported_media() -> None:
    with pytest.raises(UnsupportedMedia, match=r"a zip file"):
        decode_images([Upload("a.png", zip_of({"a.png": grey_png(1)}))], LIMITS)


@pytest.mark.parametrize("cut", [2, 10, 200])
def test_truncated_jpeg_is_bad_input(cut: int) -> None:
    rng = np.random.default_rng(1)
    data = encode(".jpg", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(BadInput, match=r"frames\[0\] 'x.jpg': truncated JPEG") as err:
        decode_images([Upload("x.jpg", data[:-cut])], LIMITS)
    assert err.value.status == 422


def test_truncated_png_is_bad_input() -> None:
    rng = np.random.default_rng(2)
    data = encode(".png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for keep in (len(data) // 2, len(data) - 12, 40):
        with pytest.raises(BadInput, match=r"'x.png': truncated PNG"):
            decode_images([Upload("x.png", data[:keep])], LIMITS)


def test_corrupt_image_body_is_bad_input() -> None:
    data = bytearray(encode(".png", solid(16, 16, RED_BGR)))
    data[41:60] = b"\xaa" * 19  # inside the IDAT: bad zlib data and CRC
    with pytest.raises(BadInput, match=r"corrupt or truncated PNG"):
        decode_image(bytes(data), "x", LIMITS)


def test_png_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bomb reached the decoder")

    monkeypatch.setattr(decode_module.cv2, "imdecode", must_not_decode)
    data = png_bomb(100_000, 100_000)
    assert len(data) < 200
    with pytest.raises(TooLarge, match=r"frames\[0\] 'bomb.png': 100000x100000") as err:
        decode_upload("frames", [Upload("bomb.png", data)], LIMITS)
    assert err.value.status == 413


def test_frame_pixel_limit_is_exact() -> None:
    limits = MediaLimits(1 << 20, 10, max_frame_pixels=20 * 30, max_archive_members=10)
    assert decode_image(encode(".png", solid(20, 30, RED_BGR)), "ok", limits).shape == (20, 30, 3)
    with pytest.raises(TooLarge):
        decode_image(encode(".png", solid(20, 31, RED_BGR)), "big", limits)


def test_frame_count_is_checked_before_decoding() -> None:
    limits = MediaLimits(1 << 20, max_frames=3, max_frame_pixels=10_000, max_archive_members=10)
    # Garbage would be 415 if it were decoded: the count is refused first.
    uploads = [Upload(f"{i}.png", b"garbage") for i in range(4)]
    with pytest.raises(TooLarge, match=r"4 frames uploaded, over the limit of 3"):
        decode_images(uploads, limits)
    assert len(decode_images([Upload(f"{i}.png", grey_png(i)) for i in range(3)], limits)) == 3


def test_no_uploads_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"no frames"):
        decode_upload("frames", [], LIMITS)


def test_natural_name_order_and_upload_order() -> None:
    uploads = [Upload(n, grey_png(v)) for n, v in [("frame10.png", 10), ("frame2.png", 2), ("Frame1.png", 1)]]
    by_name = decode_upload("frames", uploads, LIMITS, order="name")
    assert [int(f[0, 0, 0]) for f in by_name] == [1, 2, 10]
    by_upload = decode_upload("frames", uploads, LIMITS)
    assert [int(f[0, 0, 0]) for f in by_upload] == [10, 2, 1]


def test_error_names_the_frame_by_its_upload_index_under_name_order() -> None:
    uploads = [Upload("b10.png", grey_png(1)), Upload("b2.png", b"not an image")]
    with pytest.raises(UnsupportedMedia, match=r"frames\[1\] 'b2.png'"):
        decode_images(uploads, LIMITS, order="name")


def test_total_upload_bytes_are_limited() -> None:
    limits = MediaLimits(max_bytes=1000, max_frames=10, max_frame_pixels=10**6, max_archive_members=10)
    big = encode(".png", np.random.default_rng(3).integers(0, 256, (20, 20, 3), dtype=np.uint8))
    assert len(big) > 1000
    with pytest.raises(TooLarge, match=r"over the limit of 1000"):
        decode_upload("frames", [Upload("a.png", big)], limits)


# ----------------------------------------------------------------------------------------- archives


def test_zip_decodes_images_in_natural_order_skipping_junk() -> None:
    data = zip_of(
        {
            "clip/": b"",
            "clip/f10.png": grey_png(10),
            "clip/f2.png": grey_png(2),
            "clip/f1.jpg": encode(".jpg", np.full((4, 6), 1, np.uint8)),
            "__MACOSX/clip/._f1.jpg": b"resource fork junk",
            "clip/.DS_Store": b"junk",
            "clip/._f2.png": b"apple double junk",
            "clip/readme.txt": b"not an image",
        }
    )
    frames = decode_archive(Upload("clip.zip", data), LIMITS)
    assert [int(f[0, 0, 0]) for f in frames] == [1, 2, 10]


def test_tar_and_tar_gz_decode() -> None:
    bmp = encode(".bmp", np.full((4, 6), 1, np.uint8))
    members: list[tarfile.TarInfo | tuple[str, bytes]] = [
        ("./b/f2.png", grey_png(2)),
        ("./b/f10.png", grey_png(10)),
        ("./b/f1.bmp", bmp),
    ]
    for mode, name in (("w", "x.tar"), ("w:gz", "x.tgz")):
        frames = decode_upload("archive", [Upload(name, tar_of(members, mode))], LIMITS)
        assert [int(f[0, 0, 0]) for f in frames] == [1, 2, 10]


def test_archive_kind_comes_from_the_bytes_not_the_name() -> None:
    frames = decode_archive(Upload("frames.tar", zip_of({"a.png": grey_png(7)})), LIMITS)
    assert int(frames[0][0, 0, 0]) == 7


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.jpg", "path leaves the archive"),
        ("ok/../../evil.jpg", "path leaves the archive"),
        ("..\\evil.jpg", "path leaves the archive"),
        ("/etc/evil.jpg", "absolute path"),
        ("C:\\evil.jpg", "absolute path"),
        ("\\\\server\\share\\evil.jpg", "absolute path"),
    ],
)
def test_zip_member_escaping_the_archive_is_refused(name: str, why: str) -> None:
    data = zip_of({"good.png": grey_png(1), name: grey_png(2)})
    with pytest.raises(BadInput) as err:
        decode_archive(Upload("evil.zip", data), LIMITS)
    assert why in err.value.message
    assert f"member {name!r}" in err.value.message


def test_tar_member_escaping_the_archive_is_refused() -> None:
    data = tar_of([("good.png", grey_png(1)), ("../evil.jpg", grey_png(2))])
    with pytest.raises(BadInput, match=r"member '../evil.jpg': path leaves the archive"):
        decode_archive(Upload("evil.tar", data), LIMITS)


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (tar_link("passwd.jpg", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
        (tar_link("hard.jpg", tarfile.LNKTYPE, "good.png"), "is a link"),
        (tar_link("tty.jpg", tarfile.CHRTYPE, ""), "device or special file"),
        (tar_link("fifo.jpg", tarfile.FIFOTYPE, ""), "device or special file"),
    ],
)
def test_tar_links_and_devices_are_refused(member: tarfile.TarInfo, why: str) -> None:
    data = tar_of([("good.png", grey_png(1)), member])
    with pytest.raises(BadInput, match=why) as err:
        decode_archive(Upload("links.tar", data), LIMITS)
    assert repr(member.name) in err.value.message


def test_zip_symlink_is_refused() -> None:
    info = zipfile.ZipInfo("link.jpg")
    info.create_system = 3
    info.external_attr = (0o120777 << 16) & 0xFFFF0000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(BadInput, match=r"'link.jpg': is a symbolic link"):
        decode_archive(Upload("l.zip", buf.getvalue()), LIMITS)


def test_zip_bomb_is_too_large_before_memory_blows_up() -> None:
    """200 MB of zeros compress to about 200 KB; the limit is 1 MB of uncompressed content."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.png", "w", force_zip64=True) as member,
    ):
        block = bytes(1 << 20)
        for _ in range(200):
            member.write(block)
    data = buf.getvalue()
    assert len(data) < 400_000
    limits = MediaLimits(max_bytes=1 << 20, max_frames=10, max_frame_pixels=10**6, max_archive_members=10)
    with pytest.raises(TooLarge, match=r"'bomb.zip'") as err:
        decode_upload("archive", [Upload("bomb.zip", data)], limits)
    assert err.value.status == 413

    # The same bomb with its declared sizes forged small still never yields more than it declares.
    start = data.rfind(b"PK\x01\x02")
    forged = bytearray(data)
    forged[start + 24 : start + 28] = struct.pack("<I", 1000)  # uncompressed size in the central directory
    with pytest.raises((BadInput, TooLarge)):
        decode_archive(Upload("forged.zip", bytes(forged)), limits)


def test_tar_gz_bomb_is_too_large_while_decompressing() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo("zeros.png")
        info.size = 16 << 20
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    data = gzip.compress(buf.getvalue())
    limits = MediaLimits(max_bytes=1 << 20, max_frames=10, max_frame_pixels=10**6, max_archive_members=10)
    with pytest.raises(TooLarge, match=r"archive 'bomb.tgz': unpacks to over 1048576 bytes"):
        decode_archive(Upload("bomb.tgz", data), limits)


def test_too_many_members_is_too_large() -> None:
    limits = MediaLimits(max_bytes=1 << 20, max_frames=10, max_frame_pixels=10**6, max_archive_members=5)
    names = [f"n{i}.txt" for i in range(6)]
    with pytest.raises(TooLarge, match=r"more than 5 members"):
        decode_archive(Upload("many.zip", zip_of(dict.fromkeys(names, b"x"))), limits)
    with pytest.raises(TooLarge, match=r"more than 5 members"):
        decode_archive(Upload("many.tar", tar_of([(n, b"x") for n in names])), limits)
    frames = decode_archive(Upload("ok.zip", zip_of({f"{i}.png": grey_png(i) for i in range(5)})), limits)
    assert len(frames) == 5


def test_too_many_members_is_found_when_the_end_record_lies() -> None:
    limits = MediaLimits(max_bytes=1 << 20, max_frames=10, max_frame_pixels=10**6, max_archive_members=5)
    data = bytearray(zip_of({f"n{i}.txt": b"x" for i in range(50)}))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 2, 2)  # claims 2 entries
    with pytest.raises(TooLarge, match=r"more than 5 members"):
        decode_archive(Upload("liar.zip", bytes(data)), limits)


def test_too_many_images_in_archive_is_too_large() -> None:
    limits = MediaLimits(max_bytes=1 << 20, max_frames=3, max_frame_pixels=10**6, max_archive_members=50)
    data = zip_of({f"{i}.png": b"never decoded" for i in range(4)})
    with pytest.raises(TooLarge, match=r"4 images, over the limit of 3 frames"):
        decode_archive(Upload("many.zip", data), limits)


def test_archive_without_images_is_bad_input() -> None:
    data = zip_of({"readme.txt": b"hello", "dir/": b"", "__MACOSX/._a.png": b"junk"})
    with pytest.raises(BadInput, match=r"archive holds no images"):
        decode_archive(Upload("empty.zip", data), LIMITS)
    with pytest.raises(BadInput, match=r"archive holds no images"):
        decode_archive(Upload("empty.zip", zip_of({})), LIMITS)


def test_bad_image_member_is_named() -> None:
    data = zip_of({"a.png": grey_png(1), "sub/b.png": b"text, not an image"})
    with pytest.raises(UnsupportedMedia, match=r"archive 'x.zip' member 'sub/b.png': not a JPEG"):
        decode_archive(Upload("x.zip", data), LIMITS)
    truncated = encode(".jpg", solid(8, 8, RED_BGR))[:-20]
    with pytest.raises(BadInput, match=r"member 'c.jpg': truncated JPEG"):
        decode_archive(Upload("x.tar", tar_of([("c.jpg", truncated)])), LIMITS)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", BadInput),
        (b"random bytes, not an archive", UnsupportedMedia),
        (gzip.compress(b"a gzip of plain text, no tar inside"), UnsupportedMedia),
        (gzip.compress(tar_of([("a.png", np.random.default_rng(5).bytes(4096))]))[:-100], BadInput),
    ],
    ids=["empty", "random", "gzip-of-text", "truncated-tgz"],
)
def test_unusable_archives(data: bytes, error: type[ServiceError]) -> None:
    with pytest.raises(error) as err:
        decode_archive(Upload("a.tgz", data), LIMITS)
    assert "'a.tgz'" in err.value.message


def test_truncated_zip_is_bad_input() -> None:
    data = zip_of({"a.png": grey_png(1), "b.png": grey_png(2)})
    for keep in (len(data) - 10, len(data) // 2, 30):
        with pytest.raises(BadInput, match=r"'t.zip'"):
            decode_archive(Upload("t.zip", data[:keep]), LIMITS)


def test_only_one_archive_or_video_per_request() -> None:
    one = zip_of({"a.png": grey_png(1)})
    with pytest.raises(BadInput, match=r"exactly one archive"):
        decode_upload("archive", [Upload("a.zip", one), Upload("b.zip", one)], LIMITS)


# ------------------------------------------------------------------------------------------- videos


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "mp4": write_video(folder / "red.mp4", "mp4v", 7, RED_BGR),
        "avi": write_video(folder / "blue.avi", "MJPG", 5, BLUE_BGR),
        "empty_mp4": write_video(folder / "empty.mp4", "mp4v", 0, RED_BGR),
        "empty_avi": write_video(folder / "empty.avi", "MJPG", 0, RED_BGR),
    }


def assert_colour(frames: list[np.ndarray], rgb: tuple[int, int, int]) -> None:
    for frame in frames:
        assert frame.shape == (24, 32, 3)
        assert frame.dtype == np.uint8
        assert np.abs(frame.reshape(-1, 3).mean(axis=0) - rgb).max() < 20


def test_mp4_decodes_every_frame_as_rgb(videos: dict[str, bytes]) -> None:
    frames = decode_upload("video", [Upload("clip.mp4", videos["mp4"])], LIMITS)
    assert len(frames) == 7
    assert_colour(frames, (255, 0, 0))


def test_avi_decodes_every_frame_as_rgb(videos: dict[str, bytes]) -> None:
    frames = decode_video(Upload("clip.avi", videos["avi"]), LIMITS)
    assert len(frames) == 5
    assert_colour(frames, (0, 0, 255))


def test_mp4_named_avi_still_decodes(videos: dict[str, bytes]) -> None:
    assert len(decode_video(Upload("clip.avi", videos["mp4"]), LIMITS)) == 7


def test_video_goes_to_a_private_temp_file_under_a_fixed_name(
    videos: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode_module, "MEMORY_TMP", str(tmp_path))
    opened: list[Path] = []
    real_capture = cv2.VideoCapture

    def spy(path: str, *args: object) -> cv2.VideoCapture:
        opened.append(Path(path))
        return real_capture(path, *args)

    monkeypatch.setattr(decode_module.cv2, "VideoCapture", spy)
    decode_video(Upload("../../client name.mp4", videos["mp4"]), LIMITS)
    with pytest.raises(BadInput):
        decode_video(Upload("x.mp4", videos["mp4"][:100]), LIMITS)
    assert [p.name for p in opened] == ["upload.mp4", "upload.mp4"]
    assert all(p.parent.parent == tmp_path for p in opened)
    assert list(tmp_path.iterdir()) == []  # removed when done, failure included


def test_truncated_mp4_is_bad_input(videos: dict[str, bytes]) -> None:
    data = videos["mp4"]
    with pytest.raises(BadInput, match=r"'cut.mp4': cannot decode video") as err:
        decode_video(Upload("cut.mp4", data[: len(data) // 2]), LIMITS)
    assert err.value.status == 422
    # Wherever the cut falls, the answer is frames or a 4xx, never another exception.
    for keep in range(12, len(data), max(1, len(data) // 25)):
        with contextlib.suppress(BadInput, UnsupportedMedia):
            decode_video(Upload("cut.mp4", data[:keep]), LIMITS)


@pytest.mark.parametrize("name", ["empty_mp4", "empty_avi"])
def test_video_without_frames_is_bad_input(videos: dict[str, bytes], name: str) -> None:
    with pytest.raises(BadInput, match=r"cannot decode video|video has no frames"):
        decode_video(Upload("empty", videos[name]), LIMITS)


def test_empty_avi_says_it_has_no_frames(videos: dict[str, bytes]) -> None:
    with pytest.raises(BadInput, match=r"'e.avi': video has no frames"):
        decode_video(Upload("e.avi", videos["empty_avi"]), LIMITS)


@pytest.mark.parametrize(
    "data", [np.random.default_rng(4).bytes(5000), encode(".png", solid(4, 4, RED_BGR)), b"\x00" * 64]
)
def test_non_video_bytes_are_unsupported_media(data: bytes) -> None:
    with pytest.raises(UnsupportedMedia, match=r"'v.mp4': not an MP4") as err:
        decode_upload("video", [Upload("v.mp4", data)], LIMITS)
    assert err.value.status == 415


def test_empty_video_file_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"'v.mp4' is empty"):
        decode_upload("video", [Upload("v.mp4", b"")], LIMITS)


def test_video_frame_limit(videos: dict[str, bytes]) -> None:
    exact = MediaLimits(1 << 20, max_frames=7, max_frame_pixels=10**6, max_archive_members=10)
    assert len(decode_video(Upload("v.mp4", videos["mp4"]), exact)) == 7
    fewer = MediaLimits(1 << 20, max_frames=6, max_frame_pixels=10**6, max_archive_members=10)
    with pytest.raises(TooLarge, match=r"more than 6 frames; trim the clip or raise REID_MAX_FRAMES"):
        decode_video(Upload("v.mp4", videos["mp4"]), fewer)


def test_video_frame_pixel_limit(videos: dict[str, bytes]) -> None:
    small = MediaLimits(1 << 20, max_frames=10, max_frame_pixels=32 * 24 - 1, max_archive_members=10)
    with pytest.raises(TooLarge, match=r"32x24"):
        decode_video(Upload("v.avi", videos["avi"]), small)
