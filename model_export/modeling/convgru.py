"""The GRU-RCN unit of Ballas et al. (ICLR 2016), the recurrence of Wu et al.

Gates and candidate are convolutions, so the hidden state keeps the feature map's spatial layout and
can follow local motion:

    z_t = sigmoid(W_z * x_t + U_z * h_{t-1})
    r_t = sigmoid(W_r * x_t + U_r * h_{t-1})
    c_t = tanh(W * x_t + U * (r_t . h_{t-1}))
    h_t = (1 - z_t) . h_{t-1} + z_t . c_t

The input-to-hidden convolutions do not depend on h, so they run once over all B*T frames; only the
hidden-to-hidden convolutions are stepped. The step loop is a plain `for t in range(x.size(1))` that
TorchScript turns into an ONNX `Loop` with T read from the input shape: no size is ever taken as a
Python int, so an export keeps B and T dynamic (see shared/notes/onnx-export.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model_export.modeling.shapes import merge_time, split_time


class ConvGRU(nn.Module):
    """One GRU-RCN layer over a sequence of maps; returns the mean over time of the pooled states."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.hidden = hidden
        self.x2h = nn.Conv2d(in_channels, 3 * hidden, kernel_size, padding=pad)  # W_z, W_r, W
        self.h2zr = nn.Conv2d(hidden, 2 * hidden, kernel_size, padding=pad, bias=False)  # U_z, U_r
        self.h2c = nn.Conv2d(hidden, hidden, kernel_size, padding=pad, bias=False)  # U

    def step(self, xt: Tensor, h: Tensor) -> Tensor:
        xz, xr, xc = xt.chunk(3, dim=1)
        hz, hr = self.h2zr(h).chunk(2, dim=1)
        z = torch.sigmoid(xz + hz)
        r = torch.sigmoid(xr + hr)
        c = torch.tanh(xc + self.h2c(r * h))
        return (1.0 - z) * h + z * c

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C, H, W) -> (B, T, hidden, H, W): the hidden state after every step."""
        xs = split_time(self.x2h(merge_time(x)), x.size(0), x.size(1))
        h = torch.zeros_like(xs[:, 0, : self.hidden])
        states: list[Tensor] = []
        for t in range(xs.size(1)):
            h = self.step(xs[:, t], h)
            states.append(h)
        return torch.stack(states, dim=1)
