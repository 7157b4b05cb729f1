"""`teach`: every training crop embedded once by the teachers (peers by name, or our own exported
files): the cache of targets that `train --teacher-cache` distils from."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import split_command
from model_export.evaluation.peers import DEFAULT_TEACHERS

NAME = "teach"


def add_parser(sub: Any) -> None:
    parser = split_command(
        sub, NAME, "embed every training crop with peer models once: the targets of distillation"
    )
    parser.add_argument("--peers-root", type=Path, default=Path("../shared/peers"))
    parser.add_argument(
        "--teachers",
        nargs="+",
        default=list(DEFAULT_TEACHERS),
        help="peers by name (model_export/evaluation/peers.py), or our own exported .onnx files (an "
        "ensemble taught to one network); a teacher's terms carry over to what it teaches",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/teachers/multisite.npz"))
    parser.add_argument(
        "--unlabeled-root",
        type=Path,
        default=None,
        help="also every crop of this folder of tracks without identities (train --unlabeled-root)",
    )
    parser.add_argument("--threads", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from model_export.data.readers import open_split
    from model_export.data.readers.unlabeled import read_unlabeled
    from model_export.evaluation.peers import build_peer
    from model_export.teaching.file_teacher import ContractFileTeacher
    from model_export.teaching.teacher_cache import CropEmbedFn, build_teacher_cache

    split = open_split(args.dataset, args.data_root)
    frames = [f for t in split.train for f in t.frames]
    if args.unlabeled_root is not None:
        frames += [f for t in read_unlabeled(args.unlabeled_root) for f in t.frames]
    teachers: dict[str, CropEmbedFn] = {}
    sizes = set()
    for spec in args.teachers:
        teacher = (
            ContractFileTeacher(Path(spec), threads=args.threads)
            if spec.endswith(".onnx")
            # OpenVINO's fastest precision: training needs no bit-equal targets across machines
            else build_peer(spec, args.peers_root, args.threads, precision=None)
        )
        teachers[teacher.name] = teacher
        sizes.add(teacher.input_size)
    if len(sizes) != 1:
        raise SystemExit(f"teachers of different input sizes {sorted(sizes)}: build one cache per size")
    out = build_teacher_cache(frames, teachers, args.out, input_size=sizes.pop())
    print(f"{len(set(frames))} crops x {len(teachers)} teachers -> {out}")
    return 0
