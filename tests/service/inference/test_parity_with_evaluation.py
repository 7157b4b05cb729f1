"""The service embeds a tracklet exactly as the evaluation that scored the model did: the same frames,
cut into the same chunks, through the same file, pooled into the same vector.

Both paths run the tiny exported model (a recurrence, so a chunk boundary in another place changes the
vector): the service's (`Embedder`: the micro-batcher and `ModelSession`) and model_export's
(`embed_tracklets` over `onnx_embed_fn`, what `evaluate-onnx` and the figures in the file use). The
frames are written at the model's input size, so that neither side resizes and what is compared is
the contract's arithmetic: selection, chunking and pooling (resizing is tested in test_preprocess.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import reid_contract
from model_export.data.tracklet import Tracklet
from model_export.evaluation import evaluator
from model_export.export.runtime import onnx_embed_fn
from model_export.export.verify import open_session
from service.inference.batcher import MicroBatcher
from service.inference.embedder import Embedder
from service.inference.session import ModelSession

# One crop; a short clip; one whole chunk; a tail of 7 merged into the chunk before it (7 < 16 // 2);
# a tail of 8 kept as a chunk of its own; three chunks.
LENGTHS = (1, 5, 16, 23, 24, 40)


class _Recording:
    """An ONNX Runtime session that keeps every chunk (one row of a batch) it is asked to embed."""

    def __init__(self, session: Any, chunks: list[bytes]) -> None:
        self.session, self.chunks = session, chunks

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> Any:
        (frames,) = feeds.values()
        self.chunks.extend(row.tobytes() for row in frames)
        return self.session.run(names, feeds)


@pytest.fixture(scope="module")
def tracklets(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Tracklet, list[np.ndarray]]]:
    """Each tracklet as the evaluation reads it (PNG files) and as a client uploads it (decoded frames).
    Later frames are darker, so that each chunk's embedding differs and the pooling weights show."""
    folder = tmp_path_factory.mktemp("parity-tracklets")
    rng = np.random.default_rng(7)
    out = []
    for pid, length in enumerate(LENGTHS):
        frames = [rng.integers(0, 256, (64, 48, 3), dtype=np.uint8) // (1 + t // 8) for t in range(length)]
        paths = []
        for t, frame in enumerate(frames):
            paths.append(folder / f"{pid:02d}_{t:03d}.png")
            Image.fromarray(frame).save(paths[-1])
        out.append((Tracklet(pid, 0, tuple(paths)), frames))
    return out


def served(session: ModelSession, tracklets: list[list[np.ndarray]], chunks: list[bytes]) -> np.ndarray:
    """Each tracklet through the service's embedder, as `POST /embed` runs it; (N, D)."""

    def run(frames: np.ndarray) -> np.ndarray:
        chunks.extend(row.tobytes() for row in frames)
        return session.run(frames)

    async def main() -> list[np.ndarray]:
        batcher = MicroBatcher(run, batch_wait_ms=5)
        batcher.start()
        try:
            embedder = Embedder(session, batcher)
            return [(await embedder.embed(frames, "chunks")).vector for frames in tracklets]
        finally:
            await batcher.close()

    return np.stack(asyncio.run(main()))


def evaluated(path: Path, tracklets: list[Tracklet], chunks: list[bytes]) -> np.ndarray:
    """The same tracklets through model_export's evaluation of the file; (N, D)."""
    meta = reid_contract.read_metadata(path)
    session = _Recording(open_session(path, threads=1), chunks)
    embed = onnx_embed_fn(session, meta)  # type: ignore[arg-type]
    return evaluator.embed_tracklets(embed, tracklets, (meta.height, meta.width), meta.frames_per_chunk)


def test_the_evaluation_chunks_with_the_contracts_arithmetic() -> None:
    assert evaluator.chunk_indices is reid_contract.chunk_indices


def test_the_service_embeds_a_tracklet_exactly_as_the_evaluation_did(
    tiny_session: ModelSession,
    tiny_model_path: Path,
    tracklets: list[tuple[Tracklet, list[np.ndarray]]],
) -> None:
    frames_per_chunk = tiny_session.metadata.frames_per_chunk
    by_the_service: list[bytes] = []
    by_the_evaluation: list[bytes] = []
    vectors = served(tiny_session, [frames for _, frames in tracklets], by_the_service)
    reference = evaluated(tiny_model_path, [t for t, _ in tracklets], by_the_evaluation)

    # the same frames in the same chunks: each chunk the model saw, as its exact pixels
    expected = Counter(
        np.stack([frames[i] for i in part]).tobytes()
        for _, frames in tracklets
        for part in reid_contract.chunk_indices(len(frames), frames_per_chunk)
    )
    assert sum(expected.values()) == 1 + 1 + 1 + 1 + 2 + 3
    assert Counter(by_the_service) == expected
    assert Counter(by_the_evaluation) == expected

    # the same pooled vectors
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape == (len(LENGTHS), 64)
    np.testing.assert_allclose(vectors, reference, rtol=0, atol=1e-5)

    # ...which the test can tell apart: the 40-frame tracklet pooled with equal weights, or as one chunk
    _, frames = tracklets[-1]
    parts = [np.stack(frames[s:e])[None] for s, e in ((0, 16), (16, 32), (32, 40))]
    chunk_vectors = np.concatenate([tiny_session.run(p) for p in parts])
    unweighted = chunk_vectors.mean(axis=0) / np.linalg.norm(chunk_vectors.mean(axis=0))
    whole = tiny_session.run(np.stack(frames)[None])[0]
    assert np.abs(unweighted - reference[-1]).max() > 1e-3
    assert np.abs(whole - reference[-1]).max() > 1e-3
