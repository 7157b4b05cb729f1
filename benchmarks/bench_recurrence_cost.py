"""What the recurrence costs: FLOPs per frame of each frame network with each temporal head.

    .venv/bin/python -m benchmarks.bench_recurrence_cost [--frames 16]

Counted by PyTorch's FLOP counter on the eval graph (multiply-adds count 2), for a chunk of
`--frames` frames at each backbone's input size, divided by the frames. Accuracy for the same rows
comes from `model_export compare`; docs/model.md puts the two side by side.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from model_export.modeling.backbones import build_backbone
from model_export.modeling.network import ReIDNet

ROWS: tuple[tuple[str, str], ...] = (
    ("osnet_x0_25", "pooling"),
    ("osnet_x0_25", "recurrent_last"),
    ("osnet_x0_25", "recurrent"),
    ("mobilenetv2", "pooling"),
    ("mobilenetv2", "recurrent"),
)


def mflops_per_frame(backbone: str, head: str, frames: int) -> tuple[float, tuple[int, int]]:
    """MFLOP per frame, and the input size they were counted at."""
    net = ReIDNet(build_backbone(backbone, pretrained=False), num_classes=1, head=head).eval()
    x = torch.rand(1, frames, 3, *net.input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / frames / 1e6, net.input_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    print(f"| frame network | head | input | MFLOP per frame (chunk of {args.frames}) | of which temporal |")
    print("| --- | --- | --- | --- | --- |")
    base: dict[str, float] = {}
    for backbone, head in ROWS:
        cost, size = mflops_per_frame(backbone, head, args.frames)
        base.setdefault(backbone, cost)  # pooling comes first: the frame network alone
        extra = cost - base[backbone]
        print(f"| {backbone} | {head} | {size[0]}x{size[1]} | {cost:.0f} | {extra:.0f} |")


if __name__ == "__main__":
    main()
