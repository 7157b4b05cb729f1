"""Tracklets to tensors: decoding, caching, frame sampling and augmentation."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from model_export.data.sampling import FrameMode, train_frame_indices
from model_export.data.tracklet import Tracklet
from model_export.data.transforms import AugmentConfig, TrackletAugment, resize
from model_export.distillation.teacher_table import TeacherTable


class FrameStore:
    """Decodes frames to RGB uint8 (3, H, W) at a fixed size, keeping up to `cache_limit` in memory.

    Multi-shot sets such as CUHK03 (7k images) fit in memory whole, which on two cores is the
    difference between training on the model and training on the JPEG decoder.
    """

    def __init__(self, size: tuple[int, int], cache_limit: int = 50_000) -> None:
        self.size = size
        self.cache_limit = cache_limit
        self._cache: dict[Path, Tensor] = {}

    def load(self, path: Path) -> Tensor:
        frame = self._cache.get(path)
        if frame is None:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
            frame = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()
            if len(self._cache) < self.cache_limit:
                self._cache[path] = frame
        return frame

    def load_many(self, paths: Sequence[Path]) -> Tensor:
        return torch.stack([self.load(p) for p in paths])


class TrainDataset(Dataset[tuple[Tensor, int, int, Tensor]]):
    """Indexed by (tracklet index, T) pairs from `IdentityBatchSampler`.

    Items are (frames, pid, camid, teacher vectors of those frames); the last is (T, 0) when no
    teacher table is given.
    """

    def __init__(
        self,
        tracklets: Sequence[Tracklet],
        input_size: tuple[int, int],
        frame_mode: FrameMode,
        augment: AugmentConfig,
        seed: int = 0,
        teacher: TeacherTable | None = None,
    ) -> None:
        self.tracklets = tracklets
        self.teacher = teacher
        # each tracklet's frames as rows of the teacher table, looked up once (and checked up front)
        self.teacher_rows = [teacher.rows(t.frames) for t in tracklets] if teacher is not None else []
        self.frame_mode = frame_mode
        self.seed = seed
        self.epoch = 0
        self.rng = random.Random(seed)
        self.store = FrameStore(input_size)
        self.augment = TrackletAugment(input_size, augment, self.rng)

    def __len__(self) -> int:
        return len(self.tracklets)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.rng.seed(self.seed * 100_003 + epoch + 7)

    def set_worker(self, worker: int) -> None:
        """Give a data-loading process a stream of its own: forked copies of one generator would
        draw the same frames and the same augmentation for different batches."""
        self.rng.seed((self.seed * 100_003 + self.epoch + 7) * 1_009 + worker + 1)

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, int, int, Tensor]:
        index, steps = key
        t = self.tracklets[index]
        chosen = train_frame_indices(len(t), steps, self.frame_mode, self.rng)
        frames = self.store.load_many([t.frames[i] for i in chosen])
        if self.teacher is None:
            targets = torch.zeros(steps, 0)
        else:
            targets = self.teacher.vectors[[self.teacher_rows[index][i] for i in chosen]]
        return self.augment(frames), t.pid, t.camid, targets


def load_eval_frames(
    store: FrameStore, tracklet: Tracklet, size: tuple[int, int], indices: Sequence[int]
) -> Tensor:
    """The chosen frames of a tracklet as float (T, 3, H, W) in [0, 1], no augmentation; only those
    are decoded, so a long tracklet embedded chunk by chunk decodes each frame once."""
    return resize(store.load_many([tracklet.frames[i] for i in indices]), size)
