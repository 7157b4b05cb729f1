"""An exported file as an embedding function for the evaluator: figures measured on the file itself.

The figures written into a model's metadata, and the ones the shipped-model test recomputes, come
from ONNX Runtime running the very file that is served, not from the checkpoint it was made from.
Its metadata are read by the contract's reader (`reid_contract.read_metadata`, re-exported here),
the one the service starts with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor

from model_export.data.readers import open_split
from model_export.evaluation.compare import UNSEEN, SequenceModel, open_test_set
from model_export.evaluation.evaluator import EmbedFn, evaluate
from model_export.evaluation.operating_points import Pairs, cross_camera_pairs, operating_points
from model_export.export.verify import open_session
from reid_contract import Calibration, ModelMetadata, read_metadata

__all__ = ["calibrate_onnx", "evaluate_onnx", "onnx_embed_fn", "read_metadata"]


def onnx_embed_fn(session: ort.InferenceSession, meta: ModelMetadata) -> EmbedFn:
    """Float (B, T, 3, H, W) in [0, 1] from the evaluator's loader -> the file's embeddings."""

    def embed(x: Tensor) -> Tensor:
        frames = (x * 255.0).round().to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous().numpy()
        out = session.run([meta.output_name], {meta.input_name: frames})[0]
        return torch.from_numpy(np.ascontiguousarray(out))

    return embed


def calibrate_onnx(path: Path, data_root: Path, threads: int = 0) -> Calibration:
    """Operating points of the file itself on VIPeR and PRID (`data_root` holds `peta/`)."""
    meta = read_metadata(path)
    model = SequenceModel(
        meta.name,
        onnx_embed_fn(open_session(path, threads), meta),
        (meta.height, meta.width),
        meta.frames_per_chunk,
    )
    pairs = Pairs(np.zeros(0), np.zeros(0))
    with torch.no_grad():
        for name in UNSEEN:
            split = open_test_set(name, data_root)
            pairs = pairs + cross_camera_pairs(split, model.embed(split.query), model.embed(split.gallery))
    data = " and ".join(UNSEEN.values())
    return operating_points(pairs, f"{data}: every cross-camera tracklet pair, cameras never trained on")


def evaluate_onnx(
    path: Path, dataset: str, root: Path, split_id: int = 0, out_dir: Path | None = None, threads: int = 0
) -> dict[str, object]:
    meta = read_metadata(path)
    session = open_session(path, threads)
    split = open_split(dataset, root, split_id)
    with torch.no_grad():
        return evaluate(
            onnx_embed_fn(session, meta), split, (meta.height, meta.width), meta.frames_per_chunk, out_dir
        )
