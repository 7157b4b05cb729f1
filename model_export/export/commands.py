"""The `export`, `quantize`, `calibrate` and `verify` commands: the CLI's options -> the export modules."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from model_export.data.dataset import FrameStore
from model_export.data.readers import read_cuhk03
from model_export.engine.checkpoint import load_model, taught_by, trained_on
from model_export.engine.interpolate import interpolated_from
from model_export.evaluation.compare import TEST_SETS, UNSEEN
from model_export.evaluation.peers import DEFAULT_TEACHERS
from model_export.export import card
from model_export.export.onnx import as_float_frames, export_onnx, write_metadata
from model_export.export.probe import write_probe
from model_export.export.runtime import calibrate_onnx, evaluate_onnx, read_metadata
from model_export.export.verify import Reference, open_session, verify
from model_export.modeling.network import ReIDNet
from reid_contract import Calibration, Evaluation, ModelMetadata


def torch_reference(net: ReIDNet) -> Reference:
    def run(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(as_float_frames(torch.from_numpy(frames))).numpy()

    return run


def cuhk03_pool(root: Path, size: tuple[int, int], count: int = 60) -> np.ndarray:
    """Real frames (N, H, W, 3) uint8: the query tracklets of CUHK03 val, decoded as in evaluation."""
    split = read_cuhk03(root)
    store = FrameStore(size, cache_limit=0)
    paths = [p for t in split.query for p in t.frames][:count]
    return store.load_many(paths).permute(0, 2, 3, 1).contiguous().numpy()


def evaluation_from(summary: dict[str, object], dataset: str) -> Evaluation:
    mean = summary["mean"]
    assert isinstance(mean, dict)
    directions = {
        name: {"rank1": float(figures["rank1"]), "mAP": float(figures["mAP"])}
        for name, figures in summary.items()
        if name != "mean" and isinstance(figures, dict)
    }
    return Evaluation(
        dataset=dataset,
        protocol=card.PROTOCOL.get(dataset, f"{dataset} query/gallery protocol, cosine similarity"),
        directions=directions,
        **{k: float(mean[k]) for k in ("rank1", "rank5", "rank10", "rank20", "mAP")},
    )


def export_command(args: argparse.Namespace) -> int:
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


def measure_and_verify(
    path: Path,
    meta: ModelMetadata,
    reference: Reference,
    *,
    dataset: str,
    eval_root: Path,
    split_id: int,
    calibration_root: Path | None,
    real_frames_root: Path | None,
    threads: int,
) -> int:
    """What every written file goes through: evaluated and calibrated on itself (unless
    `calibration_root` is None: no figures at all), then verified against `reference` on random
    frames and, where `real_frames_root` holds CUHK03, real ones."""
    meta = write_probe(path, threads)
    if calibration_root is not None:
        summary = evaluate_onnx(path, dataset, eval_root, split_id, threads=threads)
        meta = meta.model_copy(update={"evaluation": evaluation_from(summary, dataset)})
        write_metadata(path, meta)
        meta = calibrate_into(path, calibration_root, threads) or meta
    pool = cuhk03_pool(real_frames_root, (meta.height, meta.width)) if real_frames_root is not None else None
    report = verify(path, reference, pool, threads=threads)
    print(report.table())
    print(meta.model_dump_json(indent=2, exclude={"probe"}))  # the probe: 768 numbers nobody reads
    return 0 if report.ok else 1


def quantize_command(args: argparse.Namespace) -> int:
    from model_export.data.readers.cuhk03 import read_cuhk03_train
    from model_export.export.quantize import calibration_batches, quantize_file

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


def calibration_table(calibration: Calibration) -> str:
    lines = [
        f"operating points on {calibration.data} "
        f"({calibration.genuine_pairs} genuine, {calibration.impostor_pairs} impostor pairs):",
        "| false match rate | threshold | true match rate |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {p.false_match_rate:g} | {p.threshold:.4f} | {p.true_match_rate:.3f} |"
        for p in calibration.points
    ]
    return "\n".join(lines)


def calibrate_into(path: Path, data_root: Path, threads: int = 0) -> ModelMetadata | None:
    """Measure a file's operating points and write them into its metadata; None where the sets are
    not under `data_root` (the file then carries none, and says nothing it has not measured)."""
    missing = [name for name in UNSEEN if not (data_root / TEST_SETS[name][1]).is_dir()]
    if missing:
        print(f"not calibrated: {', '.join(missing)} not under {data_root}")
        return None
    calibration = calibrate_onnx(path, data_root, threads)
    meta = read_metadata(path).model_copy(update={"calibration": calibration})
    write_metadata(path, meta)
    print(calibration_table(calibration))
    return meta


def calibrate_command(args: argparse.Namespace) -> int:
    for path in args.models:
        print(path)
        if calibrate_into(path, args.data_root, args.threads) is None:
            return 1
    return 0


def verify_command(args: argparse.Namespace) -> int:
    reference, pool = None, None
    if args.checkpoint is not None:
        net, _ = load_model(args.checkpoint)
        reference = torch_reference(net)
        if args.cuhk03_root is not None:
            pool = cuhk03_pool(args.cuhk03_root, net.input_size)
    report = verify(args.model, reference, pool, threads=args.threads)
    print(report.table())
    return 0 if report.ok else 1
