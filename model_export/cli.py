"""`python -m model_export train|evaluate ...`: one CLI, options typed from `TrainConfig`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

from model_export.config import TrainConfig


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name == "extra":
            continue
        hint, default = hints[f.name], f.default
        flag = "--" + f.name.replace("_", "-")
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(hint) is typing.Literal:
            parser.add_argument(flag, choices=typing.get_args(hint), default=default)
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(flag, type=int, nargs="+", default=list(default))
        else:
            parser.add_argument(flag, type=hint, default=default, help=f"default: {default}")


def _config_from(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if f.name != "extra"
    }
    values["seq_lens"] = tuple(values["seq_lens"])
    return TrainConfig(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_export", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train_p = sub.add_parser(
        "train", help="train (or resume) a network", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    _add_config_options(train_p)

    eval_p = sub.add_parser("evaluate", help="CMC / mAP of a checkpoint (or the untrained ImageNet baseline)")
    eval_p.add_argument("checkpoint", nargs="?", type=Path, help="a last.pt; omit with --imagenet-baseline")
    eval_p.add_argument(
        "--imagenet-baseline",
        action="store_true",
        help="untrained ImageNet MobileNetV2, frame features averaged",
    )
    eval_p.add_argument("--dataset", default=None, help="default: the checkpoint's")
    eval_p.add_argument("--data-root", type=Path, default=None)
    eval_p.add_argument("--split-id", type=int, default=None)
    eval_p.add_argument("--test-chunk", type=int, default=16)
    eval_p.add_argument("--out-dir", type=Path, default=Path("runs/eval"))
    return parser


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from model_export.data.readers import open_split
    from model_export.engine.checkpoint import build_model, load_model
    from model_export.evaluation.evaluator import evaluate

    if args.imagenet_baseline:
        cfg = TrainConfig(head="pooling")
        net = build_model(cfg, num_classes=1).eval()

        def embed(x: torch.Tensor) -> torch.Tensor:
            return F.normalize(net.features(x)[0], dim=1)
    elif args.checkpoint is not None:
        net, cfg = load_model(args.checkpoint)
        embed = net
    else:
        raise SystemExit("give a checkpoint or --imagenet-baseline")
    dataset = args.dataset or cfg.dataset
    root = args.data_root or cfg.data_root
    split_id = cfg.split_id if args.split_id is None else args.split_id
    split = open_split(dataset, root, split_id)
    with torch.no_grad():
        return evaluate(embed, split, net.input_size, args.test_chunk, args.out_dir, plots=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from model_export.engine.train import train

        summary = train(_config_from(args))
    else:
        summary = _evaluate(args)
    print(json.dumps(summary, indent=2))
    return 0
