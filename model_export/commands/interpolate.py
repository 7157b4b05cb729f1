"""`interpolate`: fine-tuned checkpoints averaged (a soup) and moved part of the way back to the
published weights they started from."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "interpolate"


def add_parser(sub: Any) -> None:
    parser = command(
        sub, NAME, "fine-tuned checkpoints averaged and moved part of the way back to their published weights"
    )
    parser.add_argument(
        "checkpoints",
        type=Path,
        nargs="+",
        help="the fine-tuned run's checkpoint; several runs from the same start are averaged first (a soup)",
    )
    parser.add_argument(
        "--start", type=Path, required=True, help="the published network it started from (`pretrained`)"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.5, help="1: the fine-tuned weights, 0: the published ones"
    )
    parser.add_argument("--out", type=Path, required=True, help="the checkpoint to write")


def run(args: argparse.Namespace) -> int:
    from model_export.engine.interpolate import write_interpolated

    try:
        how = write_interpolated(args.checkpoints, args.start, args.alpha, args.out)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    runs = ", ".join(how.fine_tuned)
    print(f"{how.alpha:g} of the way from {how.start} to the mean of {runs} -> {args.out}")
    return 0
