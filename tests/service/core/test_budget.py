"""The process's memory budget: reservations add up, wait for each other, and give up with the reason."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from service.core.budget import MIB, MemoryBudget, budget_from_limit, cgroup_memory_limit
from service.core.errors import MemoryBusy, TooLarge


def test_reservations_add_up_and_are_given_back_once() -> None:
    budget = MemoryBudget(100)
    first = budget.acquire(60, "a")
    with budget.acquire(40, "b"):
        assert budget.in_use == 100
    assert budget.in_use == 60
    first.release()
    first.release()  # twice is harmless
    assert budget.in_use == 0 and budget.peak == 100


def test_one_request_larger_than_the_whole_budget_is_refused_at_once() -> None:
    budget = MemoryBudget(10 * MIB)
    started = time.monotonic()
    with pytest.raises(TooLarge, match=r"about 20 MiB at once, more than the whole memory budget of 10 MiB"):
        budget.acquire(20 * MIB, "this clip")
    assert time.monotonic() - started < 0.5


def test_a_reservation_that_does_not_fit_waits_for_another_to_be_given_back() -> None:
    budget = MemoryBudget(100, wait_s=5.0)
    held = budget.acquire(80, "first")
    threading.Timer(0.2, held.release).start()
    started = time.monotonic()
    with budget.acquire(50, "second"):
        waited = time.monotonic() - started
    assert 0.15 < waited < 4.0


def test_past_its_wait_a_reservation_is_refused_with_retry_after() -> None:
    budget = MemoryBudget(100, wait_s=0.1, retry_after_s=3)
    budget.acquire(80, "first")
    with pytest.raises(MemoryBusy, match=r"needs 0 MiB: retry in 3 s") as caught:
        budget.acquire(50, "second")
    assert caught.value.retry_after == 3 and caught.value.status == 503
    assert budget.in_use == 80  # the refused reservation took nothing


def test_the_event_loop_waits_without_a_thread_and_gives_up_the_same_way() -> None:
    async def main() -> None:
        budget = MemoryBudget(100, wait_s=2.0)
        held = budget.acquire(90, "first")
        asyncio.get_running_loop().call_later(0.1, held.release)
        with await budget.reserve(50, "second"):
            assert budget.in_use == 50
        budget.acquire(90, "third")
        budget.wait_s = 0.05
        with pytest.raises(MemoryBusy):
            await budget.reserve(50, "fourth")

    asyncio.run(main())


def test_memory_goes_back_to_the_system_when_the_last_reservation_is_given_back() -> None:
    calls: list[int] = []
    budget = MemoryBudget(100, on_idle=lambda: calls.append(budget.in_use))
    a, b = budget.acquire(10, "a"), budget.acquire(10, "b")
    a.release()
    assert calls == []  # b still holds memory
    b.release()
    assert calls == [0]


def test_the_limit_is_read_from_the_container(tmp_path: Path) -> None:
    assert cgroup_memory_limit(tmp_path) is None  # no cgroup files: no container limit
    (tmp_path / "memory.max").write_text("max\n")
    assert cgroup_memory_limit(tmp_path) is None
    (tmp_path / "memory.max").write_text(f"{4 * 1024 * MIB}\n")
    assert cgroup_memory_limit(tmp_path) == 4 * 1024 * MIB
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "unlimited"
    assert cgroup_memory_limit(v1) is None


def test_the_budget_is_a_share_of_the_limit_less_what_the_process_holds() -> None:
    assert budget_from_limit(4096 * MIB, 0.6, 500 * MIB) == int(4096 * MIB * 0.6) - 500 * MIB
    assert budget_from_limit(512 * MIB, 0.6, 500 * MIB) == 256 * MIB  # never less than a floor
