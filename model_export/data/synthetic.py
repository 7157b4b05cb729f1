"""A synthetic multi-camera tracklet set, so tests and smoke training need no downloaded data.

Each identity is a stick-figure pedestrian with its own clothing colours, upper-body pattern, body
shape and gait; each camera has its own background, illumination, colour cast, framing and blur.
Identity cues survive the camera change (colours shift but keep their order, patterns keep their
frequency), so a small CNN learns the task in about a minute on CPU, yet no pixel is shared verbatim
between two views of the same person.
"""

from __future__ import annotations

import colorsys
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from model_export.data.tracklet import ReIDSplit, Tracklet, relabel

MANIFEST_NAME = "manifest.json"
# Bump when the renderer changes, so stale trees on disk are re-rendered instead of reused.
RENDER_VERSION = 1
PATTERNS = ("plain", "hstripes", "vstripes", "checks")


@dataclass(frozen=True)
class IdentityStyle:
    """Everything that makes one person recognisable in any camera."""

    upper: tuple[float, float, float]
    upper_alt: tuple[float, float, float]
    lower: tuple[float, float, float]
    shoes: tuple[float, float, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    bag: tuple[float, float, float] | None
    pattern: str
    pattern_freq: float  # cycles per person height
    short_sleeves: bool
    body_height: float  # fraction of the camera's nominal person height
    body_width: float  # torso half-width, in person heights
    head_radius: float  # in person heights
    gait_phase: float
    gait_step: float  # radians per frame
    stride: float  # leg swing amplitude, radians


@dataclass(frozen=True)
class CameraStyle:
    """What one camera does to every person it sees."""

    background: np.ndarray  # H x W x 3 float32, fixed per camera
    gain: float
    cast: tuple[float, float, float]
    scale: float  # nominal person height as a fraction of the crop height
    x_offset: float  # pixels
    y_offset: float  # pixels
    drift: float  # pixels per frame
    blur: float  # GaussianBlur radius
    noise: float  # per-pixel noise sigma, grey levels


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (r * 255.0, g * 255.0, b * 255.0)


def sample_identity(rng: np.random.Generator) -> IdentityStyle:
    """Draw one person's appearance; ranges keep colours saturated enough to survive camera casts."""
    upper_hue = rng.random()
    upper = _hsv(upper_hue, rng.uniform(0.45, 1.0), rng.uniform(0.35, 0.95))
    if rng.random() < 0.5:
        upper_alt = _hsv(upper_hue + rng.uniform(0.3, 0.7), rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.95))
    else:
        grey = rng.choice([30.0, 235.0])
        upper_alt = (grey, grey, grey)
    skin_v = rng.uniform(0.35, 0.95)
    return IdentityStyle(
        upper=upper,
        upper_alt=upper_alt,
        lower=_hsv(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.15, 0.85)),
        shoes=_hsv(rng.random(), rng.uniform(0.0, 0.8), rng.uniform(0.1, 0.95)),
        skin=_hsv(rng.uniform(0.03, 0.1), rng.uniform(0.3, 0.6), skin_v),
        hair=_hsv(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.6)),
        bag=_hsv(rng.random(), rng.uniform(0.3, 1.0), rng.uniform(0.2, 0.9)) if rng.random() < 0.4 else None,
        pattern=str(rng.choice(PATTERNS)),
        pattern_freq=float(rng.uniform(7.0, 14.0)),
        short_sleeves=bool(rng.random() < 0.4),
        body_height=float(rng.uniform(0.86, 1.0)),
        body_width=float(rng.uniform(0.075, 0.12)),
        head_radius=float(rng.uniform(0.055, 0.075)),
        gait_phase=float(rng.uniform(0.0, 2.0 * np.pi)),
        gait_step=float(rng.uniform(0.5, 0.9)),
        stride=float(rng.uniform(0.25, 0.45)),
    )


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency texture: a coarse random grid upsampled bilinearly."""
    coarse = rng.random((cells * 2, cells)).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) - 0.5


def sample_camera(rng: np.random.Generator, height: int, width: int) -> CameraStyle:
    """Draw one camera: a background scene plus the photometric and geometric changes it imposes."""
    top = np.array(_hsv(rng.random(), rng.uniform(0.05, 0.5), rng.uniform(0.3, 0.9)), dtype=np.float32)
    bottom = np.array(_hsv(rng.random(), rng.uniform(0.05, 0.5), rng.uniform(0.2, 0.8)), dtype=np.float32)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    background = top * (1.0 - ys) + bottom * ys
    background = np.broadcast_to(background, (height, width, 3)).copy()
    # Wall blotches above a floor line, floor tiles below it.
    background += (
        rng.uniform(20.0, 60.0) * _smooth_noise(rng, height, width, int(rng.integers(3, 7)))[..., None]
    )
    horizon = int(height * rng.uniform(0.55, 0.8))
    floor = np.array(_hsv(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.2, 0.7)), dtype=np.float32)
    period = int(rng.integers(6, 16))
    yy, xx = np.mgrid[0:height, 0:width]
    tiles = ((yy // period + xx // period) % 2).astype(np.float32)[horizon:, :, None]
    background[horizon:] = 0.5 * background[horizon:] + 0.5 * floor + rng.uniform(5.0, 25.0) * (tiles - 0.5)
    background += rng.normal(0.0, rng.uniform(2.0, 8.0), background.shape).astype(np.float32)
    cast = rng.uniform(0.82, 1.18, 3)
    cast /= cast.mean()
    return CameraStyle(
        background=np.clip(background, 0.0, 255.0),
        gain=float(rng.uniform(0.78, 1.22)),
        cast=(float(cast[0]), float(cast[1]), float(cast[2])),
        scale=float(rng.uniform(0.72, 0.92)),
        x_offset=float(rng.uniform(-0.08, 0.08) * width),
        y_offset=float(rng.uniform(-0.03, 0.03) * height),
        drift=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.8)),
        blur=float(rng.uniform(0.0, 1.3)),
        noise=float(rng.uniform(2.0, 6.0)),
    )


class _Canvas:
    """A person layer (colour + coverage) that body parts are painted onto back to front."""

    def __init__(self, height: int, width: int) -> None:
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.rgb = np.zeros((height, width, 3), dtype=np.float32)
        self.alpha = np.zeros((height, width), dtype=np.float32)

    def paint(self, cover: np.ndarray, colour: tuple[float, float, float] | np.ndarray) -> None:
        a = cover[..., None]
        self.rgb = self.rgb * (1.0 - a) + np.asarray(colour, dtype=np.float32) * a
        self.alpha = self.alpha + cover * (1.0 - self.alpha)

    def capsule(self, p: tuple[float, float], q: tuple[float, float], radius: float) -> np.ndarray:
        """Anti-aliased coverage of a thick segment (limbs, torso)."""
        (px, py), (qx, qy) = p, q
        dx, dy = qx - px, qy - py
        t = np.clip(((self.x - px) * dx + (self.y - py) * dy) / max(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
        dist = np.hypot(self.x - px - t * dx, self.y - py - t * dy)
        return np.clip(radius - dist + 0.5, 0.0, 1.0)

    def ellipse(self, c: tuple[float, float], rx: float, ry: float) -> np.ndarray:
        d = np.hypot((self.x - c[0]) / rx, (self.y - c[1]) / ry)
        return np.clip((1.0 - d) * min(rx, ry) + 0.5, 0.0, 1.0)


def _limb_end(start: tuple[float, float], length: float, angle: float) -> tuple[float, float]:
    return (start[0] + length * np.sin(angle), start[1] + length * np.cos(angle))


def _upper_texture(person: IdentityStyle, canvas: _Canvas, cx: float, top: float, unit: float) -> np.ndarray:
    """The upper-body pattern in person coordinates, so it moves with the body rather than the frame."""
    period = unit / person.pattern_freq
    u = (canvas.x - cx) / period
    v = (canvas.y - top) / period
    if person.pattern == "hstripes":
        mask = np.floor(v) % 2
    elif person.pattern == "vstripes":
        mask = np.floor(u) % 2
    elif person.pattern == "checks":
        mask = (np.floor(u) + np.floor(v)) % 2
    else:
        mask = np.zeros_like(u)
    a = mask[..., None]
    return np.asarray(person.upper, np.float32) * (1.0 - a) + np.asarray(person.upper_alt, np.float32) * a


def render_person(
    person: IdentityStyle,
    camera: CameraStyle,
    frame: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One frame of `person` walking in front of `camera`, as an H x W x 3 uint8 image."""
    height, width = camera.background.shape[:2]
    canvas = _Canvas(height, width)
    phase = person.gait_phase + person.gait_step * frame
    swing = person.stride * np.sin(phase)
    unit = height * camera.scale * person.body_height  # person height in pixels
    bob = 0.012 * unit * abs(np.cos(phase))
    foot_y = height * (0.5 + camera.scale / 2.0) + camera.y_offset
    top = foot_y - unit - bob
    cx = width / 2.0 + camera.x_offset + camera.drift * (frame - 4)

    head_r = person.head_radius * unit
    neck = (cx, top + 2.0 * head_r)
    hip_y = top + 0.52 * unit
    half_w = person.body_width * unit
    shoulder = (cx, neck[1] + 0.35 * half_w)
    limb_r = max(0.32 * half_w, 1.2)
    leg_len = foot_y - hip_y - limb_r
    arm_len = 0.36 * unit
    upper_tex = _upper_texture(person, canvas, cx, top, unit)

    def leg(sign: float) -> None:
        hip = (cx + sign * 0.45 * half_w, hip_y)
        foot = _limb_end(hip, leg_len, sign * swing)
        canvas.paint(canvas.capsule(hip, foot, limb_r * 1.25), person.lower)
        canvas.paint(
            canvas.ellipse((foot[0] + 0.6 * limb_r, foot[1]), 1.7 * limb_r, 0.9 * limb_r), person.shoes
        )

    def arm(sign: float) -> None:
        hand = _limb_end(shoulder, arm_len, -sign * 0.8 * swing)
        sleeve_end = 0.45 if person.short_sleeves else 0.9
        elbow = (
            shoulder[0] + sleeve_end * (hand[0] - shoulder[0]),
            shoulder[1] + sleeve_end * (hand[1] - shoulder[1]),
        )
        canvas.paint(canvas.capsule(shoulder, hand, limb_r), person.skin)
        canvas.paint(canvas.capsule(shoulder, elbow, limb_r * 1.1), upper_tex)

    # Painter's order: far limbs, torso, head, near limbs.
    arm(-1.0)
    leg(-1.0)
    canvas.paint(
        canvas.capsule((cx, hip_y - 0.5 * half_w), (cx, hip_y + 0.04 * unit), 0.9 * half_w), person.lower
    )
    canvas.paint(canvas.capsule((cx, shoulder[1]), (cx, hip_y - 0.6 * half_w), half_w), upper_tex)
    head_c = (cx, top + head_r)
    canvas.paint(canvas.ellipse(head_c, 0.85 * head_r, head_r), person.skin)
    hair = canvas.ellipse((cx, head_c[1] - 0.15 * head_r), 0.92 * head_r, 0.95 * head_r)
    canvas.paint(hair * (canvas.y < head_c[1] - 0.3 * head_r), person.hair)
    leg(1.0)
    if person.bag is not None:
        bag_c = (cx - 1.1 * half_w, hip_y - 0.05 * unit)
        canvas.paint(canvas.capsule((bag_c[0], bag_c[1] - 0.05 * unit), bag_c, 0.55 * half_w), person.bag)
    arm(1.0)

    # Soft cylindrical shading so the body is not a flat cut-out.
    shade = 1.0 - 0.25 * np.clip(((canvas.x - cx) / (1.6 * half_w)) ** 2, 0.0, 1.0)
    a = canvas.alpha[..., None]
    img = camera.background * (1.0 - a) + canvas.rgb * shade[..., None] * a
    flicker = camera.gain * rng.uniform(0.97, 1.03)
    img = img * flicker * np.asarray(camera.cast, dtype=np.float32)
    if camera.blur > 0.05:
        pil = Image.fromarray(np.clip(img, 0.0, 255.0).astype(np.uint8))
        img = np.asarray(pil.filter(ImageFilter.GaussianBlur(camera.blur)), dtype=np.float32)
    img = img + rng.normal(0.0, camera.noise, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0.0, 255.0).astype(np.uint8)


