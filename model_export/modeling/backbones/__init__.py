"""Frame backbones behind one option: `paper` (from scratch), `mobilenetv2` (ImageNet),
`osnet_x0_25` (torchreid's re-id weights), `osnet_ibn_x0_25` (the same with instance norm in its
first stage) or `openvino_ir` (a published OpenVINO IR re-id network, Intel's Apache-2.0 ones, read
from `--backbone-weights MODEL.xml` and trained from its own weights)."""

from __future__ import annotations

from pathlib import Path

from model_export.modeling.backbones.base import Backbone
from model_export.modeling.backbones.mobilenetv2 import MobileNetV2
from model_export.modeling.backbones.openvino_ir import OpenVinoIRNet
from model_export.modeling.backbones.osnet import OSNet
from model_export.modeling.backbones.paper_cnn import PaperCNN

BACKBONES = ("paper", "mobilenetv2", "osnet_x0_25", "osnet_ibn_x0_25", "openvino_ir")
# torchreid's OSNet x0.25 trained on Market-1501 (MIT code; the data's terms are research-only).
OSNET_WEIGHTS = Path("../shared/peers/torchreid-osnet/osnet_x0_25_market1501.pth")


def build_backbone(
    name: str, pretrained: bool = True, weights: Path | None = None, input_size: tuple[int, int] | None = None
) -> Backbone:
    """`weights` overrides where a pretrained backbone's file is read from (OSNet); an IR backbone's
    graph is its file, so it always needs one, and starts from the file's weights even when a
    checkpoint's will replace them. `input_size` (height, width) other than the backbone's own is for
    an IR backbone only, whose global pooling kernel follows it; the others keep the size their
    weights were trained at."""
    if input_size is not None and name != "openvino_ir":
        raise ValueError(f"backbone {name} takes only its own input size; --input-size is for openvino_ir")
    if name == "paper":
        return PaperCNN()
    if name == "mobilenetv2":
        return MobileNetV2(pretrained=pretrained)
    if name in ("osnet_x0_25", "osnet_ibn_x0_25"):
        ibn = name == "osnet_ibn_x0_25"
        return OSNet((weights or OSNET_WEIGHTS) if pretrained else None, instance_norm=ibn)
    if name == "openvino_ir":
        if weights is None:
            raise ValueError("backbone openvino_ir needs --backbone-weights pointing at the IR's .xml")
        return OpenVinoIRNet(weights, input_size)
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


__all__ = ["BACKBONES", "Backbone", "build_backbone"]
