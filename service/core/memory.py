"""The C allocator's arenas, bounded before the service starts any thread.

glibc gives each thread that meets a busy arena a new one, up to eight per core, and keeps what a
request freed in its arena for reuse. Decoding runs on a thread pool and one request may move a 64 MiB
body through it, so an unbounded process holds tens of MiB per arena that served a large upload: its
resident memory climbs with the load long after the requests are gone. Two arenas cost nothing
measurable here (the threads spend their time in decoders and ONNX Runtime, not in malloc) and keep
that reserve to two.
"""

from __future__ import annotations

import ctypes
import functools
import logging

log = logging.getLogger("service")

M_ARENA_MAX = -8  # <malloc.h>


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library already loaded in this process (no search: find_library would run programs)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def trim_heap() -> bool:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim): after a burst, freed
    frames and crops otherwise stay resident in the arenas that served them, and a pod sized for the
    peak stays at the peak. False where the C library has no malloc_trim."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


def resident_bytes() -> int:
    """This process's resident set (Linux); 0 where /proc is not there."""
    try:
        with open("/proc/self/status") as status:  # noqa: PTH123 - a procfs read, not a project path
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's arenas at `count` for this process; False where the C library is not glibc.

    Only arenas made after the call are bounded, so it belongs before the first thread starts."""
    if count <= 0:
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_ARENA_MAX, count) != 1:
        log.warning("the C library refused a limit of %d malloc arenas", count)
        return False
    return True
