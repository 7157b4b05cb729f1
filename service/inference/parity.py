"""The parity gate: before it serves, an engine runs the file's probe and must give back the file's
own fp32 embeddings (reid_contract/probe.py).

The references are fp32, made with the exporter's engine; bf16 and fp16 applied at run time are held
to them. A file without references (exported before the probe existed) can be served only at the
precision it is stored in: nothing else can be checked, so nothing else is tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reid_contract import MIN_COSINE, ModelMetadata, probe_tracklets
from reid_contract.probe import cosines


@dataclass(frozen=True)
class ParityResult:
    checked: bool  # False: the file carries no references
    cosines: tuple[float, ...]  # one per probe tracklet, in the order of the probe's lengths
    lengths: tuple[int, ...]
    min_cosine: float = MIN_COSINE

    @property
    def worst(self) -> float:
        return min(self.cosines) if self.cosines else float("nan")

    @property
    def passed(self) -> bool:
        return not self.checked or self.worst >= self.min_cosine

    def describe(self) -> str:
        if not self.checked:
            return "no parity references in the file (python -m model_export probe FILE adds them)"
        worst = int(np.argmin(self.cosines))
        return (
            f"parity probe: worst cosine {self.worst:.5f} on the {self.lengths[worst]}-frame tracklet "
            f"(bar {self.min_cosine}; all: {', '.join(f'{c:.5f}' for c in self.cosines)})"
        )


def check_parity(run: Callable[[np.ndarray], np.ndarray], meta: ModelMetadata) -> ParityResult:
    """Run the probe through `run` (uint8 BTHWC -> (B, D)) and compare with the file's references."""
    probe = meta.probe
    if probe is None:
        return ParityResult(checked=False, cosines=(), lengths=())
    tracklets = probe_tracklets(meta.height, meta.width, probe.seed)
    lengths = tuple(t.shape[1] for t in tracklets)
    if lengths != probe.lengths:
        raise ValueError(f"the file's probe has lengths {probe.lengths}; this contract makes {lengths}")
    got = np.concatenate([run(t) for t in tracklets])
    reference = np.asarray(probe.embeddings, dtype=np.float32)
    return ParityResult(
        checked=True, cosines=tuple(float(c) for c in cosines(got, reference)), lengths=lengths
    )
