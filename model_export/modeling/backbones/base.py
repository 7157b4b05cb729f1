"""What a frame backbone promises to the temporal heads built on it."""

from __future__ import annotations

from torch import Tensor, nn


class Backbone(nn.Module):
    """A per-frame CNN that returns feature maps from several of its levels, shallow to deep.

    The input size and the pixel normalisation belong to the backbone (they are what its weights
    were trained with), so they travel with it into the network and from there into the ONNX file.
    """

    name: str = ""
    input_size: tuple[int, int] = (128, 64)  # (height, width)
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    level_channels: tuple[int, ...] = ()

    def forward(self, x: Tensor) -> list[Tensor]:  # (N, 3, H, W) -> one (N, C_l, H_l, W_l) per level
        raise NotImplementedError
