"""Training with teachers: the distillation terms are in the objective and survive a resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from model_export.config import TrainConfig
from model_export.data.tracklet import ReIDSplit
from model_export.distillation.teacher_cache import build_teacher_cache
from model_export.engine.checkpoint import load_checkpoint
from model_export.engine.train import train


def _colour_teacher(crops: np.ndarray) -> np.ndarray:
    x = crops.reshape(len(crops), 3, -1).mean(axis=2) + 1.0
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def small_config(out_dir: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = {
        "dataset": "synthetic",
        "backbone": "paper",
        "embedding_dim": 32,
        "ids_per_batch": 8,
        "tracklets_per_id": 4,
        "seq_lens": (2,),
        "eval_every": 0,
        "out_dir": out_dir,
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def test_distillation_terms_train_and_resume(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    frames = [f for t in synthetic_split.train for f in t.frames]
    cache = build_teacher_cache(frames, {"colour": _colour_teacher}, tmp_path / "teach.npz", (64, 48))
    out = tmp_path / "run"
    cfg = small_config(out, teacher_cache=cache, w_distill=1.0, w_distill_sim=10.0, epochs=2, max_steps=4)
    train(cfg, synthetic_split)
    steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    step = next(r for r in steps if r["event"] == "step")
    assert step["distill"] > 0 and step["distill_sim"] > 0
    state = load_checkpoint(out / "last.pt")
    head = state["distill_head"]["weight"]
    assert head.shape == (3, cfg.embedding_dim)  # student embedding -> teacher space

    longer = small_config(out, teacher_cache=cache, w_distill=1.0, w_distill_sim=10.0, epochs=2, max_steps=6)
    train(longer, synthetic_split)  # resumes: the projection must come back with the network
    resumed = load_checkpoint(out / "last.pt")
    assert resumed["step"] == 6
    assert not torch.equal(resumed["distill_head"]["weight"], head)  # and it kept learning
