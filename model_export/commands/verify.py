"""`verify`: an ONNX file checked against the contract, and against a checkpoint where given."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "verify"


def add_parser(sub: Any) -> None:
    parser = command(sub, NAME, "check an ONNX file against the contract (and a checkpoint)", defaults=False)
    parser.add_argument("model", type=Path)
    parser.add_argument("--checkpoint", type=Path, default=None, help="parity against this network")
    parser.add_argument(
        "--cuhk03-root", type=Path, default=None, help="also check parity on real frames of CUHK03 val"
    )
    parser.add_argument("--threads", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from model_export.engine.checkpoint import load_model
    from model_export.export.measure import cuhk03_pool, torch_reference
    from model_export.export.verify import verify

    reference, pool = None, None
    if args.checkpoint is not None:
        net, _ = load_model(args.checkpoint)
        reference = torch_reference(net)
        if args.cuhk03_root is not None:
            pool = cuhk03_pool(args.cuhk03_root, net.input_size)
    report = verify(args.model, reference, pool, threads=args.threads)
    print(report.table())
    return 0 if report.ok else 1
