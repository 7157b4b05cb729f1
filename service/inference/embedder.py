"""A tracklet's decoded frames -> one embedding, the way the model was evaluated.

Frames are selected, resized to the model's input size, and cut into chunks of the model's
`frames_per_chunk`, whatever the sampling mode: each chunk is a fresh sequence for the recurrent
network, memory stays bounded for long tracklets, and the chunk embeddings are combined by their
length-weighted mean, L2-normalised (the paper's test-time averaging, `chunk_combine` in the metadata).
Selection, chunking and combining are the contract's (`reid_contract.tracklet`), shared with the
training side's evaluation.
Chunks go through the micro-batcher concurrently, so one long tracklet already fills a batch.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from reid_contract.tracklet import SamplingMode, chunk_indices, combine
from service.core.errors import BadInput
from service.inference.batcher import MicroBatcher
from service.inference.preprocess import resize_frames, select_frames
from service.inference.session import ModelSession

__all__ = ["EmbedResult", "Embedder", "SamplingMode"]


@dataclass(frozen=True)
class EmbedResult:
    vector: np.ndarray  # float32 (D,), unit length
    frames_received: int
    frames_used: int
    chunks: int
    seconds: float  # wall time of the whole embedding, queueing included


class Embedder:
    """Embeds tracklets with one model session, its chunks batched with other requests' chunks."""

    def __init__(self, session: ModelSession, batcher: MicroBatcher) -> None:
        self._session = session
        self._batcher = batcher

    async def embed(
        self, frames: list[np.ndarray], mode: SamplingMode = "chunks", count: int | None = None
    ) -> EmbedResult:
        """Decoded RGB uint8 frames (any size) of one tracklet -> its embedding and how it was made."""
        started = time.perf_counter()
        if not frames:
            raise BadInput("the tracklet has no frames")
        meta = self._session.metadata
        indices = select_frames(len(frames), mode, count)
        chosen = [frames[i] for i in indices]
        # Resizing full-size frames is real CPU work: off the event loop, not on the model's thread.
        resized = await asyncio.to_thread(resize_frames, chosen, meta.height, meta.width)
        chunks = chunk_indices(len(resized), meta.frames_per_chunk)
        futures = self._batcher.submit_many([resized[idx] for idx in chunks])
        # return_exceptions: every future is awaited, so a failure leaves no unretrieved exception.
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        vector = combine(np.stack(outcomes), [len(idx) for idx in chunks]).astype(np.float32, copy=False)
        return EmbedResult(
            vector=vector,
            frames_received=len(frames),
            frames_used=len(indices),
            chunks=len(chunks),
            seconds=time.perf_counter() - started,
        )