def _frame_path(root: Path, cam: int, pid: int, frame: int) -> Path:
    return root / f"cam{cam}" / f"person{pid:04d}" / f"{frame:03d}.png"


def _manifest_matches(root: Path, params: dict[str, object]) -> bool:
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        stored = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return stored == params


def _render_tree(
    root: Path, num_ids: int, num_cams: int, frames: int, height: int, width: int, seed: int
) -> None:
    # A previous manifest means these cam folders are ours: clear them so no stale frames linger.
    if (root / MANIFEST_NAME).exists():
        (root / MANIFEST_NAME).unlink()
        for old in root.glob("cam*"):
            if old.is_dir() and old.name[3:].isdigit():
                shutil.rmtree(old)
    people = [sample_identity(np.random.default_rng([seed, 1, pid])) for pid in range(num_ids)]
    for cam in range(num_cams):
        camera = sample_camera(np.random.default_rng([seed, 2, cam]), height, width)
        for pid, person in enumerate(people):
            _frame_path(root, cam, pid, 0).parent.mkdir(parents=True, exist_ok=True)
            for f in range(frames):
                pixels = render_person(person, camera, f, np.random.default_rng([seed, 3, cam, pid, f]))
                Image.fromarray(pixels).save(_frame_path(root, cam, pid, f), compress_level=1)


