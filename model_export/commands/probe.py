"""`probe`: the parity probe's fp32 references written into ONNX files made before `export` did it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "probe"


def add_parser(sub: Any) -> None:
    parser = command(
        sub,
        NAME,
        "write the parity probe's fp32 references into ONNX files (export does it; for older files)",
    )
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--threads", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from model_export.export.probe import write_probe

    for path in args.models:
        probe = write_probe(path, args.threads).probe
        assert probe is not None
        print(f"{path}: probe references for {len(probe.lengths)} tracklets ({probe.computed_with})")
    return 0
