"""`evaluate`: CMC and mAP of a checkpoint, or of the untrained ImageNet baseline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model_export.commands import command
from model_export.config import TrainConfig

NAME = "evaluate"


def add_parser(sub: Any) -> None:
    parser = command(
        sub, NAME, "CMC / mAP of a checkpoint (or the untrained ImageNet baseline)", defaults=False
    )
    parser.add_argument("checkpoint", nargs="?", type=Path, help="a last.pt; omit with --imagenet-baseline")
    parser.add_argument(
        "--imagenet-baseline",
        action="store_true",
        help="untrained ImageNet MobileNetV2, frame features averaged",
    )
    parser.add_argument(
        "--without-recurrence",
        action="store_true",
        help="zero the GRU-RCN's contribution: what the recurrence adds, measured on the same weights",
    )
    parser.add_argument("--dataset", default=None, help="default: the checkpoint's")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--split-id", type=int, default=None)
    parser.add_argument("--test-chunk", type=int, default=16)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/eval"))


def run(args: argparse.Namespace) -> int:
    import torch
    import torch.nn.functional as F

    from model_export.data.readers import open_split
    from model_export.engine.checkpoint import build_model, load_model
    from model_export.evaluation.evaluator import evaluate
    from model_export.modeling.network import without_recurrence

    if args.imagenet_baseline:
        cfg = TrainConfig(head="pooling")
        net = build_model(cfg, num_classes=1).eval()

        def embed(x: torch.Tensor) -> torch.Tensor:
            return F.normalize(net.features(x)[0], dim=1)
    elif args.checkpoint is not None:
        net, cfg = load_model(args.checkpoint)
        if args.without_recurrence:
            if cfg.head == "pooling":
                raise SystemExit(f"{args.checkpoint} has no recurrence (head {cfg.head})")
            net = without_recurrence(net)
        embed = net
    else:
        raise SystemExit("give a checkpoint or --imagenet-baseline")
    dataset = args.dataset or cfg.dataset
    root = args.data_root or cfg.data_root
    split_id = cfg.split_id if args.split_id is None else args.split_id
    split = open_split(dataset, root, split_id, cfg.held_out_site if args.dataset is None else None)
    with torch.no_grad():
        summary = evaluate(embed, split, net.input_size, args.test_chunk, args.out_dir, plots=True)
    print(json.dumps(summary, indent=2))
    return 0
