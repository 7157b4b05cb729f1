"""The one evaluation command: sequence models, crop models (peers, OpenVINO included) and the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_export.cli import main
from model_export.evaluation.compare import CropModel, SequenceModel, Timer, compare, table
from model_export.evaluation.peers import OpenVINOPeer

PEOPLE = 6


def _colour(pid: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(pid)
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _tree(root: Path, people: int) -> Path:
    """VIPeR and PRID layouts whose people are flat colours, each camera a little off the other."""
    for pid in range(people):
        c = np.array(_colour(pid))
        for cam, shift in ((1, 0), (2, 12)):
            image = np.clip(c + shift, 0, 255).astype(np.uint8)
            path = root / "peta" / "VIPeR" / f"{pid:03d}_0_{cam}.bmp"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((32, 16, 3), image)).save(path)
            prid = root / "peta" / "PRID" / f"{pid + 1:04d}_{'ab'[cam - 1]}.png"
            prid.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((32, 16, 3), image)).save(prid)
    return root


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return _tree(tmp_path / "data", PEOPLE)


def _colour_embedder(crops: np.ndarray) -> np.ndarray:
    x = crops.reshape(len(crops), 3, -1).mean(axis=2) - 127.5
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_model_that_sees_people_ranks_first_and_a_blind_one_does_not(data_root: Path) -> None:
    sees = CropModel("sees", _colour_embedder, (32, 16))
    rng = np.random.default_rng(0)
    blind = CropModel("blind", lambda c: rng.normal(size=(len(c), 8)), (32, 16))

    def sequence_fn(x: torch.Tensor) -> torch.Tensor:  # (B, T, 3, H, W) in [0, 1]
        v = x.mean(dim=(1, 3, 4)) - 0.5
        return torch.nn.functional.normalize(v, dim=1)

    sequence = SequenceModel("sequence", sequence_fn, (32, 16))
    rows = compare([sees, blind, sequence], data_root, ["viper", "prid"])
    by_name = {r["name"]: r for r in rows}
    assert by_name["sees"]["viper"]["rank1"] == 1.0 and by_name["sees"]["prid"]["rank1"] == 1.0
    assert by_name["sequence"]["viper"]["rank1"] == 1.0
    assert by_name["blind"]["viper"]["rank1"] < 0.9
    assert sees.timer.crops == 2 * (2 * PEOPLE) and sees.timer.crops_per_s > 0  # two sets, two cameras
    markdown = table(rows, ["viper", "prid"]).splitlines()
    assert markdown[0].startswith("| model | viper rank-1 | viper mAP | prid rank-1")
    assert "| true matches at 0.001 false (viper, prid) | frames/s |" in markdown[0]
    assert markdown[2].startswith("| sees | 1.000 |")
    # 60 impostor pairs cannot measure one false match in a thousand: no figure, not a made-up one
    assert by_name["sees"]["tmr"] is None and " | - | " in markdown[2]


class Oracle:
    """Knows who everyone is: same person 1, different people 0."""

    name = "oracle"

    def __init__(self, people: int) -> None:
        self.people = people
        self.timer = Timer()

    def embed(self, tracklets: list) -> np.ndarray:
        return np.eye(self.people, dtype=np.float32)[[t.pid % self.people for t in tracklets]]


def test_the_true_match_rate_at_one_false_match_in_a_thousand(tmp_path: Path) -> None:
    root = _tree(tmp_path / "data", 40)  # 2 x 40 x 39 impostor pairs: enough for 1e-3
    rows = compare([Oracle(41)], root, ["viper", "prid"])
    assert rows[0]["tmr"] == {"threshold": 0.0001, "true_match_rate": 1.0}
    assert "| 1.000 (cos 0.000) |" in table(rows, ["viper", "prid"])


def _tiny_ir(tmp_path: Path) -> Path:
    """An OpenVINO IR as Intel ships them: batch 1, (3, 256, 128) BGR 0-255 in, a vector out.

    Its 'embedding' is the mean of each input channel, so the channel order it was fed is visible.
    """
    import openvino as ov

    class ChannelMeans(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    onnx_path = tmp_path / "tiny.onnx"
    torch.onnx.export(ChannelMeans(), (torch.rand(1, 3, 256, 128),), str(onnx_path), dynamo=False)
    xml = tmp_path / "tiny.xml"
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml))
    return xml


def test_openvino_peer_is_fed_bgr_in_batches(tmp_path: Path) -> None:
    peer = OpenVINOPeer(_tiny_ir(tmp_path), threads=1, batch=4)
    crops = np.zeros((5, 3, 256, 128), np.uint8)  # five crops: not a multiple of the batch
    crops[:, 0] = 200  # red in RGB
    crops[:, 2] = 10
    out = peer(crops)
    assert out.shape == (5, 3)
    expected = np.array([10.0, 0.0, 200.0]) / np.linalg.norm([10.0, 0.0, 200.0])  # blue, green, red
    assert np.allclose(out, expected, atol=1e-3)
    assert peer.precision == "f32"  # not the bf16 a CPU with it would pick by default


def test_a_teacher_may_keep_openvinos_fastest_precision(tmp_path: Path) -> None:
    import openvino as ov

    peer = OpenVINOPeer(_tiny_ir(tmp_path), threads=1, batch=4, precision=None)
    assert peer.precision == ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()


def test_compare_needs_something_to_compare(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="nothing to compare"):
        main(["compare", "--out", str(tmp_path)])


def test_a_checkpoint_is_compared_with_and_without_its_recurrence(data_root: Path, tmp_path: Path) -> None:
    import json

    from model_export.config import TrainConfig
    from model_export.engine.checkpoint import build_model, save_checkpoint

    cfg = TrainConfig(backbone="paper", head="recurrent", embedding_dim=16)
    net = build_model(cfg, num_classes=3)
    torch.nn.init.normal_(net.temporal.mix.weight, std=1.0)  # a recurrence that changes the embedding
    save_checkpoint(
        tmp_path / "last.pt", {"model": net.state_dict(), "config": cfg.to_json(), "num_classes": 3}
    )
    out = tmp_path / "out"
    argv = ["compare", "--checkpoint", str(tmp_path / "last.pt"), "--without-recurrence"]
    assert main([*argv, "--sets", "viper", "--data-root", str(data_root), "--out", str(out)]) == 0
    rows = json.loads((out / "rows.json").read_text())
    assert [r["name"] for r in rows] == [
        f"{tmp_path.name}/last.pt",
        f"{tmp_path.name}/last.pt without recurrence",
    ]
    lines = (out / "table.md").read_text().splitlines()
    assert len(lines) == 4 and lines[3].startswith(f"| {tmp_path.name}/last.pt without recurrence | ")
    # the machine the figures were scored on, with the engines' versions: another's are not comparable
    machine = (out / "machine.txt").read_text()
    assert "onnxruntime 1." in machine and "openvino 20" in machine and machine.split(";")[0].strip()


def test_half_the_people_are_scored(data_root: Path) -> None:
    from model_export.evaluation.compare import open_test_set

    sees = CropModel("sees", _colour_embedder, (32, 16))
    rows = compare([sees], data_root, ["viper", "prid"], people="odd")
    assert rows[0]["viper"]["rank1"] == 1.0
    assert sees.timer.crops == 2 * (2 * (PEOPLE // 2))  # only the odd half was embedded
    assert {t.pid % 2 for t in open_test_set("viper", data_root, "odd").gallery} == {1}


def test_a_held_out_training_site_is_a_test_set(tmp_path: Path) -> None:
    """3DPeS names sightings, not cameras: each person's sightings are ranked against each other."""
    from model_export.evaluation.compare import open_test_set

    root = tmp_path / "data"
    site = root / "peta" / "3DPeS"
    site.mkdir(parents=True)
    for pid in range(1, PEOPLE + 1):
        for sighting in (2 * pid, 2 * pid + 1):
            shift = 3 * (sighting % 2)
            image = np.clip(np.array(_colour(pid)) + shift, 0, 255).astype(np.uint8)
            Image.fromarray(np.full((32, 16, 3), image)).save(site / f"{pid}_{sighting}_FRAME_1_RGB.bmp")
    split = open_test_set("3dpes", root)
    assert len(split.query) == len(split.gallery) == 2 * PEOPLE and split.train == []

    sees = CropModel("sees", _colour_embedder, (32, 16))
    blind = CropModel("blind", lambda crops: np.ones((len(crops), 3)) / np.sqrt(3), (32, 16))
    rows = compare([sees, blind], root, ["3dpes"])
    assert rows[0]["3dpes"]["rank1"] == 1.0
    assert rows[1]["3dpes"]["rank1"] < 0.5
    # the figure candidates are chosen on: the mean over the held-out sites, a column of its own
    blind_rank1 = rows[1]["3dpes"]["rank1"]
    lines = table(rows, ["3dpes"]).splitlines()
    assert "held-out mean rank-1 (3dpes)" in lines[0]
    assert "| 1.000 | 1.000 | 1.000 |" in lines[2] and f"| {blind_rank1:.3f} |" in lines[3]
    with pytest.raises(SystemExit, match="unknown test set 'mars'"):
        open_test_set("mars", root)


def test_two_cpus_behind_one_masked_name_are_told_apart() -> None:
    from model_export.evaluation.compare import describe_cpu

    def cpuinfo(model: int, flags: str) -> str:
        block = (
            "processor\t: {}\nmodel name\t: AMD EPYC\ncpu family\t: 25\nmodel\t\t: {}\nflags\t\t: fpu {}\n"
        )
        return block.format(0, model, flags) + "\n" + block.format(1, 99, "")  # the first one counts

    zen3 = describe_cpu(cpuinfo(1, "sse4_2 avx2 fma"))
    zen4 = describe_cpu(cpuinfo(17, "avx2 avx512f avx512_bf16 avx512_vnni"))
    assert zen3 == "AMD EPYC (family 25 model 1; avx2)"
    assert zen4 == "AMD EPYC (family 25 model 17; avx2 avx512f avx512_bf16 avx512_vnni)"
    assert describe_cpu("") == "unknown CPU (family ? model ?; no AVX2)"
