"""Fixtures of the reliability tests: the service as a child process (to measure its memory and kill
it) and a private Redis (to stop and restart it); in-thread servers come from tests/service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from private_redis import PrivateRedis

from devtools.harness import ProcessFactory, ServiceProcess


@pytest.fixture
def service_process(tiny_model_path: Path, tmp_path: Path) -> Iterator[ProcessFactory]:
    """`python -m service` child processes on the tiny model, one thread each; all stopped at the end.
    They count as started once the model serves (`/model`), whether or not the gallery is reachable."""
    started: list[ServiceProcess] = []

    def start(**settings: object) -> ServiceProcess:
        values: dict[str, object] = {"model_path": tiny_model_path, "intra_op_threads": 1}
        values.update(settings)
        process = ServiceProcess(
            values, workdir=tmp_path / "service", ready_path="/model", env={"OMP_NUM_THREADS": "1"}
        )
        started.append(process.start(timeout_s=90))
        return process

    yield start
    for process in started:
        process.stop(timeout_s=20)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis(tmp_path / "redis")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server.start()
    server.kill()
