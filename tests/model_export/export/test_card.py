"""The card names the data behind every set of weights a model started from and learned from."""

from __future__ import annotations

from pathlib import Path

from model_export.config import TrainConfig
from model_export.engine.checkpoint import save_checkpoint, taught_by
from model_export.export.card import license_text, training_data


def test_osnet_licence_names_the_set_its_starting_weights_learned_from() -> None:
    market = license_text(TrainConfig(dataset="multisite", backbone="osnet_x0_25"))
    assert "trained on Market-1501" in market and "MSMT17" not in market
    msmt = TrainConfig(
        dataset="pack", backbone="osnet_x0_25", backbone_weights=Path("w/osnet_x0_25_msmt17.pth")
    )
    assert "trained on MSMT17" in license_text(msmt) and "Market" not in license_text(msmt)


def test_unknown_starting_weights_are_flagged_not_guessed() -> None:
    cfg = TrainConfig(dataset="multisite", backbone="osnet_x0_25", backbone_weights=Path("mine.pth"))
    assert "the data behind mine.pth (check it)" in license_text(cfg)


def test_a_cuhk03_mobilenet_names_no_osnet_weights() -> None:
    text = license_text(TrainConfig(dataset="cuhk03", backbone="mobilenetv2"))
    assert "CUHK03" in text and "OSNet" not in text


def test_training_data_says_what_was_held_out_and_what_came_without_labels() -> None:
    plain = training_data(TrainConfig(dataset="multisite"))
    assert "held out" not in plain and "unlabeled" not in plain
    cfg = TrainConfig(dataset="multisite", held_out_site="3DPeS", unlabeled_root=Path("/data/site-7-tracks"))
    text = training_data(cfg)
    assert "3DPeS was held out of training" in text
    assert "unlabeled crops from site-7-tracks" in text and "terms of that footage carry over" in text


def test_the_card_names_the_teachers_the_run_learned_from() -> None:
    cfg = TrainConfig(dataset="multisite", backbone="osnet_x0_25")
    earlier = training_data(cfg)  # checkpoints from before they named their teachers: Intel's pair
    assert (
        "person-reidentification-retail-0277 (Apache-2.0) and Intel's person-reidentification-retail-0286"
        in earlier
    )
    ours = ["osnet-ain-duo-multisite-2.0.0+e75d8b0d"]
    for text in (training_data(cfg, teachers=ours), license_text(cfg, teachers=ours)):
        assert "this project's exported osnet-ain-duo-multisite-2.0.0+e75d8b0d" in text and "0286" not in text
    torchreid = license_text(cfg, teachers=["osnet_x0_25_msmt17"])  # a peer that is not Intel's
    assert "torchreid's osnet_x0_25_msmt17 (MIT code, trained on MSMT17" in torchreid
    assert "this project's" not in torchreid
    untaught_data, untaught_licence = training_data(cfg, teachers=[]), license_text(cfg, teachers=[])
    assert "No teacher" in untaught_data and "distilled" not in untaught_data
    assert "taught" not in untaught_licence and "Intel" not in untaught_licence


def test_checkpoints_name_their_teachers_and_older_ones_say_nothing(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "new.pt", {"config": "{}", "teachers": ["a-1.0.0"]})
    save_checkpoint(tmp_path / "old.pt", {"config": "{}"})
    assert taught_by(tmp_path / "new.pt") == ["a-1.0.0"] and taught_by(tmp_path / "old.pt") is None
