"""Folding time into the batch and back, written so that an export keeps B and T dynamic.

Every size is read from the tensor (`x.size(i)`, Shape and Gather nodes in ONNX), never taken as a
Python int, so no B or T is frozen into the graph; and the rank of every result is explicit, which
the TorchScript exporter needs to type what follows (`flatten` / `unflatten`, or a reshape to a
shape list of unknown length, lose the rank after the GRU-RCN's `Loop`).
"""

from __future__ import annotations

from torch import Tensor


def merge_time(x: Tensor) -> Tensor:
    """Frames (B, T, C, H, W) -> (B*T, C, H, W)."""
    return x.reshape(-1, x.size(2), x.size(3), x.size(4))


def split_time(x: Tensor, batch: int, steps: int) -> Tensor:
    """Maps (B*T, C, H, W) -> (B, T, C, H, W)."""
    return x.reshape(batch, steps, x.size(1), x.size(2), x.size(3))


def split_vectors(x: Tensor, batch: int, steps: int) -> Tensor:
    """Vectors (B*T, F) -> (B, T, F)."""
    return x.reshape(batch, steps, x.size(1))
