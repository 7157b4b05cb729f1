"""One memory budget for the whole process: the bytes that requests hold at once in decoded frames,
crops and model batches.

Each request's own limits (`REID_MAX_FRAMES`, `REID_TRACKS_MAX_CROPS`, ...) bound one request; nothing
bounded their sum, so a burst of a few large `/tracks` requests could take a pod past its memory limit
and have it killed with every request in it. Here a request reserves what it will hold before it
decodes (an upper bound from what it has declared: image headers, the tracker file's planned crops);
a reservation that does not fit waits up to `wait_s` for others to finish, then the request is
answered 503 with Retry-After. A single request larger than the whole budget is refused at once (413).
The budget itself is derived from the pod's memory limit (cgroup), not guessed (`budget_from_limit`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from service.core.errors import MemoryBusy, TooLarge

MIB = 1024 * 1024


class Reservation:
    """Bytes held from a budget until released (a context manager; releasing twice is harmless)."""

    def __init__(self, budget: MemoryBudget, nbytes: int) -> None:
        self._budget, self.nbytes = budget, nbytes

    def release(self) -> None:
        if self.nbytes:
            self._budget._give_back(self.nbytes)
            self.nbytes = 0

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.release()


class MemoryBudget:
    def __init__(
        self,
        limit_bytes: int,
        wait_s: float = 10.0,
        retry_after_s: int = 2,
        on_idle: Callable[[], object] | None = None,
    ) -> None:
        self.limit = limit_bytes
        self.wait_s = wait_s
        self.retry_after_s = retry_after_s
        # called when the last reservation is given back (at most once a second): memory back to the system
        self._on_idle = on_idle
        self._last_idle_call = 0.0
        self._used = 0
        self._peak = 0
        self._freed = threading.Condition()

    @property
    def in_use(self) -> int:
        return self._used

    @property
    def peak(self) -> int:
        return self._peak

    def _check(self, nbytes: int, what: str) -> None:
        if nbytes > self.limit:
            raise TooLarge(
                f"{what} needs about {nbytes / MIB:.0f} MiB at once, more than the whole memory budget of "
                f"{self.limit / MIB:.0f} MiB (REID_MEMORY_BUDGET_BYTES): send it in smaller parts"
            )

    def _take(self, nbytes: int) -> bool:
        if self._used + nbytes > self.limit:
            return False
        self._used += nbytes
        self._peak = max(self._peak, self._used)
        return True

    def _give_back(self, nbytes: int) -> None:
        with self._freed:
            self._used -= nbytes
            self._freed.notify_all()
            idle = self._used == 0 and time.monotonic() - self._last_idle_call >= 1.0
            if idle:
                self._last_idle_call = time.monotonic()
        if idle and self._on_idle is not None:
            self._on_idle()

    def _busy(self, nbytes: int, what: str) -> MemoryBusy:
        return MemoryBusy(
            f"the service is holding {self._used / MIB:.0f} of its {self.limit / MIB:.0f} MiB memory budget "
            f"for other requests; {what} needs {nbytes / MIB:.0f} MiB: retry in {self.retry_after_s} s",
            retry_after=self.retry_after_s,
        )

    def acquire(self, nbytes: int, what: str) -> Reservation:
        """Blocking, for a worker thread: waits up to `wait_s` for the bytes, else MemoryBusy (503)."""
        self._check(nbytes, what)
        deadline = time.monotonic() + self.wait_s
        with self._freed:
            while not self._take(nbytes):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._busy(nbytes, what)
                self._freed.wait(left)
        return Reservation(self, nbytes)

    async def reserve(self, nbytes: int, what: str) -> Reservation:
        """The same from the event loop, without holding a thread while it waits."""
        self._check(nbytes, what)
        deadline = time.monotonic() + self.wait_s
        while True:
            with self._freed:
                if self._take(nbytes):
                    return Reservation(self, nbytes)
            if time.monotonic() >= deadline:
                raise self._busy(nbytes, what)
            await asyncio.sleep(0.02)


def cgroup_memory_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The container's memory limit in bytes (cgroup v2, then v1); None where there is none."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # v1 says "no limit" with a huge number
            return int(text)
    return None


def physical_memory(meminfo: Path = Path("/proc/meminfo")) -> int:
    """The machine's memory in bytes (Linux's MemTotal); 0 where it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def budget_from_limit(limit: int, fraction: float, reserved: int) -> int:
    """What requests may hold: `fraction` of the limit, less what the process needs idle (`reserved`:
    the interpreter, the model and its engine, the gallery); at least 256 MiB."""
    return max(256 * MIB, int(limit * fraction) - reserved)