def make_synthetic(
    root: Path,
    num_ids: int = 40,
    num_cams: int = 2,
    frames: int = 8,
    height: int = 128,
    width: int = 64,
    train_fraction: float = 0.5,
    seed: int = 0,
) -> ReIDSplit:
    """Render (or reuse) a synthetic dataset under `root` and split it by identity.

    Train holds the first `train_fraction` of a seeded identity permutation in every camera,
    relabelled to 0..N-1; the rest are test identities, queried from camera 0 against all others.
    """
    if num_ids < 1 or num_cams < 2 or frames < 1:
        raise ValueError("need num_ids >= 1, num_cams >= 2 (query and gallery cameras), frames >= 1")
    if height < 32 or width < 16:
        raise ValueError(f"crop {height}x{width} too small to draw a person")
    if not 0.0 <= train_fraction <= 1.0:
        raise ValueError(f"train_fraction must lie in [0, 1], got {train_fraction}")
    root = Path(root)
    params: dict[str, object] = {
        "version": RENDER_VERSION,
        "num_ids": num_ids,
        "num_cams": num_cams,
        "frames": frames,
        "height": height,
        "width": width,
        "seed": seed,
    }
    files_present = all(
        _frame_path(root, c, p, f).is_file()
        for c in range(num_cams)
        for p in range(num_ids)
        for f in range(frames)
    )
    if not (files_present and _manifest_matches(root, params)):
        root.mkdir(parents=True, exist_ok=True)
        _render_tree(root, num_ids, num_cams, frames, height, width, seed)
        # Written last: an interrupted render has no manifest and is redone next time.
        (root / MANIFEST_NAME).write_text(json.dumps(params, indent=2, sort_keys=True))

    def tracklet(pid: int, cam: int) -> Tracklet:
        return Tracklet(
            pid=pid, camid=cam, frames=tuple(_frame_path(root, cam, pid, f) for f in range(frames))
        )

    order = np.random.default_rng([seed, 4]).permutation(num_ids)
    n_train = round(train_fraction * num_ids)
    train_ids = sorted(int(p) for p in order[:n_train])
    test_ids = sorted(int(p) for p in order[n_train:])
    return ReIDSplit(
        name="synthetic",
        train=relabel([tracklet(p, c) for p in train_ids for c in range(num_cams)]),
        query=[tracklet(p, 0) for p in test_ids],
        gallery=[tracklet(p, c) for p in test_ids for c in range(1, num_cams)],
        extra={"two_camera": num_cams == 2},
    )


__all__ = [
    "PATTERNS",
    "CameraStyle",
    "IdentityStyle",
    "make_synthetic",
    "render_person",
    "sample_camera",
    "sample_identity",
]
