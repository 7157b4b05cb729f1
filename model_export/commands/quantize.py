"""`quantize`: an exported fp32 file -> its int8 variant (sensitive layers kept in float), measured
and verified against the fp32 file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "quantize"


def add_parser(sub: Any) -> None:
    parser = command(
        sub, NAME, "an exported file -> its int8 variant (sensitive layers in float), measured and verified"
    )
    parser.add_argument("model", type=Path, help="an fp32 file made by export")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--data-root",
        type=Path,
        default=Path("../shared/data"),
        help="holds cuhk03/ (calibration, evaluation) and peta/",
    )
    parser.add_argument("--tracklets", type=int, default=64, help="CUHK03 training tracklets to calibrate on")
    parser.add_argument("--threads", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from model_export.data.readers.cuhk03 import read_cuhk03_train
    from model_export.export.measure import measure_and_verify
    from model_export.export.quantize import calibration_batches, quantize_file
    from model_export.export.verify import open_session
    from reid_contract import read_metadata

    meta = read_metadata(args.model)
    if meta.precision != "fp32":
        raise SystemExit(f"{args.model} is stored in {meta.precision}: quantise the fp32 file")
    cuhk03 = args.data_root / "cuhk03"
    train = read_cuhk03_train(cuhk03, "labeled")  # training people only: never a test set
    batches = calibration_batches(train, (meta.height, meta.width), args.tracklets)
    int8 = quantize_file(args.model, args.out, batches, meta)
    source = open_session(args.model, args.threads)

    def fp32(frames: np.ndarray) -> np.ndarray:
        return source.run([meta.output_name], {meta.input_name: frames})[0]

    return measure_and_verify(
        args.out,
        int8,
        fp32,
        dataset="cuhk03",
        eval_root=cuhk03,
        split_id=0,
        calibration_root=args.data_root,
        real_frames_root=cuhk03,
        threads=args.threads,
    )
