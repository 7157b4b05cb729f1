"""Other projects' re-id models as crop embedders, to be measured beside ours and to teach ours.

Each peer embeds single crops, as its authors use it: RGB uint8 crops (N, 3, H, W) at its input size
in, L2-normalised vectors (N, D) out. The preprocessing each one expects (channel order, scale, mean)
is its own and lives here, next to the file it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PEERS_ROOT = Path("../shared/peers")
INTEL_MODELS: tuple[str, ...] = (
    "person-reidentification-retail-0277",
    "person-reidentification-retail-0286",
    "person-reidentification-retail-0287",
    "person-reidentification-retail-0288",
)
OSNET_ONNX = "torchreid-osnet/osnet_x0_25_msmt17.onnx"
# `teach`'s teachers unless told otherwise, and those of every run before checkpoints named theirs
DEFAULT_TEACHERS: tuple[str, ...] = INTEL_MODELS[:2]
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class OpenVINOPeer:
    """An OpenVINO IR (Intel's Open Model Zoo): BGR, 0-255 floats; the graph normalises.

    `precision` "f32" (the default) computes in fp32 on every CPU: OpenVINO's own default is bf16
    wherever the CPU has it, which moved 0277's rank-1 by up to 0.009 between two machines, so a
    peer's figures would depend on where they were scored. None keeps OpenVINO's choice, for work
    that needs no bit-equal figures (a teacher's targets: fp32 took 4x bf16's time on an EPYC)."""

    input_size = (256, 128)

    def __init__(self, xml: Path, threads: int = 0, batch: int = 16, precision: str | None = "f32") -> None:
        import openvino as ov

        self.name = xml.stem
        self.batch = batch
        core = ov.Core()
        model = core.read_model(xml)
        model.reshape({model.inputs[0].get_any_name(): [batch, 3, *self.input_size]})
        config: dict[str, object] = {} if precision is None else {"INFERENCE_PRECISION_HINT": precision}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = core.compile_model(model, "CPU", config)
        self.precision = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        n = len(crops)
        x = crops[:, ::-1].astype(np.float32)  # RGB -> BGR
        out = []
        for start in range(0, n, self.batch):
            part = x[start : start + self.batch]
            pad = self.batch - len(part)
            if pad:  # the IR is compiled for one batch size
                part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), np.float32)])
            out.append(self._compiled(part)[0][: self.batch - pad])
        return normalise(np.concatenate(out).astype(np.float32))


@dataclass
class OnnxPeer:
    """torchreid's OSNet exported to ONNX: RGB in [0, 1], ImageNet mean and std, batch dynamic."""

    path: Path
    threads: int = 0
    input_size: tuple[int, int] = (256, 128)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads > 0:
            options.intra_op_num_threads = self.threads
        self.name = self.path.stem
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        x = (crops.astype(np.float32) / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD
        out = self._session.run(None, {self._input: x})[0]
        return normalise(out.astype(np.float32))


def build_peer(
    name: str, root: Path = PEERS_ROOT, threads: int = 0, precision: str | None = "f32"
) -> OpenVINOPeer | OnnxPeer:
    """`person-reidentification-retail-0277` ... or `osnet_x0_25_msmt17`, read from `root`;
    `precision` is OpenVINO's (ONNX Runtime's CPU provider computes fp32 on every CPU)."""
    if name in INTEL_MODELS:
        matches = sorted((root / "intel" / name).glob(f"FP*/{name}.xml"))
        if not matches:
            raise FileNotFoundError(f"no {name}.xml under {root / 'intel' / name}")
        return OpenVINOPeer(matches[-1], threads=threads, precision=precision)
    if name == Path(OSNET_ONNX).stem:
        return OnnxPeer(root / OSNET_ONNX, threads=threads)
    raise ValueError(f"unknown peer {name!r}; known: {', '.join([*INTEL_MODELS, Path(OSNET_ONNX).stem])}")
