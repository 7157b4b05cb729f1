"""A fine-tuned network moved back part of the way to its published weights (WiSE-FT).

Fine-tuning on eight sites teaches the network those sites' cameras and costs part of what the
published weights knew of everyone else's. Wortsman et al. (2022, "Robust fine-tuning of zero-shot
models") showed that the straight line between the two sets of weights holds networks that are as
good as the fine-tuned one where it was trained and better than both ends on data neither saw: the
trade a user with their own cameras wants. It costs nothing at run time: the result is one network
of the same architecture, exported like any other checkpoint.

theta = start + alpha * (fine_tuned - start); alpha 1 is the fine-tuned network, 0 the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from model_export.config import TrainConfig
from model_export.engine.checkpoint import load_checkpoint, save_checkpoint
from model_export.engine.pretrained import SPLIT_NAME as PUBLISHED

# What must agree for two checkpoints to be one network: the frame network's weights file may have
# moved between machines, so its name is compared, not its path.
_ARCHITECTURE = ("backbone", "head", "embedding_dim", "input_size")
# The identity classifier depends on the run's people, not on the embedding: it is kept as trained.
_CLASSIFIER = "classifier."


@dataclass(frozen=True)
class Interpolation:
    """What a checkpoint records of how its weights were made, for its card."""

    alpha: float
    start: str  # the starting checkpoint's file name
    fine_tuned: str

    def to_json(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "start": self.start, "fine_tuned": self.fine_tuned}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Interpolation:
        return cls(alpha=float(data["alpha"]), start=str(data["start"]), fine_tuned=str(data["fine_tuned"]))


def _architecture(cfg: TrainConfig) -> tuple[object, ...]:
    weights = None if cfg.backbone_weights is None else cfg.backbone_weights.name
    return (*(getattr(cfg, f) for f in _ARCHITECTURE), weights)


def interpolate_states(start: dict[str, Tensor], tuned: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """Every floating tensor on the line between the two; counters and the classifier as tuned.
    Refuses state dicts that are not the same network, naming what differs."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha} is outside [0, 1]: beyond either end is extrapolation")
    shared = [k for k in tuned if not k.startswith(_CLASSIFIER)]
    missing = sorted(set(shared) - set(start))
    extra = sorted(k for k in set(start) - set(tuned) if not k.startswith(_CLASSIFIER))
    if missing or extra:
        raise ValueError(
            f"not the same network: the start lacks {missing[:5]} "
            f"and has {extra[:5]} that the fine-tuned lacks"
        )
    mixed: dict[str, Tensor] = {}
    for key, value in tuned.items():
        if key.startswith(_CLASSIFIER) or not value.is_floating_point():
            mixed[key] = value.clone()
            continue
        other = start[key]
        if other.shape != value.shape:
            raise ValueError(f"not the same network: {key} is {tuple(other.shape)} and {tuple(value.shape)}")
        mixed[key] = torch.lerp(other.to(value.dtype), value, alpha)
    return mixed


def write_interpolated(fine_tuned: Path, start: Path, alpha: float, out: Path) -> Interpolation:
    """`out`: the fine-tuned checkpoint (config, split, teachers, classifier) with interpolated weights."""
    tuned_state, start_state = load_checkpoint(fine_tuned), load_checkpoint(start)
    tuned_cfg = TrainConfig.from_json(tuned_state["config"])
    start_cfg = TrainConfig.from_json(start_state["config"])
    if _architecture(tuned_cfg) != _architecture(start_cfg):
        raise ValueError(
            f"{fine_tuned.name} and {start.name} are different networks: "
            f"{_architecture(tuned_cfg)} against {_architecture(start_cfg)} "
            f"({', '.join(_ARCHITECTURE)}, weights file)"
        )
    if start_state.get("split_name") != PUBLISHED:
        raise ValueError(
            f"{start} is not a published network (`model_export pretrained` writes one): the line runs "
            "from the weights a run started from to where it ended"
        )
    if tuned_state.get("interpolation") is not None:
        raise ValueError(f"{fine_tuned} is already interpolated: interpolate the run's own checkpoint")
    how = Interpolation(alpha=alpha, start=start.name, fine_tuned=fine_tuned.name)
    state = {
        **tuned_state,
        "model": interpolate_states(start_state["model"], tuned_state["model"], alpha),
        "interpolation": how.to_json(),
    }
    # the run's optimiser moments and figures belong to the fine-tuned weights, not to these: export
    # measures the new network itself, and nothing should resume training from a mixed state
    for key in ("optimizer", "scheduler"):
        state.pop(key, None)
    state["summary"] = {}
    save_checkpoint(out, state)
    return how


def interpolated_from(path: Path) -> Interpolation | None:
    data = load_checkpoint(path).get("interpolation")
    return None if data is None else Interpolation.from_json(data)
