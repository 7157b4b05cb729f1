"""CMC and mAP with the standard video re-id definitions (as torchreid's `evaluate_rank`).

For each query: rank the gallery by ascending distance, drop the gallery entries of the query's
identity seen by the query's own camera (they are not a re-identification), then
- CMC: 1 from the rank of the first correct match on, 0 before it;
- AP: the mean of precision at each correct match.
Queries whose identity has no valid gallery entry are left out and counted. Ties are broken by the
gallery order (a stable sort), so results do not depend on the sort algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankResult:
    cmc: np.ndarray  # cmc[k] = fraction of valid queries matched within the top k+1
    mAP: float  # noqa: N815 - the field's own name for it
    num_valid_queries: int
    num_skipped_queries: int

    def rank(self, k: int) -> float:
        return float(self.cmc[min(k, len(self.cmc)) - 1])

    def as_dict(self, ranks: tuple[int, ...] = (1, 5, 10, 20)) -> dict[str, float | int]:
        out: dict[str, float | int] = {f"rank{k}": self.rank(k) for k in ranks}
        out["mAP"] = self.mAP
        out["queries"] = self.num_valid_queries
        out["skipped_queries"] = self.num_skipped_queries
        return out


def evaluate_rank(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 20,
) -> RankResult:
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    num_q, num_g = distmat.shape
    if (num_q, num_g) != (len(q_pids), len(g_pids)):
        raise ValueError(
            f"distmat {distmat.shape} does not match {len(q_pids)} queries x {len(g_pids)} gallery"
        )
    max_rank = min(max_rank, num_g)
    order = np.argsort(distmat, axis=1, kind="stable")
    cmcs: list[np.ndarray] = []
    aps: list[float] = []
    for i in range(num_q):
        ranked = order[i]
        keep = ~((g_pids[ranked] == q_pids[i]) & (g_camids[ranked] == q_camids[i]))
        matches = (g_pids[ranked] == q_pids[i])[keep]
        if not matches.any():
            continue
        first = int(np.argmax(matches))
        cmc = np.zeros(max_rank)
        cmc[first:] = 1.0
        cmcs.append(cmc)
        hits = np.cumsum(matches)
        precision_at_hits = hits[matches] / (np.flatnonzero(matches) + 1)
        aps.append(float(precision_at_hits.mean()))
    if not cmcs:
        raise ValueError("no query has a correct match in the gallery")
    return RankResult(
        cmc=np.mean(cmcs, axis=0),
        mAP=float(np.mean(aps)),
        num_valid_queries=len(cmcs),
        num_skipped_queries=num_q - len(cmcs),
    )
