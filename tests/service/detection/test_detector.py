"""The person detector on real frames: people found where they stand, nothing on an empty frame, the
region of interest and size floor applied, and the engine-layer rules (precision held to the
references it carries, refusals that name the setting)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.detection.detector import (
    DEFAULT_DETECTOR,
    DetectOptions,
    PersonDetector,
    choose_precision,
    compare_boxes,
    iou,
    select_boxes,
)
from service.inference.engine import EngineUnavailable
from service.inference.hardware import Hardware

# The five people fully in view in the clip's first frame (PETS09-S2L1 frame 101), boxed by eye on
# the frame (x1, y1, x2, y2): the pair left of the lamp post, the pair at the far kerb, the one right.
PEOPLE = np.array(
    [
        [348, 198, 380, 272],
        [381, 176, 409, 257],
        [494, 146, 518, 220],
        [516, 151, 540, 220],
        [589, 153, 616, 236],
    ],
    dtype=np.float32,
)
# Also people, seen in part: the one behind the sign right of the lamp post, the far one on the lawn
PARTLY_SEEN = np.array([[426, 178, 452, 258], [220, 58, 240, 96]], dtype=np.float32)

NO_BF16 = Hardware(openvino_devices=("CPU",))
BF16 = Hardware(cpu_flags=frozenset({"avx512_bf16"}), openvino_devices=("CPU",))


def test_the_people_of_a_real_frame_are_found_where_they_stand(detector, clip_frames) -> None:
    boxes = detector.detect(clip_frames[:1], DetectOptions(confidence=0.5))[0]
    assert boxes.shape[1] == 5 and boxes.dtype == np.float32
    for person in PEOPLE:
        assert iou(person, boxes[:, :4]).max() >= 0.6, f"nobody found at {person}"
    people = np.concatenate([PEOPLE, PARTLY_SEEN])
    for box in boxes:  # and nothing on the lawn, the road or the van
        assert iou(box[:4], people).max() >= 0.5, f"a box where nobody stands: {box}"
    assert np.all(np.diff(boxes[:, 4]) <= 0), "best first"


def test_a_batch_gives_each_frame_its_own_boxes(detector, clip_frames) -> None:
    one_by_one = [detector.detect([f])[0] for f in clip_frames[:3]]
    batch = detector.detect(clip_frames[:3])
    assert len(batch) == 3
    for a, b in zip(one_by_one, batch, strict=True):
        np.testing.assert_allclose(a, b)


def test_an_empty_frame_yields_no_box(detector) -> None:
    grey = np.full((576, 768, 3), 128, dtype=np.uint8)
    black = np.zeros((480, 640, 3), dtype=np.uint8)
    assert [len(b) for b in detector.detect([grey, black], DetectOptions(confidence=0.1))] == [0, 0]


def test_the_region_of_interest_drops_people_standing_outside_it(detector, clip_frames) -> None:
    everyone = detector.detect(clip_frames[:1], DetectOptions(confidence=0.5))[0]
    left = (0, 0, 450, 576)  # the pair left of the lamp post stands here, the others to the right
    kept = detector.detect(clip_frames[:1], DetectOptions(confidence=0.5, roi=left))[0]
    feet_x = (kept[:, 0] + kept[:, 2]) / 2
    assert len(kept) >= 2 and np.all(feet_x <= 450)
    assert len(kept) < len(everyone)
    for person in PEOPLE[:2]:
        assert iou(person, kept[:, :4]).max() >= 0.6
    for person in PEOPLE[2:]:
        assert iou(person, kept[:, :4]).max() < 0.1
    nowhere = detector.detect(clip_frames[:1], DetectOptions(confidence=0.5, roi=(0, 400, 768, 576)))[0]
    assert len(nowhere) == 0  # the lawn at the bottom: nobody stands there


def test_the_size_floor_drops_small_boxes(detector, clip_frames) -> None:
    boxes = detector.detect(clip_frames[:1], DetectOptions(confidence=0.3, min_height=80))[0]
    assert len(boxes) >= 1
    assert np.all(boxes[:, 3] - boxes[:, 1] >= 80)


def test_ssd_rows_become_pixel_boxes() -> None:
    rows = np.array(
        [
            [0, 1, 0.9, 0.1, 0.2, 0.3, 0.6],
            [0, 1, 0.2, 0.5, 0.5, 0.6, 0.9],  # under the confidence
            [0, 1, 0.8, -0.1, 0.5, 0.2, 1.2],  # clipped to the frame
            [-1, 0, 0, 0, 0, 0, 0],  # the end
            [0, 1, 0.99, 0.1, 0.1, 0.2, 0.2],  # after the end: unused
        ],
        dtype=np.float32,
    )
    boxes = select_boxes(rows, 1000, 500, DetectOptions(confidence=0.5))
    np.testing.assert_allclose(boxes, [[100, 100, 300, 300, 0.9], [0, 250, 200, 500, 0.8]], rtol=1e-6)


def test_precision_auto_takes_bf16_only_where_the_cpu_computes_it() -> None:
    assert choose_precision("auto", BF16)[0] == "bf16"
    assert choose_precision("auto", NO_BF16)[0] == "fp32"
    assert choose_precision("fp32", BF16)[0] == "fp32"


@pytest.mark.parametrize(
    ("setting", "hardware", "named"),
    [
        ("bf16", NO_BF16, "REID_DETECTOR_PRECISION=bf16"),
        ("auto", Hardware(openvino_devices=None), "ONNX export"),
        ("fp32", Hardware(onnxruntime_providers=("CUDAExecutionProvider",)), "openvino package"),
    ],
)
def test_a_precision_or_host_that_cannot_run_the_detector_is_refused_by_name(
    setting, hardware, named
) -> None:
    with pytest.raises(EngineUnavailable, match=named):
        choose_precision(setting, hardware)


def test_a_device_openvino_does_not_see_is_refused_by_name() -> None:
    with pytest.raises(EngineUnavailable, match="REID_DETECTOR_DEVICE=GPU"):
        choose_precision("auto", NO_BF16, "GPU")


def test_the_shipped_detector_is_held_to_its_references(detector) -> None:
    assert "reference boxes found again" in detector.info.parity
    spec = json.loads((DEFAULT_DETECTOR / "reference.json").read_text())
    assert len(spec["boxes"]) >= 4


def test_a_detector_that_drifts_from_its_references_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "drifted"
    shutil.copytree(DEFAULT_DETECTOR, folder)
    spec = json.loads((folder / "reference.json").read_text())
    spec["boxes"][0][0] += 15  # as if this precision moved a person's box sideways
    (folder / "reference.json").write_text(json.dumps(spec))
    with pytest.raises(
        EngineUnavailable, match=r"differs from its fp32 references.*REID_DETECTOR_PRECISION=fp32"
    ):
        PersonDetector(folder, precision="fp32", threads=1)
    (folder / "reference.json").unlink()
    with pytest.raises(EngineUnavailable, match=r"no reference\.json"):
        PersonDetector(folder, precision="fp32", threads=1)


def test_a_folder_without_ir_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="REID_DETECTOR_PATH"):
        PersonDetector(tmp_path, precision="fp32", hardware=NO_BF16)
    onnx = tmp_path / "detector.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(EngineUnavailable, match="ONNX detector is not supported"):
        PersonDetector(onnx, precision="fp32", hardware=NO_BF16)


def test_compare_boxes_tolerates_small_moves_only() -> None:
    ref = np.array([[10, 10, 50, 110, 0.9], [100, 10, 140, 110, 0.3]], dtype=np.float32)
    assert compare_boxes(ref + np.array([1, 1, 1, 1, 0.02], dtype=np.float32), ref) == []
    assert compare_boxes(ref[1:], ref)  # the confident box lost
    assert compare_boxes(ref * [1, 1, 1, 1, 0.5], ref)  # its confidence halved
