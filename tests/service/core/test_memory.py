"""The arena bound, observed in the C library's own report: threads of a fresh process each get an
arena of their own unless the bound holds them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys, threading
    from service.core.memory import limit_malloc_arenas

    bound = int(sys.argv[1])
    if bound:
        assert limit_malloc_arenas(bound)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    together = threading.Barrier(8)
    kept = []

    def work():
        together.wait()  # all eight alive at once, each allocating
        kept.append(libc.malloc(256 * 1024))
        together.wait()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc.malloc_stats()  # to stderr: one "Arena N:" block per arena
    """
)


def arenas(bound: int) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(bound)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return len(re.findall(r"^Arena \d+:", done.stderr, flags=re.MULTILINE))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_the_bound_holds_eight_busy_threads_to_two_arenas() -> None:
    unbounded = arenas(0)
    assert unbounded > 2, "eight threads should have made more arenas than two without a bound"
    assert arenas(2) == 2


def test_no_bound_is_asked_for_zero() -> None:
    from service.core.memory import limit_malloc_arenas

    assert limit_malloc_arenas(0) is False
