"""A published frame network as a checkpoint of ours, with no training: its own head pooled over time.

torchreid's OSNet x0.25 as MSMT17 left it has seen 4,101 people under 15 cameras: more than all our
training sites together. Kept unchanged it is the most general member an ensemble can have. The
checkpoint is a pooling `ReIDNet` whose neck and BNNeck are the identity, so its embedding is the
network's own 512-d vector averaged over a tracklet's frames, and every command that reads a
checkpoint (`export`, `verify`, `compare`) takes it as it is.
"""

from __future__ import annotations

from pathlib import Path

import torch

from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model, save_checkpoint
from model_export.modeling.backbones import build_backbone
from model_export.modeling.network import ReIDNet

SPLIT_NAME = "pretrained"  # what `trained_on` reads: the card then says that nothing was trained here


def as_published(cfg: TrainConfig) -> ReIDNet:
    """`cfg.backbone` with `cfg.backbone_weights`, neck and BNNeck set to pass its vectors through."""
    net = build_model(cfg, num_classes=1, pretrained=True)
    if net.backbone.frame_dim != cfg.embedding_dim:
        raise ValueError(
            f"{cfg.backbone} gives {net.backbone.frame_dim}-d vectors, not {cfg.embedding_dim}: "
            "the embedding must be the network's own vector"
        )
    with torch.no_grad():
        net.neck.weight.copy_(torch.eye(cfg.embedding_dim))
        net.bnneck.weight.fill_(1.0)
        net.bnneck.bias.zero_()
        net.bnneck.running_mean.zero_()
        net.bnneck.running_var.fill_(1.0)
    return net.eval()


def write_pretrained(backbone: str, weights: Path, out: Path) -> Path:
    # dataset and data_root stay TrainConfig's defaults, CUHK03 `val`: where `export` evaluates it
    cfg = TrainConfig(
        backbone=backbone,  # type: ignore[arg-type]
        head="pooling",
        backbone_weights=weights,
        embedding_dim=build_backbone(backbone, weights=weights).frame_dim,  # the network's own vector
        epochs=0,
        out_dir=out.parent,
    )
    net = as_published(cfg)
    state = {
        "model": net.state_dict(),
        "epoch": 0,
        "step": 0,
        "config": cfg.to_json(),
        "num_classes": 1,
        "split_name": SPLIT_NAME,
        "summary": {},
        "train_seconds": 0.0,
    }
    save_checkpoint(out, state)
    return out
