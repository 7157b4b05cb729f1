"""The served model: the file's contract, the engine chosen to run it, and the proof that it does.

The service trusts nothing but the file: the metadata (read without any engine) says the input size,
the embedding size, the chunk length and the precision the weights are stored in. The engine is then
chosen (`engine.plan`), loaded, checked against the contract and held to the file's parity probe;
under `auto` a plan that fails to load or to pass is logged and the next one is tried, while an
explicit setting that fails stops the start with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reid_contract import ModelMetadata, PrecisionSetting, read_metadata
from service.core.errors import EngineFailed
from service.inference import hardware as hw
from service.inference.engine import Engine, EngineInfo, EngineSetting, EngineUnavailable, Plan, plan
from service.inference.parity import ParityResult, check_parity

log = logging.getLogger(__name__)


class ParityFailed(RuntimeError):
    """The chosen engine and precision do not reproduce the file's references: the service does not start."""


def load_engine(path: Path, meta: ModelMetadata, chosen: Plan, threads: int) -> Engine:
    if chosen.engine == "openvino":
        from service.inference.openvino_engine import OpenVINOEngine

        return OpenVINOEngine(path, meta, chosen, threads)
    from service.inference.onnxruntime_engine import OnnxRuntimeEngine

    return OnnxRuntimeEngine(path, meta, chosen, threads)


class ModelSession:
    """One loaded model: its contract, its engine, and the parity it showed at load."""

    def __init__(
        self,
        path: Path | str,
        *,
        providers: Sequence[str] = (),
        intra_op_threads: int = 0,
        engine: EngineSetting = "auto",
        precision: PrecisionSetting = "auto",
        openvino_device: str = "CPU",
        hardware: hw.Hardware | None = None,
    ) -> None:
        self.path = Path(path)
        self._metadata = read_metadata(self.path)
        host = hardware or hw.detect()
        plans = plan(
            engine,
            precision,
            host,
            self._metadata.precision,
            providers=tuple(providers),
            openvino_device=openvino_device,
        )
        explicit = len(plans) == 1 and (engine != "auto" or precision != "auto" or bool(providers))
        failures: list[str] = []
        for candidate in plans:
            try:
                loaded, parity = self._try(candidate, intra_op_threads)
            except (EngineUnavailable, ParityFailed) as exc:
                if explicit:
                    raise
                failures.append(f"{candidate.describe()}: {exc}")
                log.warning("not serving with %s: %s", candidate.describe(), exc)
                continue
            break
        else:
            raise EngineUnavailable("no engine could serve the model: " + "; ".join(failures))
        self._engine, self.parity, self.plan = loaded, parity, candidate
        info = loaded.info
        log.info(
            "model %s loaded from %s: %s %s on %s at %s (%s); %s",
            self._metadata.model_id,
            self.path,
            info.name,
            info.version,
            info.device,
            info.precision,
            candidate.reason,
            parity.describe(),
        )

    def _try(self, candidate: Plan, threads: int) -> tuple[Engine, ParityResult]:
        meta = self._metadata
        if meta.probe is None and candidate.precision != meta.precision:
            raise EngineUnavailable(
                f"{candidate.precision} cannot be checked: the file carries no parity references "
                "(python -m model_export probe FILE adds them)"
            )
        loaded = load_engine(self.path, meta, candidate, threads)
        parity = check_parity(loaded.run, meta)
        if not parity.passed:
            raise ParityFailed(f"{candidate.describe()} fails the {parity.describe()}")
        return loaded, parity

    @property
    def metadata(self) -> ModelMetadata:
        return self._metadata

    @property
    def engine(self) -> EngineInfo:
        """What serves: engine, version, device, precision (what really runs, not what was asked)."""
        return self._engine.info

    @property
    def providers_in_use(self) -> list[str]:
        """ONNX Runtime's providers in use, or the OpenVINO device."""
        return list(self._engine.info.providers)

    @property
    def device(self) -> str:
        return self._engine.info.device.lower()

    def run(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (B, T, H, W, 3) RGB -> float32 (B, D) unit vectors. Blocking: call it off the event loop."""
        meta = self._metadata
        if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[2:] != (meta.height, meta.width, 3):
            expected = f"uint8 (B, T, {meta.height}, {meta.width}, 3)"
            raise ValueError(f"frames must be {expected}; got {frames.dtype} {frames.shape}")
        if frames.shape[0] == 0 or frames.shape[1] == 0:
            raise ValueError(f"frames must hold at least one tracklet of one frame; got {frames.shape}")
        try:
            return self._engine.run(frames)
        except Exception as exc:  # the engine's own failure: this batch's requests only
            log.exception("%s failed on a batch of %s", self._engine.info.name, frames.shape)
            raise EngineFailed(
                f"the model engine ({self._engine.info.name}) failed on this request; it was logged"
            ) from exc

    def warmup(self) -> None:
        """Run T=1 and T=frames_per_chunk once, so the first requests do not pay for allocation/tuning."""
        meta = self._metadata
        for length in sorted({1, meta.frames_per_chunk}):
            self.run(np.zeros((1, length, meta.height, meta.width, 3), np.uint8))
