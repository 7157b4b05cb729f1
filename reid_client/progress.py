"""A one-line upload progress bar on stderr, drawn only where a person watches (a terminal)."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """`update(sent, total)` redraws at most ten times a second and once at the end."""

    def __init__(self, stream: TextIO, label: str, enabled: bool) -> None:
        self._stream = stream
        self._label = label
        self._enabled = enabled
        self._last = 0.0
        self._done = False

    def update(self, sent: int, total: int) -> None:
        if not self._enabled or self._done:
            return
        now = time.monotonic()
        finished = sent >= total
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        fraction = sent / total if total else 1.0
        filled = int(fraction * WIDTH)
        self._stream.write(
            f"\r{self._label} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%} "
            f"{sent / 1e6:.1f}/{total / 1e6:.1f} MB"
        )
        if finished:
            self._stream.write("\n")
            self._done = True
        self._stream.flush()
