"""`calibrate`: an ONNX file's thresholds measured on cameras it never saw (VIPeR, PRID), written
into its metadata."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "calibrate"


def add_parser(sub: Any) -> None:
    parser = command(
        sub, NAME, "measure an ONNX file's thresholds on unseen cameras (VIPeR, PRID) into its metadata"
    )
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"), help="holds peta/")
    parser.add_argument("--threads", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from model_export.export.measure import calibrate_into

    for path in args.models:
        print(path)
        if calibrate_into(path, args.data_root, args.threads) is None:
            return 1
    return 0
