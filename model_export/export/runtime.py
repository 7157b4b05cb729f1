"""An exported file as an embedding function for the evaluator: figures measured on the file itself.

The figures written into a model's metadata, and the ones the shipped-model test recomputes, come
from ONNX Runtime running the very file that is served, not from the checkpoint it was made from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import Tensor

from model_export.data.readers import open_split
from model_export.evaluation.evaluator import EmbedFn, evaluate
from model_export.export.onnx import read_metadata_props
from reid_contract import ModelMetadata


def read_metadata(path: Path) -> ModelMetadata:
    return ModelMetadata.from_props(read_metadata_props(onnx.load(str(path), load_external_data=False)))


def onnx_embed_fn(session: ort.InferenceSession, meta: ModelMetadata) -> EmbedFn:
    """Float (B, T, 3, H, W) in [0, 1] from the evaluator's loader -> the file's embeddings."""

    def embed(x: Tensor) -> Tensor:
        frames = (x * 255.0).round().to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous().numpy()
        out = session.run([meta.output_name], {meta.input_name: frames})[0]
        return torch.from_numpy(np.ascontiguousarray(out))

    return embed


def evaluate_onnx(
    path: Path, dataset: str, root: Path, split_id: int = 0, out_dir: Path | None = None, threads: int = 0
) -> dict[str, object]:
    meta = read_metadata(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    split = open_split(dataset, root, split_id)
    with torch.no_grad():
        return evaluate(
            onnx_embed_fn(session, meta), split, (meta.height, meta.width), meta.frames_per_chunk, out_dir
        )
