"""The frame CNN of the paper, trained from scratch.

Wu et al. show "three-layer CNNs" per frame and take feature maps from every level; the layer sizes
we do not know from them, so this follows their direct predecessor (McLaughlin et al., CVPR 2016):
frames of 64x48, three 5x5 convolutions of 16/32/32 channels, tanh, 2x2 max pooling after each.
Each level's pooled map is one output level, so the recurrence sees fine (32x24) to coarse (8x6)
layouts. Unlike McLaughlin we feed RGB only, without the two optical-flow channels: motion is the
recurrence's job here, and a serving path without an optical-flow solver stays simple. Batch norm
after each convolution is our addition: it makes training from scratch with Adam stable.
"""

from __future__ import annotations

from torch import Tensor, nn

from model_export.modeling.backbones.base import Backbone


class PaperCNN(Backbone):
    name = "paper"
    input_size = (64, 48)
    pixel_mean = (0.5, 0.5, 0.5)
    pixel_std = (0.25, 0.25, 0.25)
    level_channels = (16, 32, 32)
    gru_hidden = (16, 32, 32)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for out_ch in self.level_channels:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(in_ch, out_ch, kernel_size=5, padding=2, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.Tanh(),
                    nn.MaxPool2d(2),
                )
            )
            in_ch = out_ch
        self.levels = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        # A list literal, not appends in a loop: the TorchScript exporter loses the element type of
        # a list grown from empty through max pooling, and cannot export the GRU-RCN after it.
        first = self.levels[0](x)
        second = self.levels[1](first)
        return [first, second, self.levels[2](second)]
