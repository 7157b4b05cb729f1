"""OSNet x0.25 (Zhou et al., ICCV 2019) as a multi-level frame backbone, written from the paper.

Omni-scale residual blocks: four streams of 1, 2, 3 and 4 stacked lite 3x3 convolutions see four
receptive fields, and a channel gate shared by the streams mixes them per channel. The network was
designed for person re-id at 256x128, and at x0.25 width it costs about a quarter of MobileNetV2
at that size. Module names follow torchreid's state dicts, so their MIT-licensed weights load with
strict key checks (`load_torchreid_weights`): a renamed, missing or extra tensor fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from model_export.modeling.backbones.base import Backbone


class ConvLayer(nn.Module):
    """Convolution, batch norm, ReLU: the stem."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class Conv1x1(ConvLayer):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(in_ch, out_ch, 1)


class Conv1x1Linear(nn.Module):
    """1x1 convolution and batch norm without activation: the residual branch's projections."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class LightConv3x3(nn.Module):
    """Pointwise then depthwise 3x3: the paper's 'lite' convolution, a 3x3 at a ninth of the cost."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False, groups=out_ch)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    """The unified aggregation gate: one squeeze-excitation shared by the four streams."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.fc2(self.relu(self.fc1(self.global_avgpool(x)))))


class OSBlock(nn.Module):
    """`instance_norm`: normalise each image's output by its own statistics (IBN-Net, as OSNet-IBN
    does in its first stage), which removes a camera's colour and contrast cast before the layers
    that learn identity."""

    def __init__(
        self, in_ch: int, out_ch: int, bottleneck_reduction: int = 4, instance_norm: bool = False
    ) -> None:
        super().__init__()
        mid = out_ch // bottleneck_reduction
        self.conv1 = Conv1x1(in_ch, mid)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(2)])
        self.conv2c = nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(3)])
        self.conv2d = nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(4)])
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1Linear(mid, out_ch)
        self.downsample: nn.Module = Conv1x1Linear(in_ch, out_ch) if in_ch != out_ch else nn.Identity()
        norm = nn.InstanceNorm2d(out_ch, affine=True) if instance_norm else nn.Identity()
        self.instance_norm: nn.Module = norm

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.conv1(x)
        x2 = (
            self.gate(self.conv2a(x1))
            + self.gate(self.conv2b(x1))
            + self.gate(self.conv2c(x1))
            + self.gate(self.conv2d(x1))
        )
        return torch.relu(self.instance_norm(self.conv3(x2) + self.downsample(x)))


def _stage(in_ch: int, out_ch: int, blocks: int, reduce: bool, instance_norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [OSBlock(in_ch, out_ch, instance_norm=instance_norm)]
    layers += [OSBlock(out_ch, out_ch, instance_norm=instance_norm) for _ in range(blocks - 1)]
    if reduce:
        layers.append(nn.Sequential(Conv1x1(out_ch, out_ch), nn.AvgPool2d(2, stride=2)))
    return nn.Sequential(*layers)


class OSNet(Backbone):
    """Levels after stages 2, 3 and 5 (strides 8, 16 and 16 at 256x128: 64, 96 and 128 channels).

    torchreid's 512-d `fc` head (linear, batch norm, ReLU on the pooled last map) is part of the
    pretrained network, so it is kept: `frame_vectors` applies it, and the temporal heads pool its
    512-d outputs.
    """

    name = "osnet_x0_25"
    input_size = (256, 128)
    channels = (16, 64, 96, 128)
    level_channels = (64, 96, 128)
    # Small states: at x0.25 width a GRU-RCN as wide as the maps would cost more than the network.
    gru_hidden = (16, 32, 64)
    head_dim = 512

    def __init__(self, weights: Path | None = None, instance_norm: bool = False) -> None:
        super().__init__()
        c = self.channels
        self.conv1 = ConvLayer(3, c[0], 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = _stage(c[0], c[1], 2, reduce=True, instance_norm=instance_norm)
        self.conv3 = _stage(c[1], c[2], 2, reduce=True)
        self.conv4 = _stage(c[2], c[3], 2, reduce=False)
        self.conv5 = Conv1x1(c[3], c[3])
        self.fc = nn.Sequential(nn.Linear(c[3], self.head_dim), nn.BatchNorm1d(self.head_dim), nn.ReLU())
        if weights is not None:
            load_torchreid_weights(self, weights)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.conv1(x))
        l2 = self.conv2(x)
        l3 = self.conv3(l2)
        l5 = self.conv5(self.conv4(l3))
        return [l2, l3, l5]

    @property
    def frame_dim(self) -> int:
        return self.head_dim

    def frame_vectors(self, last_level: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, 512): the pretrained head on the pooled last map."""
        return self.fc(last_level.mean(dim=(2, 3)))


def load_torchreid_weights(net: OSNet, path: Path) -> None:
    """Load a torchreid OSNet x0.25 state dict; only its identity classifier may be left out (it
    names the identities of the set it was trained on, not ours), and on an IBN network the instance
    norms, which plain OSNet files lack and which then start as the identity map. Anything else
    missing, extra or of another shape raises."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    own = net.state_dict()
    for key, value in own.items():
        if ".instance_norm." in key and key not in state:
            state[key] = value
    net.load_state_dict(state, strict=True)
