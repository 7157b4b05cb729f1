"""One-line progress bars on stderr (the upload; the service's work on a streamed answer), drawn only
where a person watches (a terminal)."""

from __future__ import annotations

import time
from typing import Any, TextIO

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


class WorkBar:
    """The service's progress on a streamed answer (POST /tracks): the stage, frames done of the
    total (a bar where the total is known), people found and time left; redrawn at most ten times a
    second, on one line, ended by `close`."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._last = 0.0
        self._width = 0  # of the line drawn last, to blank what a shorter one leaves

    def update(self, event: dict[str, Any]) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        done, total = int(event.get("frames_done") or 0), event.get("frames_total")
        people, left = int(event.get("people") or 0), event.get("seconds_left")
        stage = str(event.get("stage", "working"))
        if total:
            fraction = min(1.0, done / total)
            filled = int(fraction * WIDTH)
            text = f"{stage:9} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%} {done}/{total} frames"
        else:
            text = f"{stage:9} {done} frames"
        text += f", {people} {'person' if people == 1 else 'people'}"
        if left is not None:
            text += f", {_duration(float(left))} left"
        self._stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self._width = len(text)
        self._stream.flush()

    def close(self) -> None:
        if self._enabled and self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}:{seconds:02d}" if minutes else f"{seconds} s"
