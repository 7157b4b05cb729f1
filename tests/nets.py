"""Networks and exports for tests: random weights that behave like trained ones, exported quickly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

from model_export.export.onnx import export_onnx
from model_export.modeling.network import ReIDNet
from reid_contract import ModelMetadata


def trained_like(net: ReIDNet) -> ReIDNet:
    """Random weights with non-trivial BN statistics and a recurrence that matters, as after training."""
    generator = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 1.5, generator=generator)
    if hasattr(net.temporal, "mix"):
        torch.nn.init.normal_(net.temporal.mix.weight, std=0.05, generator=generator)
    return net.eval()


def export_for_tests(
    net: ReIDNet,
    out: Path,
    name: str = "test-model",
    *,
    slim: bool = True,
    precision: Literal["fp32", "fp16"] = "fp32",
    frames_per_chunk: int = 16,
) -> ModelMetadata:
    return export_onnx(
        net,
        out,
        name=name,
        semver="0.1.0",
        architecture="test network, random weights",
        training_data="none",
        license="MIT",
        intended_use="tests",
        frames_per_chunk=frames_per_chunk,
        slim=slim,
        precision=precision,
    )
