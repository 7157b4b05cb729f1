"""The person detector on the engine layer: Intel's `pedestrian-detection-adas-0002` (an SSD on
MobileNet v1, OpenVINO IR, Apache-2.0; card in models/detector/) run by OpenVINO on the CPU.

Same rules as the re-id model (service/inference/engine.py): the precision is chosen from the host
(`auto`: bf16 where the CPU computes it natively, else fp32) or set, a setting that cannot run is
refused before serving with a message that names it, and the chosen precision is held to references
the detector carries (boxes the fp32 run gave on a reference frame shipped beside the file) before it
detects anything. ONNX Runtime cannot read OpenVINO IR: a GPU host needs an ONNX export of the
detector, which is not shipped, and is refused here rather than run on something else.

Frames in are the service's own: RGB uint8 (H, W, 3) of any size, as service.media.decode gives them.
Each is resized (stretched, no letterbox: the network was trained on whole frames squeezed to its
input) to 384x672, turned to BGR planes of float 0-255 (the graph holds no mean or scale). Boxes out
are (n, 5) float32 rows `x1, y1, x2, y2, confidence` in the frame's pixels, corners clipped to it.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from service.inference.engine import EngineUnavailable
from service.inference.hardware import Hardware

DetectorPrecision = Literal["fp32", "bf16"]
DetectorPrecisionSetting = Literal["auto", "fp32", "bf16"]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DETECTOR = REPO / "models" / "detector" / "pedestrian-detection-adas-0002"
INPUT_HEIGHT, INPUT_WIDTH = 384, 672
PERSON_LABEL = 1  # the IR's only class; label 0 is SSD's background

# The setting names the refusals quote (the composition root maps its settings onto these arguments)
PRECISION_SETTING = "REID_DETECTOR_PRECISION"
DEVICE_SETTING = "REID_DETECTOR_DEVICE"
PATH_SETTING = "REID_DETECTOR_PATH"

# The parity gate: every reference box over REFERENCE_KEEP must be found again (and every box found
# over it must be a reference) at an IoU of at least REFERENCE_IOU and a confidence within
# REFERENCE_CONFIDENCE. bf16 moves boxes by a pixel or two and confidences by about 0.01 here.
REFERENCE_KEEP = 0.4
REFERENCE_IOU = 0.85
REFERENCE_CONFIDENCE = 0.1


@dataclass(frozen=True)
class DetectorInfo:
    """What the loaded detector really runs on: for the log, /model and the footage answer."""

    name: str
    engine: str  # "openvino <version>"
    device: str
    precision: DetectorPrecision
    reason: str
    parity: str  # the gate's verdict in words


@dataclass(frozen=True)
class DetectOptions:
    """Which boxes a frame keeps. `roi` is (x1, y1, x2, y2) in the frame's pixels: a box is kept when
    the point it stands on (the middle of its bottom edge) lies inside, so a person walking out of the
    region is dropped while their head is still in it, and one walking in is kept from the first step."""

    confidence: float = 0.3
    min_width: int = 0
    min_height: int = 0
    roi: tuple[int, int, int, int] | None = None


def choose_precision(
    setting: DetectorPrecisionSetting, hardware: Hardware, device: str = "CPU"
) -> tuple[DetectorPrecision, str]:
    """The precision to compile the detector at and why; EngineUnavailable naming the setting when the
    host cannot run what was asked."""
    if hardware.openvino_devices is None:
        raise EngineUnavailable(
            "the person detector is OpenVINO IR and the openvino package is not installed (pip install "
            "openvino); ONNX Runtime cannot read IR: a host with ONNX Runtime alone (a GPU host) needs an "
            "ONNX export of the detector, which is not shipped"
        )
    if device not in hardware.openvino_devices:
        raise EngineUnavailable(
            f"{DEVICE_SETTING}={device}: OpenVINO sees {', '.join(hardware.openvino_devices) or 'no device'}"
        )
    if setting == "auto":
        if device == "CPU" and hardware.native_bf16:
            return "bf16", f"the CPU computes bf16 natively ({hardware.describe()})"
        return "fp32", "fp32" + ("" if device != "CPU" else f" on {hardware.describe()}")
    if setting == "bf16" and device == "CPU" and not hardware.native_bf16:
        raise EngineUnavailable(
            f"{PRECISION_SETTING}=bf16: this CPU has neither AVX512_BF16 nor AMX ({hardware.describe()}); "
            "emulated bf16 is slower than fp32"
        )
    if setting not in ("fp32", "bf16"):
        raise EngineUnavailable(f"{PRECISION_SETTING}={setting}: expected auto, fp32 or bf16")
    return setting, "as set"


class PersonDetector:
    """A compiled detector and its reused infer request; `detect` is blocking and not thread-safe
    (one request): give each worker thread its own detector, as the embedder's batcher does."""

    def __init__(
        self,
        path: Path = DEFAULT_DETECTOR,
        *,
        precision: DetectorPrecisionSetting = "auto",
        hardware: Hardware | None = None,
        device: str = "CPU",
        threads: int = 0,
        check_references: bool = True,
    ) -> None:
        if hardware is None:
            from service.inference.hardware import detect

            hardware = detect()
        chosen, reason = choose_precision(precision, hardware, device)
        xml = _ir_file(path)
        import openvino as ov

        core = ov.Core()
        try:
            model = core.read_model(str(xml))
        except RuntimeError as exc:
            raise EngineUnavailable(
                f"{PATH_SETTING}: OpenVINO {ov.__version__} cannot read {xml.name}: "
                + str(exc).splitlines()[-1]
            ) from None
        _check_graph(model, xml)
        config: dict[str, object] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": ov.Type.bf16 if chosen == "bf16" else ov.Type.f32,
        }
        if threads > 0 and device == "CPU":
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = core.compile_model(model, device, config)
        if device == "CPU":
            got = compiled.get_property("INFERENCE_PRECISION_HINT")
            if got != config["INFERENCE_PRECISION_HINT"]:
                raise EngineUnavailable(f"OpenVINO's CPU plugin compiled the detector at {got}, not {chosen}")
        self._request = compiled.create_infer_request()
        self._blob = np.empty((1, 3, INPUT_HEIGHT, INPUT_WIDTH), dtype=np.float32)
        verdict = "not checked"
        if check_references:
            verdict = check_references_of(self, xml.parent)
        self.info = DetectorInfo(xml.stem, f"openvino {ov.__version__}", device, chosen, reason, verdict)

    def detect(self, frames: Sequence[np.ndarray], options: DetectOptions | None = None) -> list[np.ndarray]:
        """Each frame's boxes, (n, 5) float32 `x1, y1, x2, y2, confidence` in its pixels, best first."""
        options = options or DetectOptions()
        return [self._detect_one(frame, options) for frame in frames]

    def _detect_one(self, frame: np.ndarray, options: DetectOptions) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        resized = cv2.resize(frame, (INPUT_WIDTH, INPUT_HEIGHT), interpolation=cv2.INTER_LINEAR)
        self._blob[0] = resized[:, :, ::-1].transpose(2, 0, 1)  # RGB -> BGR planes, 0-255
        self._request.infer({0: self._blob})
        rows = self._request.get_output_tensor(0).data.reshape(-1, 7)
        return select_boxes(rows, width, height, options)


