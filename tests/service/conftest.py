"""Fixtures of the service tests: a tiny random-weight model exported once per session, and its network.

The network is the paper backbone with the recurrent head at 64x48, D=64: it exports in about two
seconds and runs in milliseconds, yet has everything the served model has (a real Loop over T, BN,
normalisation in the graph), so the service is tested against a true export, not a stand-in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
import torch
from nets import export_for_tests, trained_like

from devtools.harness import ServerFactory, drop_namespace, live_servers
from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model
from model_export.export.onnx import as_float_frames
from model_export.modeling.network import ReIDNet
from reid_contract import ModelMetadata
from service.inference.session import ModelSession

TINY_FRAMES_PER_CHUNK = 16
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def tiny_net() -> ReIDNet:
    """Random weights with non-trivial BN statistics and a recurrence that matters, as after training."""
    torch.manual_seed(0)
    net = build_model(
        TrainConfig(backbone="paper", head="recurrent", embedding_dim=64), num_classes=5, pretrained=False
    )
    return trained_like(net)


@pytest.fixture(scope="session")
def tiny_export(tiny_net: ReIDNet, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelMetadata]:
    path = tmp_path_factory.mktemp("tiny-model") / "tiny.onnx"
    meta = export_for_tests(tiny_net, path, "tiny-test", frames_per_chunk=TINY_FRAMES_PER_CHUNK)
    return path, meta


@pytest.fixture(scope="session")
def tiny_model_path(tiny_export: tuple[Path, ModelMetadata]) -> Path:
    return tiny_export[0]


@pytest.fixture(scope="session")
def tiny_reference(tiny_net: ReIDNet) -> Callable[[np.ndarray], np.ndarray]:
    """The torch network on uint8 (B, T, H, W, 3) frames, as the exported graph sees them: (B, D)."""

    def run(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return tiny_net(as_float_frames(torch.from_numpy(np.ascontiguousarray(frames)))).numpy()

    return run


@pytest.fixture(scope="session")
def tiny_session(tiny_model_path: Path) -> ModelSession:
    """The tiny model on CPU, one thread: shared by the tests, which only read from it."""
    return ModelSession(tiny_model_path, providers=["CPUExecutionProvider"], intra_op_threads=1)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis; the tests that need it are skipped (not failed) where it does not answer."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        pytest.skip(f"no Redis answering at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of this test alone, whose keys are all deleted afterwards."""
    name = f"test-reid-{uuid.uuid4().hex}"
    yield name
    drop_namespace(redis_url, name)


@pytest.fixture
def serve(tiny_model_path: Path) -> Iterator[ServerFactory]:
    """In-thread servers on the tiny model with any setting overridden; all stopped at the end."""
    with live_servers(model_path=tiny_model_path, intra_op_threads=1, redis_url=None) as start:
        yield start
