"""WiSE-FT: a fine-tuned run moved part of the way back to its published weights, exported as any run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_export.cli import main
from model_export.engine.checkpoint import load_checkpoint, load_model, save_checkpoint
from model_export.engine.interpolate import (
    interpolate_states,
    interpolated_from,
    mean_state,
    write_interpolated,
)
from model_export.export import card
from model_export.export.runtime import read_metadata
from model_export.modeling.backbones.osnet import OSNet


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A published OSNet as a checkpoint, and two short fine-tuning runs (two seeds) started from it."""
    root = tmp_path_factory.mktemp("wise")
    torch.manual_seed(0)
    state = OSNet().state_dict()
    weights = root / "osnet_x0_25_msmt17.pth"
    torch.save({"state_dict": {**state, "classifier.weight": torch.zeros(4101, 512)}}, weights)
    published = root / "published.pt"
    assert main(["pretrained", "--backbone-weights", str(weights), "--out", str(published)]) == 0
    args = ["train", "--dataset", "synthetic", "--data-root", str(root / "data"), "--backbone", "osnet_x0_25"]
    args += ["--backbone-weights", str(weights), "--init-from", str(published), "--head", "pooling"]
    args += ["--embedding-dim", "512", "--epochs", "1", "--max-steps", "3", "--ids-per-batch", "4"]
    args += ["--seq-lens", "1", "--eval-every", "0", "--lr", "0.01"]
    for seed in (0, 1):
        assert main([*args, "--seed", str(seed), "--out-dir", str(root / f"run{seed}")]) == 0
    return published, root / "run0" / "last.pt", root / "run1" / "last.pt"