class SharedDetector:
    """One detector shared by a process's requests: `detect` takes a lock around each call (a
    compiled model's infer request serves one caller at a time), so two clips detected at once
    interleave their frames instead of racing on the request. Blocking: call it off the event loop."""

    def __init__(self, detector: PersonDetector) -> None:
        self._detector = detector
        self._lock = threading.Lock()
        self.info = detector.info

    def detect(self, frames: Sequence[np.ndarray], options: DetectOptions | None = None) -> list[np.ndarray]:
        with self._lock:
            return self._detector.detect(frames, options)


def select_boxes(rows: np.ndarray, width: int, height: int, options: DetectOptions) -> np.ndarray:
    """SSD's `[image_id, label, confidence, x_min, y_min, x_max, y_max]` rows (corners 0-1) of one
    image to kept boxes in pixels; rows after an image_id of -1 are unused."""
    end = np.flatnonzero(rows[:, 0] < 0)
    rows = rows[: end[0]] if end.size else rows
    rows = rows[(rows[:, 1] == PERSON_LABEL) & (rows[:, 2] >= options.confidence)]
    boxes = np.empty((len(rows), 5), dtype=np.float32)
    boxes[:, [0, 2]] = np.clip(rows[:, [3, 5]], 0.0, 1.0) * width
    boxes[:, [1, 3]] = np.clip(rows[:, [4, 6]], 0.0, 1.0) * height
    boxes[:, 4] = rows[:, 2]
    keep = (boxes[:, 2] - boxes[:, 0] >= max(options.min_width, 1)) & (
        boxes[:, 3] - boxes[:, 1] >= max(options.min_height, 1)
    )
    if options.roi is not None:
        x1, y1, x2, y2 = options.roi
        foot_x = (boxes[:, 0] + boxes[:, 2]) / 2
        foot_y = boxes[:, 3]
        keep &= (foot_x >= x1) & (foot_x <= x2) & (foot_y >= y1) & (foot_y <= y2)
    boxes = boxes[keep]
    return boxes[np.argsort(-boxes[:, 4], kind="stable")]


