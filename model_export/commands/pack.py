"""`pack`: a split, its frames and its teachers' vectors in one folder, to train where the data is
not (read back with `--dataset pack`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import split_command

NAME = "pack"


def add_parser(sub: Any) -> None:
    parser = split_command(
        sub,
        NAME,
        "a split, its frames and its teachers' vectors in one folder, to train where the data is not",
    )
    parser.add_argument("--split-id", type=int, default=0)
    parser.add_argument(
        "--held-out-site", default=None, help="a site packed as the evaluation set instead of for training"
    )
    parser.add_argument("--teacher-cache", type=Path, default=None, help="what `teach` wrote for this data")
    parser.add_argument(
        "--unlabeled-root",
        type=Path,
        default=None,
        help="tracks without identities to carry along (under <pack>/unlabeled; their teachers' vectors too)",
    )
    parser.add_argument("--out", type=Path, required=True, help="a new folder; read it with --dataset pack")


def run(args: argparse.Namespace) -> int:
    from model_export.data.pack import write_pack
    from model_export.data.readers import open_split
    from model_export.data.readers.unlabeled import read_unlabeled

    split = open_split(args.dataset, args.data_root, args.split_id, args.held_out_site)
    unlabeled = read_unlabeled(args.unlabeled_root) if args.unlabeled_root is not None else []
    out = write_pack(split, args.out, args.teacher_cache, unlabeled=unlabeled)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(split.summary())
    print(f"-> {out} ({size / 1e6:.1f} MB); train on it with --dataset pack --data-root {out}")
    return 0
