"""One chunk through a MicroBatcher: what a caller of `submit_many` awaits for a single chunk."""

from __future__ import annotations

import numpy as np

from service.inference.batcher import MicroBatcher


async def embed_chunk(batcher: MicroBatcher, chunk: np.ndarray) -> np.ndarray:
    """One chunk (T, H, W, 3) -> its (D,) embedding, computed in a batch with its neighbours."""
    (future,) = batcher.submit_many([chunk])
    return await future