def _ir_file(path: Path) -> Path:
    """The .xml of a detector folder (or the .xml itself); its .bin must sit beside it."""
    xml = path
    if path.is_dir():
        found = sorted(path.glob("*.xml"))
        if len(found) != 1:
            raise EngineUnavailable(
                f"{PATH_SETTING}={path}: expected one OpenVINO .xml there, found {len(found)}"
            )
        xml = found[0]
    if xml.suffix == ".onnx":
        raise EngineUnavailable(
            f"{PATH_SETTING}={path}: an ONNX detector is not supported yet; the shipped detector is "
            "OpenVINO IR"
        )
    if not xml.is_file() or not xml.with_suffix(".bin").is_file():
        raise EngineUnavailable(f"{PATH_SETTING}={path}: no OpenVINO IR (.xml with its .bin) there")
    return xml


def _check_graph(model: object, xml: Path) -> None:
    """The IR must be the SSD this module reads: one (1, 3, 384, 672) image in, (1, 1, N, 7) rows out."""
    inputs, outputs = model.inputs, model.outputs  # type: ignore[attr-defined]
    shape_in = tuple(inputs[0].get_partial_shape().to_shape()) if len(inputs) == 1 else ()
    shape_out = tuple(outputs[0].get_partial_shape().to_shape()) if len(outputs) == 1 else ()
    if shape_in != (1, 3, INPUT_HEIGHT, INPUT_WIDTH) or len(shape_out) != 4 or shape_out[-1] != 7:
        raise EngineUnavailable(
            f"{xml.name}: expected one (1, 3, {INPUT_HEIGHT}, {INPUT_WIDTH}) input and SSD rows "
            f"(1, 1, N, 7) out, got {shape_in or len(inputs)} in and {shape_out or len(outputs)} out"
        )


# ------------------------------------------------------------------------------------- the references


def check_references_of(detector: PersonDetector, folder: Path) -> str:
    """Run the detector on the folder's reference frame and hold its boxes to the fp32 references
    (`reference.json`); EngineUnavailable when they differ beyond the gate's tolerances."""
    spec_path = folder / "reference.json"
    if not spec_path.is_file():
        raise EngineUnavailable(
            f"{PATH_SETTING}={folder}: no reference.json beside the detector: a detector carries the boxes "
            "its fp32 run gave on a reference frame, and is held to them"
        )
    spec = json.loads(spec_path.read_text())
    image = cv2.imread(str(folder / spec["frame"]), cv2.IMREAD_COLOR)
    if image is None:
        raise EngineUnavailable(f"{folder}: cannot read the reference frame {spec['frame']!r}")
    frame = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    found = detector.detect([frame], DetectOptions(confidence=float(spec["confidence"])))[0]
    expected = np.asarray(spec["boxes"], dtype=np.float32).reshape(-1, 5)
    problems = compare_boxes(found, expected)
    if problems:
        raise EngineUnavailable(
            f"the detector at this precision differs from its fp32 references on {spec['frame']}: "
            + "; ".join(problems[:3])
            + f" (set {PRECISION_SETTING}=fp32)"
        )
    kept = int((expected[:, 4] >= REFERENCE_KEEP).sum())
    return (
        f"{kept} reference boxes found again (IoU >= {REFERENCE_IOU}, "
        f"confidence within {REFERENCE_CONFIDENCE})"
    )


def compare_boxes(found: np.ndarray, expected: np.ndarray) -> list[str]:
    """What keeps `found` from matching `expected` under the gate's tolerances, in words (empty: none)."""
    problems: list[str] = []
    for name, ours, theirs in (("reference", expected, found), ("detected", found, expected)):
        for box in ours[ours[:, 4] >= REFERENCE_KEEP]:
            ious = iou(box[:4], theirs[:, :4]) if len(theirs) else np.zeros(0)
            best = int(np.argmax(ious)) if ious.size else -1
            if best < 0 or ious[best] < REFERENCE_IOU:
                problems.append(f"{name} box {_fmt(box)} has no counterpart")
            elif abs(float(theirs[best, 4] - box[4])) > REFERENCE_CONFIDENCE:
                problems.append(f"{name} box {_fmt(box)} scores {theirs[best, 4]:.3f} on the other side")
    return problems


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def _fmt(box: np.ndarray) -> str:
    x1, y1, x2, y2, conf = (float(v) for v in box)
    return f"({math.floor(x1)},{math.floor(y1)})-({math.ceil(x2)},{math.ceil(y2)}) at {conf:.3f}"
