"""Augmentation drawn once per tracklet and applied identically to all of its frames.

Drawing per frame would make consecutive frames jump around and destroy exactly the motion the
recurrence is meant to model. All work is on uint8 / float tensors (T, 3, H, W); no PIL per frame.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

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
        if cfg.lowres > 0 and rng.random() < cfg.lowres:
            share = rng.uniform(*cfg.lowres_scale)
            x = resize(resize(x, (max(2, round(h * share)), max(2, round(w * share)))), self.size)
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
        if rng.random() < cfg.erase:
            x = self._erase(x)
        return x.contiguous()

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