def test_every_weight_lies_on_the_line_and_the_run_s_own_parts_are_kept(
    runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    published, tuned, _ = runs
    out = tmp_path / "wise.pt"
    args = ["interpolate", str(tuned), "--start", str(published), "--alpha", "0.25", "--out", str(out)]
    assert main(args) == 0
    start, end, mixed = (load_checkpoint(p) for p in (published, tuned, out))
    moved = 0
    for key, value in mixed["model"].items():
        if key.startswith("classifier.") or not value.is_floating_point():
            assert torch.equal(value, end["model"][key]), key  # the run's people and counters
            continue
        a, b = start["model"][key], end["model"][key]
        torch.testing.assert_close(value, a + 0.25 * (b - a), msg=key)
        moved += int(not torch.equal(a, b))
    assert moved > 10  # the run did change the network, so the test above says something
    assert mixed["split_name"] == end["split_name"] and mixed["config"] == end["config"]
    assert "optimizer" not in mixed and mixed["summary"] == {}
    how = interpolated_from(out)
    assert how is not None and (how.alpha, how.start, how.fine_tuned) == (0.25, "published.pt", (str(tuned),))
    assert interpolated_from(tuned) is None


def test_the_ends_of_the_line_are_the_two_networks(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    published, tuned, _ = runs
    x = torch.rand(2, 2, 3, 256, 128)
    with torch.no_grad():
        for alpha, reference in ((0.0, published), (1.0, tuned)):
            write_interpolated([tuned], published, alpha, tmp_path / f"{alpha}.pt")
            got, _ = load_model(tmp_path / f"{alpha}.pt")
            expected, _ = load_model(reference)
            torch.testing.assert_close(got(x), expected(x))
        write_interpolated([tuned], published, 0.5, tmp_path / "half.pt")
        half, _ = load_model(tmp_path / "half.pt")
        ends = [load_model(p)[0](x) for p in (published, tuned)]
        assert all(not torch.allclose(half(x), end, atol=1e-4) for end in ends)


def test_what_is_not_one_network_or_not_a_start_is_refused(
    runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    published, tuned, _ = runs
    with pytest.raises(ValueError, match="not a published network"):
        write_interpolated([tuned], tuned, 0.5, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="no fine-tuned"):
        write_interpolated([], published, 0.5, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="outside"):
        write_interpolated([tuned], published, 1.5, tmp_path / "x.pt")
    once = tmp_path / "once.pt"
    write_interpolated([tuned], published, 0.5, once)
    with pytest.raises(ValueError, match="already interpolated"):
        write_interpolated([once], published, 0.5, tmp_path / "x.pt")
    other = load_checkpoint(published)
    other["config"] = {**other["config"], "embedding_dim": 256}
    save_checkpoint(tmp_path / "other.pt", other)
    with pytest.raises(ValueError, match="different networks"):
        write_interpolated([tuned], tmp_path / "other.pt", 0.5, tmp_path / "x.pt")
    with pytest.raises(SystemExit, match="different networks"):
        main(["interpolate", str(tuned), "--start", str(tmp_path / "other.pt"), "--out", "o.pt"])


def test_state_dicts_of_other_shapes_or_keys_are_refused() -> None:
    a = {"w": torch.zeros(2, 3), "classifier.weight": torch.zeros(1, 3)}
    with pytest.raises(ValueError, match="w is"):
        interpolate_states(a, {"w": torch.ones(3, 2), "classifier.weight": torch.ones(9, 3)}, 0.5)
    with pytest.raises(ValueError, match="lacks \\['v'\\]"):
        interpolate_states(a, {"w": torch.ones(2, 3), "v": torch.ones(1)}, 0.5)
    mixed = interpolate_states(a, {"w": torch.ones(2, 3), "classifier.weight": torch.ones(9, 3)}, 0.5)
    assert torch.equal(mixed["w"], torch.full((2, 3), 0.5)) and mixed["classifier.weight"].shape == (9, 3)
    with pytest.raises(ValueError, match="w is"):
        mean_state([a, {"w": torch.ones(3, 2), "classifier.weight": torch.ones(1, 3)}])


def test_several_runs_are_averaged_before_the_line_is_taken(
    runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    published, first, second = runs
    out = tmp_path / "soup.pt"
    args = ["interpolate", str(first), str(second), "--start", str(published), "--alpha", "0.6"]
    assert main([*args, "--out", str(out)]) == 0
    start, a, b, got = (load_checkpoint(p)["model"] for p in (published, first, second, out))
    differ = [k for k, v in a.items() if v.is_floating_point() and not torch.equal(v, b[k])]
    assert len(differ) > 10  # the seeds made two different networks
    for key in differ:
        if key.startswith("classifier."):  # not on the line: the runs' own, averaged
            torch.testing.assert_close(got[key], (a[key] + b[key]) / 2)
            continue
        torch.testing.assert_close(got[key], start[key] + 0.6 * ((a[key] + b[key]) / 2 - start[key]), msg=key)
    how = interpolated_from(out)
    assert how is not None and how.fine_tuned == (str(first), str(second))
    wise = tmp_path / "soup.onnx"
    assert main(["export", str(out), "--out", str(wise), "--name", "soup-test", "--no-evaluate"]) == 0
    assert (
        "the mean of 2 networks fine-tuned here (a uniform model soup)" in read_metadata(wise).training_data
    )
    plain = tmp_path / "plain.pt"
    write_interpolated([first, second], published, 1.0, plain)
    data = card.training_data(load_model(plain)[1], "multisite", interpolated=1.0, runs=2)
    assert "Weights: the mean of 2 networks fine-tuned here from torchreid's" in data and "WiSE" not in data


def test_runs_of_other_splits_are_not_averaged(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    published, first, second = runs
    other = load_checkpoint(second)
    other["split_name"] = "multisite-without-3DPeS"
    save_checkpoint(tmp_path / "other.pt", other)
    with pytest.raises(ValueError, match="split_name"):
        write_interpolated([first, tmp_path / "other.pt"], published, 0.5, tmp_path / "x.pt")


def test_the_exported_card_says_how_the_weights_were_made(
    runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    published, tuned, _ = runs
    wise = tmp_path / "wise.pt"
    write_interpolated([tuned], published, 0.5, wise)
    out = tmp_path / "wise.onnx"
    assert main(["export", str(wise), "--out", str(out), "--name", "wise-test", "--no-evaluate"]) == 0
    data = read_metadata(out).training_data
    assert "0.5 of the way from torchreid's published OSNet x0.25" in data and "WiSE-FT" in data
    plain = tmp_path / "plain.onnx"
    assert main(["export", str(tuned), "--out", str(plain), "--name", "plain-test", "--no-evaluate"]) == 0
    assert "WiSE-FT" not in read_metadata(plain).training_data
