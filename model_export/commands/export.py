"""`export`: a checkpoint -> an ONNX file (dynamic B and T, the contract's metadata), evaluated,
calibrated and verified."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "export"


def add_parser(sub: Any) -> None:
    parser = command(
        sub, NAME, "checkpoint -> ONNX (dynamic B and T, contract metadata), evaluated and verified"
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--name", required=True, help="model name, e.g. grurcn-mobilenetv2-cuhk03")
    parser.add_argument("--semver", default="1.0.0", help="the weights' hash is appended: 1.0.0+3f2a9c1e")
    parser.add_argument("--frames-per-chunk", type=int, default=16)
    parser.add_argument("--slim", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--precision", choices=("fp32", "fp16"), default="fp32", help="fp16: the GPU variant (half the size)"
    )
    parser.add_argument(
        "--data-root", type=Path, default=None, help="evaluate on this data (default: the checkpoint's)"
    )
    parser.add_argument("--no-evaluate", action="store_true", help="write no evaluation figures")
    parser.add_argument(
        "--calibration-root",
        type=Path,
        default=Path("../shared/data"),
        help="holds peta/VIPeR and peta/PRID: the file's thresholds are measured there",
    )
    parser.add_argument("--threads", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import torch

    from model_export.engine.checkpoint import load_model, taught_by, trained_on
    from model_export.engine.interpolate import interpolated_from
    from model_export.evaluation.peers import DEFAULT_TEACHERS
    from model_export.export import card
    from model_export.export.measure import measure_and_verify, torch_reference
    from model_export.export.onnx import export_onnx

    if args.threads:
        torch.set_num_threads(args.threads)
    net, cfg = load_model(args.checkpoint)
    learned_from = trained_on(args.checkpoint)
    teachers = taught_by(args.checkpoint)
    taught = DEFAULT_TEACHERS if teachers is None else teachers
    interpolation = interpolated_from(args.checkpoint)
    meta = export_onnx(
        net,
        args.out,
        name=args.name,
        semver=args.semver,
        architecture=card.architecture(cfg, learned_from),
        training_data=card.training_data(
            cfg,
            learned_from,
            taught,
            None if interpolation is None else interpolation.alpha,
            1 if interpolation is None else len(interpolation.fine_tuned),
        ),
        license=card.license_text(cfg, learned_from, taught),
        intended_use=card.INTENDED_USE,
        frames_per_chunk=args.frames_per_chunk,
        slim=args.slim,
        precision=args.precision,
    )
    data_root = args.data_root or cfg.data_root
    # The multi-site mix is evaluated on CUHK03 val: record it under that set's name and protocol.
    dataset, eval_root = (
        ("cuhk03", Path(data_root) / "cuhk03") if learned_from == "multisite" else (cfg.dataset, data_root)
    )
    return measure_and_verify(
        args.out,
        meta,
        torch_reference(net),
        dataset=dataset,
        eval_root=eval_root,
        split_id=cfg.split_id,
        calibration_root=args.calibration_root if not args.no_evaluate else None,
        real_frames_root=eval_root if dataset == "cuhk03" else None,
        threads=args.threads,
    )
