"""`python -m model_export train|evaluate ...`: one CLI, options typed from `TrainConfig`."""

from __future__ import annotations

import argparse

from model_export.commands import (
    calibrate,
    compare,
    evaluate,
    export,
    interpolate,
    pack,
    pretrained,
    probe,
    quantize,
    teach,
    train,
    verify,
)

# in the order `--help` lists them
COMMANDS = {
    module.NAME: module
    for module in (
        train,
        evaluate,
        export,
        pretrained,
        interpolate,
        probe,
        quantize,
        calibrate,
        verify,
        teach,
        pack,
        compare,
    )
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_export", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command].run(args)
