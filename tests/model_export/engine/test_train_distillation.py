"""Training with teachers: the distillation terms are in the objective and survive a resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model_export.config import TrainConfig
from model_export.data.tracklet import ReIDSplit
from model_export.engine.checkpoint import load_checkpoint
from model_export.engine.train import train
from model_export.teaching.teacher_cache import build_teacher_cache


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
    assert state["teachers"] == ["colour"]  # for the card
    # flushing denormals was the run's own setting: the process gets its arithmetic back
    assert sys.float_info.min / 3.0 > 0.0

    longer = small_config(out, teacher_cache=cache, w_distill=1.0, w_distill_sim=10.0, epochs=2, max_steps=6)
    train(longer, synthetic_split)  # resumes: the projection must come back with the network
    resumed = load_checkpoint(out / "last.pt")
    assert resumed["step"] == 6
    assert not torch.equal(resumed["distill_head"]["weight"], head)  # and it kept learning


def _unlabeled_tree(split: ReIDSplit, root: Path, people: int) -> Path:
    """Some of the split's tracklets as a tracker would leave them: per camera, per track, no ids."""
    for n, t in enumerate(t for t in split.train if t.pid < people):
        folder = root / f"cam{t.camid}" / f"track{n}"
        folder.mkdir(parents=True)
        for i, frame in enumerate(t.frames):
            (folder / f"{i}{frame.suffix}").symlink_to(frame.resolve())
    return root


def test_unlabeled_crops_are_learned_from_the_teachers_only(
    synthetic_split: ReIDSplit, tmp_path: Path
) -> None:
    unlabeled = _unlabeled_tree(synthetic_split, tmp_path / "tracker", people=4)
    frames = [f for t in synthetic_split.train for f in t.frames]
    cache = build_teacher_cache(frames, {"colour": _colour_teacher}, tmp_path / "teach.npz", (64, 48))
    out = tmp_path / "run"
    # no labelled term at all: whatever the network learns comes from the teachers, on both kinds
    only_teachers = {"w_id": 0.0, "w_frame_id": 0.0, "w_triplet": 0.0, "w_siamese": 0.0}
    cfg = small_config(
        out,
        teacher_cache=cache,
        w_distill=1.0,
        w_distill_sim=10.0,
        unlabeled_root=unlabeled,
        unlabeled_per_batch=4,
        w_unlabeled=2.0,
        max_steps=3,
        **only_teachers,
    )
    train(cfg, synthetic_split)
    steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    step = next(r for r in steps if r["event"] == "step")
    assert step["unlabeled_distill"] > 0 and step["unlabeled_distill_sim"] > 0
    assert step["total"] == pytest.approx(
        sum(v for k, v in step.items() if "distill" in k) + sum(step[k] for k in ("id", "frame_id")), abs=1e-3
    )
    state = load_checkpoint(out / "last.pt")
    assert state["config"]["unlabeled_root"] == str(unlabeled)

    # the unlabeled term moves the network: the same run without it ends elsewhere
    alone = small_config(
        tmp_path / "alone",
        teacher_cache=cache,
        w_distill=1.0,
        w_distill_sim=10.0,
        max_steps=3,
        **only_teachers,
    )
    train(alone, synthetic_split)
    other = load_checkpoint(tmp_path / "alone" / "last.pt")["model"]
    assert any(not torch.equal(v, other[k]) for k, v in state["model"].items() if v.is_floating_point())


def test_unlabeled_crops_need_teachers_that_hold_them(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    unlabeled = _unlabeled_tree(synthetic_split, tmp_path / "tracker", people=2)
    with pytest.raises(ValueError, match="learned from the teachers only"):
        train(small_config(tmp_path / "a", unlabeled_root=unlabeled, max_steps=1), synthetic_split)
    labelled_only = [f for t in synthetic_split.train if t.pid >= 2 for f in t.frames]
    cache = build_teacher_cache(labelled_only, {"colour": _colour_teacher}, tmp_path / "t.npz", (64, 48))
    cfg = small_config(
        tmp_path / "b", teacher_cache=cache, w_distill=1.0, unlabeled_root=unlabeled, max_steps=1
    )
    with pytest.raises(KeyError, match="not in the teacher cache"):
        train(cfg, synthetic_split)


def _brightness_teacher(crops: np.ndarray) -> np.ndarray:
    x = np.stack([crops.mean(axis=(1, 2, 3)) + 1.0, np.full(len(crops), 50.0)], axis=1)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_recipe_learns_from_the_teachers_it_names(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    """One cache of several teachers serves a recipe of fewer: `--teachers` picks them by name."""
    from model_export.cli import build_parser
    from model_export.commands.train import config_from

    frames = [f for t in synthetic_split.train for f in t.frames]
    teachers = {"colour": _colour_teacher, "brightness": _brightness_teacher}
    cache = build_teacher_cache(frames, teachers, tmp_path / "teach.npz", (64, 48))
    out = tmp_path / "run"
    args = ["train", "--teacher-cache", str(cache), "--teachers", "colour", "--out-dir", str(out)]
    parsed = config_from(build_parser().parse_args(args))
    assert parsed.teachers == ("colour",)
    cfg = small_config(out, teacher_cache=cache, teachers=parsed.teachers, w_distill=1.0, max_steps=1)
    train(cfg, synthetic_split)
    state = load_checkpoint(out / "last.pt")
    assert state["teachers"] == ["colour"]
    assert state["distill_head"]["weight"].shape == (3, cfg.embedding_dim)  # colour's 3, not 3 + 2
    both = small_config(tmp_path / "both", teacher_cache=cache, w_distill=1.0, max_steps=1)
    train(both, synthetic_split)
    assert load_checkpoint(tmp_path / "both" / "last.pt")["teachers"] == ["colour", "brightness"]
    with pytest.raises(ValueError, match="no teacher"):
        unknown = small_config(tmp_path / "c", teacher_cache=cache, teachers=("osnet",), max_steps=1)
        train(unknown, synthetic_split)
