"""Augmentation drawn once per tracklet and applied identically to all of its frames.

Drawing per frame would make consecutive frames jump around and destroy exactly the motion the
recurrence is meant to model. All work is on uint8 / float tensors (T, 3, H, W); no PIL per frame.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def resize(frames: Tensor, size: tuple[int, int]) -> Tensor:
    """(T, 3, h, w) uint8 or float -> (T, 3, H, W) float in [0, 1], bilinear with antialiasing."""
    x = frames.float()
    if frames.dtype == torch.uint8:
        x = x / 255.0
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.clamp_(0.0, 1.0)


def motion_blur(x: Tensor, length: int, angle: float) -> Tensor:
    """(T, 3, H, W) float smeared along a line of `length` pixels at `angle` radians."""
    if length < 2:
        return x
    size = length if length % 2 else length + 1
    kernel = torch.zeros(size, size)
    centre = size // 2
    for step in torch.linspace(-(length - 1) / 2, (length - 1) / 2, 2 * length):
        row = centre - round(float(step) * math.sin(angle))
        col = centre + round(float(step) * math.cos(angle))
        kernel[row, col] = 1.0
    kernel = (kernel / kernel.sum()).to(x.dtype).expand(3, 1, size, size)
    padded = F.pad(x, (centre, centre, centre, centre), mode="replicate")
    return F.conv2d(padded, kernel, groups=3).clamp_(0.0, 1.0)


def jpeg(x: Tensor, quality: int) -> Tensor:
    """(T, 3, H, W) float in [0, 1] through a JPEG encoder and back, frame by frame."""
    frames = (x * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for frame in frames:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:  # pragma: no cover - the encoder takes any uint8 HxWx3 image
            raise RuntimeError("JPEG encoding failed")
        out.append(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.dtype) / 255.0


@dataclass(frozen=True)
class AugmentConfig:
    pad: int = 10  # random crop after reflect padding by this many pixels
    flip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.15
    saturation: float = 0.15
    # probability of dropping colour (the grey image in all three channels): cameras of other sites
    # render the same clothes in other colours, and a network that never sees grey leans on hue
    grayscale: float = 0.0
    # probability of seeing the tracklet through a coarser camera: down to a random share of each side
    # (antialiased), then back up. Unseen sites' crops are often small (VIPeR 128x48, PRID 128x64,
    # CAVIAR4REID about 80x32) and reach the network upscaled, with no detail above their own scale
    lowres: float = 0.0
    lowres_scale: tuple[float, float] = (0.3, 0.7)
    # footage: what surveillance video does to a person that stills do not, each a probability per
    # tracklet. Motion blur: a straight smear of blur_length pixels (at the input size) at any angle,
    # as a walking person under a slow shutter; white balance: the red and blue gains of another
    # camera (each within 1 -+ white_balance_shift); compression: the frames through JPEG at a quality
    # drawn from compression_quality, the blocks and smeared edges of a low bit rate; occlusion: a
    # band from one edge (the bottom: a car, a counter; a side: a passer-by) covering occlusion_share
    # of the side, in one flat colour
    blur: float = 0.0
    blur_length: tuple[int, int] = (3, 11)
    white_balance: float = 0.0
    white_balance_shift: float = 0.2
    compression: float = 0.0
    compression_quality: tuple[int, int] = (10, 40)
    occlusion: float = 0.0
    occlusion_share: tuple[float, float] = (0.2, 0.45)
    erase: float = 0.5  # probability of random erasing (Zhong et al. 2020)
    erase_area: tuple[float, float] = (0.02, 0.4)
    erase_ratio: float = 0.3


class TrackletAugment:
    def __init__(self, size: tuple[int, int], config: AugmentConfig, rng: random.Random) -> None:
        self.size = size
        self.cfg = config
        self.rng = rng

    def __call__(self, frames: Tensor) -> Tensor:
        cfg, rng = self.cfg, self.rng
        x = resize(frames, self.size)
        h, w = self.size
        if cfg.blur > 0 and rng.random() < cfg.blur:
            x = motion_blur(x, rng.randint(*cfg.blur_length), rng.uniform(0.0, math.pi))
        if cfg.white_balance > 0 and rng.random() < cfg.white_balance:
            shift = cfg.white_balance_shift
            gains = x.new_tensor([rng.uniform(1 - shift, 1 + shift), 1.0, rng.uniform(1 - shift, 1 + shift)])
            x = (x * gains.view(1, 3, 1, 1)).clamp_(0.0, 1.0)
        if cfg.lowres > 0 and rng.random() < cfg.lowres:
            share = rng.uniform(*cfg.lowres_scale)
            x = resize(resize(x, (max(2, round(h * share)), max(2, round(w * share)))), self.size)
        if cfg.compression > 0 and rng.random() < cfg.compression:
            x = jpeg(x, rng.randint(*cfg.compression_quality))
        if cfg.pad > 0:
            x = F.pad(x, (cfg.pad, cfg.pad, cfg.pad, cfg.pad), mode="reflect")
            top, left = rng.randint(0, 2 * cfg.pad), rng.randint(0, 2 * cfg.pad)
            x = x[..., top : top + h, left : left + w]
        if rng.random() < cfg.flip:
            x = x.flip(-1)
        if cfg.brightness > 0:
            x = x * rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
        if cfg.contrast > 0:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
        if cfg.saturation > 0:
            grey = x.mean(dim=1, keepdim=True)
            x = (x - grey) * rng.uniform(1 - cfg.saturation, 1 + cfg.saturation) + grey
        x = x.clamp(0.0, 1.0)
        if cfg.grayscale > 0 and rng.random() < cfg.grayscale:
            x = (
                (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))
                .sum(dim=1, keepdim=True)
                .expand_as(x)
            )
        if cfg.occlusion > 0 and rng.random() < cfg.occlusion:
            x = self._occlude(x)
        if rng.random() < cfg.erase:
            x = self._erase(x)
        return x.contiguous()

    def _occlude(self, x: Tensor) -> Tensor:
        h, w = self.size
        share = self.rng.uniform(*self.cfg.occlusion_share)
        colour = x.new_tensor([self.rng.random() for _ in range(3)]).view(3, 1, 1)
        x = x.clone()
        edge = self.rng.choice(("bottom", "left", "right"))
        if edge == "bottom":
            x[..., h - max(1, round(h * share)) :, :] = colour
        elif edge == "left":
            x[..., : max(1, round(w * share))] = colour
        else:
            x[..., w - max(1, round(w * share)) :] = colour
        return x

    def _erase(self, x: Tensor) -> Tensor:
        h, w = self.size
        for _ in range(10):
            area = self.rng.uniform(*self.cfg.erase_area) * h * w
            ratio = math.exp(
                self.rng.uniform(math.log(self.cfg.erase_ratio), -math.log(self.cfg.erase_ratio))
            )
            eh, ew = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < eh < h and 0 < ew < w:
                top, left = self.rng.randint(0, h - eh), self.rng.randint(0, w - ew)
                x = x.clone()
                x[..., top : top + eh, left : left + ew] = torch.tensor(
                    [self.rng.random() for _ in range(3)]
                ).view(3, 1, 1)
                return x
        return x
