"""What every written file goes through (`export`, `quantize`, `calibrate`): evaluated and calibrated
on itself, its figures written into its metadata, then verified against the network it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from model_export.data.dataset import FrameStore
from model_export.data.readers import read_cuhk03
from model_export.evaluation.compare import TEST_SETS, UNSEEN
from model_export.export import card
from model_export.export.onnx import as_float_frames, write_metadata
from model_export.export.probe import write_probe
from model_export.export.runtime import calibrate_onnx, evaluate_onnx
from model_export.export.verify import Reference, verify
from model_export.modeling.network import ReIDNet
from reid_contract import Calibration, Evaluation, ModelMetadata, read_metadata


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
