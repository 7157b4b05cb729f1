"""The card names the data behind every set of weights a model started from and learned from."""

from __future__ import annotations

from pathlib import Path

from model_export.config import TrainConfig
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
