"""Fine-tuned networks averaged and moved back part of the way to their published weights (WiSE-FT).

Fine-tuning on eight sites teaches the network those sites' cameras and costs part of what the
published weights knew of everyone else's. Wortsman et al. (2022, "Robust fine-tuning of zero-shot
models") showed that the straight line between the two sets of weights holds networks that are as
good as the fine-tuned one where it was trained and better than both ends on data neither saw: the
trade a user with their own cameras wants. It costs nothing at run time: the result is one network
of the same architecture, exported like any other checkpoint.

theta = start + alpha * (fine_tuned - start); alpha 1 is the fine-tuned network, 0 the start.

Several runs from the same start (other seeds, other recipes) are averaged first: a uniform "model
soup" (Wortsman et al. 2022, "Model soups"), which takes part of an ensemble's gain at one network's
cost, since runs fine-tuned from one set of weights stay in one basin of the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    fine_tuned: tuple[str, ...]  # one run, or several averaged first (a uniform soup)

    def to_json(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "start": self.start, "fine_tuned": list(self.fine_tuned)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Interpolation:
        return cls(
            alpha=float(data["alpha"]),
            start=str(data["start"]),
            fine_tuned=tuple(str(name) for name in data["fine_tuned"]),
        )


def _architecture(cfg: TrainConfig) -> tuple[object, ...]:
    weights = None if cfg.backbone_weights is None else cfg.backbone_weights.name
    return (*(getattr(cfg, f) for f in _ARCHITECTURE), weights)


def _same_network(reference: dict[str, Tensor], other: dict[str, Tensor], what: str) -> None:
    shared = [k for k in reference if not k.startswith(_CLASSIFIER)]
    missing = sorted(set(shared) - set(other))
    extra = sorted(k for k in set(other) - set(reference) if not k.startswith(_CLASSIFIER))
    if missing or extra:
        raise ValueError(f"not the same network: {what} lacks {missing[:5]} and has {extra[:5]} in addition")
    for key in shared:
        if other[key].shape != reference[key].shape:
            raise ValueError(
                f"not the same network: {key} is {tuple(other[key].shape)} in {what}, "
                f"not {tuple(reference[key].shape)}"
            )


def mean_state(states: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The uniform soup of runs that started from the same weights: every floating tensor averaged
    (the classifier too where the runs share their people); counters as in the first run."""
    first = states[0]
    for index, other in enumerate(states[1:], start=2):
        _same_network(first, other, f"run {index}")
    mixed: dict[str, Tensor] = {}
    for key, value in first.items():
        same_shape = all(s.get(key) is not None and s[key].shape == value.shape for s in states)
        if value.is_floating_point() and same_shape:
            mixed[key] = torch.stack([s[key].to(value.dtype) for s in states]).mean(dim=0)
        else:
            mixed[key] = value.clone()
    return mixed


def interpolate_states(start: dict[str, Tensor], tuned: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """Every floating tensor on the line between the two; counters and the classifier as tuned.
    Refuses state dicts that are not the same network, naming what differs."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha} is outside [0, 1]: beyond either end is extrapolation")
    _same_network(tuned, start, "the start")
    mixed: dict[str, Tensor] = {}
    for key, value in tuned.items():
        if key.startswith(_CLASSIFIER) or not value.is_floating_point():
            mixed[key] = value.clone()
        else:
            mixed[key] = torch.lerp(start[key].to(value.dtype), value, alpha)
    return mixed


def write_interpolated(fine_tuned: Sequence[Path], start: Path, alpha: float, out: Path) -> Interpolation:
    """`out`: the first fine-tuned checkpoint (config, split, teachers) with the runs' mean weights moved
    `alpha` of the way from `start`. The runs must be one network trained on one split by the same
    teachers, or its card would not say what made it."""
    if not fine_tuned:
        raise ValueError("no fine-tuned checkpoint given")
    runs = [load_checkpoint(p) for p in fine_tuned]
    start_state = load_checkpoint(start)
    if start_state.get("split_name") != PUBLISHED:
        raise ValueError(
            f"{start} is not a published network (`model_export pretrained` writes one): the line runs "
            "from the weights a run started from to where it ended"
        )
    start_cfg = TrainConfig.from_json(start_state["config"])
    for path, state in zip(fine_tuned, runs, strict=True):
        if state.get("interpolation") is not None:
            raise ValueError(f"{path} is already interpolated: give the runs' own checkpoints")
        cfg = TrainConfig.from_json(state["config"])
        if _architecture(cfg) != _architecture(start_cfg):
            raise ValueError(
                f"{path.name} and {start.name} are different networks: "
                f"{_architecture(cfg)} against {_architecture(start_cfg)} "
                f"({', '.join(_ARCHITECTURE)}, weights file)"
            )
        for key in ("split_name", "teachers"):
            if state.get(key) != runs[0].get(key):
                raise ValueError(
                    f"{path} differs from {fine_tuned[0]} in {key} ({state.get(key)} against "
                    f"{runs[0].get(key)}): one card cannot say what made their mean"
                )
    how = Interpolation(alpha=alpha, start=start.name, fine_tuned=tuple(str(p) for p in fine_tuned))
    tuned = mean_state([s["model"] for s in runs])
    state = {
        **runs[0],
        "model": interpolate_states(start_state["model"], tuned, alpha),
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
