"""One of our own exported files as a teacher: an ensemble distilled into one network.

A combined file (`model_export combine`) is more accurate than either member but costs both; taught
by it, one member's architecture can carry part of that gain at its own price (ensemble
distillation). The file is read through the contract, as the service reads it: uint8 RGB frames in,
its unit vectors out; each crop is a tracklet of one frame, as the peers embed them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_export.evaluation.peers import normalise
from model_export.export.verify import open_session
from reid_contract import read_metadata


class ContractFileTeacher:
    """An exported `.onnx` of ours: uint8 RGB crops (N, 3, H, W) at its input size -> unit vectors."""

    def __init__(self, path: Path, threads: int = 0, batch: int = 16) -> None:
        self.meta = read_metadata(path)
        self.name = f"{self.meta.name}-{self.meta.version}"
        self.input_size = (self.meta.height, self.meta.width)
        self.batch = batch
        self._session = open_session(path, threads)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if crops.ndim != 4 or tuple(crops.shape[2:]) != self.input_size:
            raise ValueError(
                f"{self.name} takes crops of {self.input_size[0]}x{self.input_size[1]}; got {crops.shape}"
            )
        frames = np.ascontiguousarray(crops.transpose(0, 2, 3, 1)[:, None])  # (N, T=1, H, W, 3)
        out = [
            self._session.run([self.meta.output_name], {self.meta.input_name: frames[i : i + self.batch]})[0]
            for i in range(0, len(frames), self.batch)
        ]
        return normalise(np.concatenate(out).astype(np.float32))
