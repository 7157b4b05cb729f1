"""Checkpoints that carry what is needed to rebuild the network: config, class count, weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model_export.config import TrainConfig
from model_export.modeling.backbones import build_backbone
from model_export.modeling.network import ReIDNet


def build_model(cfg: TrainConfig, num_classes: int, pretrained: bool | None = None) -> ReIDNet:
    backbone = build_backbone(
        cfg.backbone,
        pretrained=cfg.pretrained if pretrained is None else pretrained,
        weights=cfg.backbone_weights,
        input_size=cfg.input_size,
    )
    return ReIDNet(backbone, num_classes, head=cfg.head, embedding_dim=cfg.embedding_dim)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a run killed mid-save must not leave a truncated last.pt to resume from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def trained_on(path: Path) -> str:
    """The split a run learned from: a run on a pack names the split the pack was made of."""
    state = load_checkpoint(path)
    return str(state.get("split_name") or TrainConfig.from_json(state["config"]).dataset)


def taught_by(path: Path) -> list[str] | None:
    """The teachers a run distilled, as its cache named them; None for a checkpoint from before
    checkpoints named them (every such run was taught by Intel's 0277 and 0286, if by anyone)."""
    teachers = load_checkpoint(path).get("teachers")
    return None if teachers is None else [str(t) for t in teachers]


def load_model(path: Path) -> tuple[ReIDNet, TrainConfig]:
    """The trained network in eval mode (no ImageNet weights are loaded: the checkpoint has them all)."""
    state = load_checkpoint(path)
    cfg = TrainConfig.from_json(state["config"])
    model = build_model(cfg, state["num_classes"], pretrained=False)
    model.load_state_dict(state["model"])
    return model.eval(), cfg
