"""Which frames of a tracklet, and which tracklets of a batch, the network sees.

Training: `T` frames per tracklet, either consecutive from a random start (video data, where the
order carries motion) or a random subset in random order (multi-shot data such as CUHK03, whose five
images per camera are one pass of a person but no real video: drawing subsets turns ~1,500
tracklets into many distinct training sequences). Test: every frame, in chunks whose embeddings are
averaged, as at test time in the paper; that chunking is the model contract's
(`reid_contract.tracklet.chunk_indices`, re-exported here), the one the service serves with.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Literal

from model_export.data.tracklet import Tracklet
from reid_contract.tracklet import chunk_indices

__all__ = [
    "FrameMode",
    "IdentityBatchSampler",
    "UnlabeledBatchSampler",
    "chunk_indices",
    "train_frame_indices",
]

FrameMode = Literal["consecutive", "random"]


def train_frame_indices(num_frames: int, steps: int, mode: FrameMode, rng: random.Random) -> list[int]:
    """`steps` frame indices into a tracklet of `num_frames`; repeats frames when it is too short."""
    if num_frames < 1 or steps < 1:
        raise ValueError("need at least one frame and one step")
    if mode == "consecutive":
        if num_frames >= steps:
            start = rng.randrange(num_frames - steps + 1)
            return list(range(start, start + steps))
        # Too short: play it forwards then repeat, which keeps the order of real motion.
        return [i % num_frames for i in range(steps)]
    if mode == "random":
        if num_frames >= steps:
            return rng.sample(range(num_frames), steps)
        return [rng.randrange(num_frames) for _ in range(steps)]
    raise ValueError(f"unknown frame mode {mode!r}")


class IdentityBatchSampler:
    """P identities x K tracklets per batch, and one sequence length T drawn per batch.

    K is spread over the identity's cameras first (so most batches hold cross-camera positives, the
    pairs that matter); an identity with fewer than K tracklets contributes some twice, each drawing
    its own frames and augmentation. Yields lists of (tracklet index, T).
    """

    def __init__(
        self,
        tracklets: Sequence[Tracklet],
        ids_per_batch: int,
        tracklets_per_id: int,
        seq_lens: Sequence[int],
        seed: int = 0,
    ) -> None:
        by_pid: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        for index, t in enumerate(tracklets):
            by_pid[t.pid][t.camid].append(index)
        self.by_pid = {pid: [cams[c] for c in sorted(cams)] for pid, cams in by_pid.items()}
        if len(self.by_pid) < ids_per_batch:
            raise ValueError(f"{len(self.by_pid)} identities, fewer than {ids_per_batch} per batch")
        self.ids_per_batch = ids_per_batch
        self.tracklets_per_id = tracklets_per_id
        self.seq_lens = list(seq_lens)
        self.seed = seed
        self.rng = random.Random(seed)

    def set_epoch(self, epoch: int) -> None:
        """Reseed per epoch, so a run resumed at an epoch boundary sees the batches it would have seen."""
        self.rng = random.Random(self.seed * 100_003 + epoch)

    def __len__(self) -> int:
        return len(self.by_pid) // self.ids_per_batch

    def _pick(self, pid: int) -> list[int]:
        cams = self.by_pid[pid]
        order = self.rng.sample(range(len(cams)), len(cams))
        return [self.rng.choice(cams[order[k % len(cams)]]) for k in range(self.tracklets_per_id)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        pids = list(self.by_pid)
        self.rng.shuffle(pids)
        for b in range(len(self)):
            steps = self.rng.choice(self.seq_lens)
            batch_pids = pids[b * self.ids_per_batch : (b + 1) * self.ids_per_batch]
            yield [(index, steps) for pid in batch_pids for index in self._pick(pid)]


class UnlabeledBatchSampler:
    """`per_batch` unlabeled tracklets beside each labelled batch, `batches` per epoch.

    Tracklets are drawn without replacement in shuffled passes over all of them, so a small folder
    of crops is seen evenly and a large one a slice per epoch; T is drawn per batch, as for the
    labelled batches. Reseeded per epoch like `IdentityBatchSampler`, so a resumed run sees the same
    batches. Yields lists of (tracklet index, T).
    """

    def __init__(
        self, num_tracklets: int, per_batch: int, batches: int, seq_lens: Sequence[int], seed: int = 0
    ) -> None:
        if num_tracklets < 1 or per_batch < 2:
            raise ValueError("need at least one unlabeled tracklet and two per batch (pairs to compare)")
        self.num_tracklets = num_tracklets
        self.per_batch = per_batch
        self.batches = batches
        self.seq_lens = list(seq_lens)
        self.seed = seed
        self.rng = random.Random(seed)

    def set_epoch(self, epoch: int) -> None:
        self.rng = random.Random(self.seed * 100_003 + epoch + 1)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        pool: list[int] = []
        for _ in range(self.batches):
            steps = self.rng.choice(self.seq_lens)
            batch: list[int] = []
            while len(batch) < self.per_batch:
                if not pool:
                    pool = self.rng.sample(range(self.num_tracklets), self.num_tracklets)
                batch.append(pool.pop())
            yield [(index, steps) for index in batch]
