"""Temporal heads: how per-frame features become one sequence vector.

`PoolingHead` is the baseline of Gao & Nevatia (2018): the mean of the frame vectors. `RecurrentHead`
is the paper's: each backbone level feeds a GRU-RCN, every step's hidden maps are pooled over space,
and the steps are pooled over time. It is written as a residual on top of the pooled frame vectors,
`mean_t f_t + W . mean_t g_t`, with W small at the start, so that training begins from the pooling
solution and the recurrence only has to learn what it adds (on CUHK03's five-image tracklets a
recurrence trained alone overfits within minutes, issue 2's measurements).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model_export.modeling.convgru import ConvGRU
from model_export.modeling.shapes import split_time


class PoolingHead(nn.Module):
    def forward(self, frame_vectors: Tensor, levels: list[Tensor]) -> Tensor:
        """frame_vectors (B, T, F) -> (B, F)."""
        return frame_vectors.mean(dim=1)


class LevelGRU(nn.Module):
    """One backbone level: a 1x1 projection, then a GRU-RCN stepped over time.

    The projection comes first because 3x3 gate convolutions on a 1280-channel map would cost more
    than the backbone itself.
    """

    def __init__(self, in_channels: int, hidden: int) -> None:
        super().__init__()
        self.project = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)
        )
        self.gru = ConvGRU(hidden, hidden)

    def forward(self, level: Tensor, batch: int, steps: int) -> Tensor:
        """(B*T, C, H, W) -> (B, hidden): hidden maps pooled over space, then over time."""
        states = self.gru(split_time(self.project(level), batch, steps))
        return states.mean(dim=(3, 4)).mean(dim=1)


class RecurrentHead(nn.Module):
    """GRU-RCNs on the backbone levels listed in `levels` (all of them by default)."""

    def __init__(
        self,
        level_channels: tuple[int, ...],
        hidden: tuple[int, ...],
        out_dim: int,
        levels: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if len(level_channels) != len(hidden):
            raise ValueError("one hidden size per backbone level")
        self.level_ids: list[int] = list(levels if levels is not None else range(len(level_channels)))
        self.levels = nn.ModuleList(LevelGRU(level_channels[i], hidden[i]) for i in self.level_ids)
        self.mix = nn.Linear(sum(hidden[i] for i in self.level_ids), out_dim, bias=False)
        nn.init.normal_(self.mix.weight, std=1e-3)

    def forward(self, frame_vectors: Tensor, levels: list[Tensor]) -> Tensor:
        batch, steps = frame_vectors.size(0), frame_vectors.size(1)
        pooled: list[Tensor] = []
        for k, level_gru in enumerate(self.levels):
            pooled.append(level_gru(levels[self.level_ids[k]], batch, steps))
        return frame_vectors.mean(dim=1) + self.mix(torch.cat(pooled, dim=1))
