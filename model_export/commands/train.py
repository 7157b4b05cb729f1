"""`train`: train (or resume) a network; every option is a `TrainConfig` field, typed from it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from typing import Any

from model_export.commands import command
from model_export.config import TrainConfig

NAME = "train"


def add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        hint, default = hints[f.name], f.default
        optional = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) is types.UnionType and len(optional) == 1:
            hint = optional[0]  # `X | None`: an option of type X whose default is None
        flag = "--" + f.name.replace("_", "-")
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(hint) is typing.Literal:
            parser.add_argument(flag, choices=typing.get_args(hint), default=default)
        elif typing.get_origin(hint) is tuple:
            items = typing.get_args(hint)
            count: int | str = "+" if Ellipsis in items else len(items)  # tuple[X, ...] or fixed
            listed = None if default is None else list(default)
            parser.add_argument(flag, type=items[0], nargs=count, default=listed)
        else:
            parser.add_argument(flag, type=hint, default=default)


def config_from(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    # argparse gives lists for the tuple options (nargs)
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def add_parser(sub: Any) -> None:
    add_config_options(command(sub, NAME, "train (or resume) a network"))


def run(args: argparse.Namespace) -> int:
    from model_export.engine.train import train

    print(json.dumps(train(config_from(args)), indent=2))
    return 0
