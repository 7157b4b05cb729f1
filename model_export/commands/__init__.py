"""The CLI's commands, one module each: `add_parser(subparsers)` declares its options, `run(args)`
does it; `model_export/cli.py` only assembles them. Each imports what it runs when it runs, so
`--help` starts no torch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def command(sub: Any, name: str, help_text: str, defaults: bool = True) -> argparse.ArgumentParser:
    """A command's parser; `defaults`: its help shows each option's default."""
    formatter = argparse.ArgumentDefaultsHelpFormatter if defaults else argparse.HelpFormatter
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, formatter_class=formatter)
    return parser


def split_command(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A command over a dataset's training split (the multi-site mix unless told otherwise)."""
    parser = command(sub, name, help_text)
    parser.add_argument("--dataset", default="multisite")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    return parser
