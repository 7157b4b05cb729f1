"""Frame backbones behind one option: `paper` (from scratch), `mobilenetv2` (ImageNet),
`osnet_x0_25` (torchreid's re-id weights) or `osnet_ibn_x0_25` (the same with instance norm in its
first stage)."""

from __future__ import annotations

from pathlib import Path

from model_export.modeling.backbones.base import Backbone
from model_export.modeling.backbones.mobilenetv2 import MobileNetV2
from model_export.modeling.backbones.osnet import OSNet
from model_export.modeling.backbones.paper_cnn import PaperCNN

BACKBONES = ("paper", "mobilenetv2", "osnet_x0_25", "osnet_ibn_x0_25")
# torchreid's OSNet x0.25 trained on Market-1501 (MIT code; the data's terms are research-only).
OSNET_WEIGHTS = Path("../shared/peers/torchreid-osnet/osnet_x0_25_market1501.pth")


def build_backbone(name: str, pretrained: bool = True, weights: Path | None = None) -> Backbone:
    """`weights` overrides where a pretrained backbone's file is read from (OSNet only)."""
    if name == "paper":
        return PaperCNN()
    if name == "mobilenetv2":
        return MobileNetV2(pretrained=pretrained)
    if name in ("osnet_x0_25", "osnet_ibn_x0_25"):
        ibn = name == "osnet_ibn_x0_25"
        return OSNet((weights or OSNET_WEIGHTS) if pretrained else None, instance_norm=ibn)
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


__all__ = ["BACKBONES", "Backbone", "build_backbone"]
