"""Frame backbones behind one option: `paper` (from scratch) or `mobilenetv2` (ImageNet)."""

from __future__ import annotations

from model_export.modeling.backbones.base import Backbone
from model_export.modeling.backbones.mobilenetv2 import MobileNetV2
from model_export.modeling.backbones.paper_cnn import PaperCNN

BACKBONES = ("paper", "mobilenetv2")


def build_backbone(name: str, pretrained: bool = True) -> Backbone:
    if name == "paper":
        return PaperCNN()
    if name == "mobilenetv2":
        return MobileNetV2(pretrained=pretrained)
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


__all__ = ["BACKBONES", "Backbone", "build_backbone"]
