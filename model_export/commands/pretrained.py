"""`pretrained`: a published backbone's weights as a checkpoint, untrained: to fine-tune, export or
compare."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "pretrained"


def add_parser(sub: Any) -> None:
    parser = command(
        sub,
        NAME,
        "a published backbone's weights as a checkpoint (no training): to fine-tune, export or compare",
    )
    parser.add_argument(
        "--backbone", default="osnet_x0_25", choices=("osnet_x0_25", "osnet_ibn_x0_25", "openvino_ir")
    )
    parser.add_argument(
        "--backbone-weights", type=Path, required=True, help="e.g. torchreid's osnet_x0_25_msmt17.pth"
    )
    parser.add_argument("--out", type=Path, required=True, help="the checkpoint to write")


def run(args: argparse.Namespace) -> int:
    from model_export.engine.pretrained import write_pretrained

    print(write_pretrained(args.backbone, args.backbone_weights, args.out))
    return 0
