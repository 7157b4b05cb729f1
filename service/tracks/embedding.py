"""Tracks embedded while the clip is still decoding: each track is handed over (from the decoding
thread) the moment its last crop is cut, and embedded at once, a few tracks at a time.

On a GPU the model would otherwise idle through the whole decode; on CPUs the two share the cores.
`in_flight` bounds the tracks embedding at once, so that one long file does not fill the model's
queue alone (its chunks share batches with other requests').
"""

from __future__ import annotations

import asyncio

import numpy as np

from service.inference.embedder import Embedder, EmbedResult


class TrackEmbedder:
    def __init__(self, embedder: Embedder, in_flight: int, keep_crops: bool) -> None:
        self._embedder = embedder
        self._loop = asyncio.get_running_loop()
        self._gate = asyncio.Semaphore(in_flight)
        self._keep = keep_crops
        self._tasks: dict[int, asyncio.Task[EmbedResult]] = {}
        self._closed = False
        self.crops: dict[int, np.ndarray] = {}  # kept only with keep_crops (the thumbnails need them)

    def handover(self, track_id: int, crops: np.ndarray) -> None:
        """cut_crops' on_track: called in the decoding thread, starts the embedding on the loop."""
        self._loop.call_soon_threadsafe(self._start, track_id, crops)

    def _start(self, track_id: int, crops: np.ndarray) -> None:
        if self._closed:  # the request failed or went away meanwhile: nothing to start
            return
        if self._keep:
            self.crops[track_id] = crops
        self._tasks[track_id] = self._loop.create_task(self._one(crops), name=f"reid-track-{track_id}")

    async def _one(self, crops: np.ndarray) -> EmbedResult:
        async with self._gate:
            return await self._embedder.embed(list(crops), "chunks")

    async def results(self) -> dict[int, EmbedResult]:
        """Every handed-over track's embedding; the first failure (a 429, a model error) is raised
        and the other embeddings are cancelled."""
        try:
            values = await asyncio.gather(*self._tasks.values())
        except BaseException:
            await self.cancel()
            raise
        return dict(zip(self._tasks, values, strict=True))

    async def cancel(self) -> None:
        """Stop everything started, and anything the decoding thread would still hand over."""
        self._closed = True
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
