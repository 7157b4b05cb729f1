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
    # Hidden channels of the GRU-RCN at each level: what the recurrence may spend on this backbone.
    gru_hidden: tuple[int, ...] = ()
    # Read when the network is built, never in the exported graph: TorchScript must not compile it.
    __jit_unused_properties__: list[str] = ["frame_dim"]  # noqa: RUF012 - TorchScript's own hook

    @property
    def frame_dim(self) -> int:
        return self.level_channels[-1]

    def frame_vectors(self, last_level: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, frame_dim): one vector per frame; a backbone with a pretrained head
        on top of its last map overrides this."""
        return last_level.mean(dim=(2, 3))

    def scriptable(self) -> nn.Module:
        """What the exporter scripts in this backbone's place: itself, unless its code is beyond
        TorchScript's types (then a traced copy with `forward` and `frame_vectors`)."""
        return self

    def forward(self, x: Tensor) -> list[Tensor]:  # (N, 3, H, W) -> one (N, C_l, H_l, W_l) per level
        raise NotImplementedError
