from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from model_export.data.sampling import (
    IdentityBatchSampler,
    UnlabeledBatchSampler,
    train_frame_indices,
)
from model_export.data.tracklet import Tracklet
from model_export.data.transforms import AugmentConfig, TrackletAugment


def test_consecutive_frames_are_a_window_or_a_loop() -> None:
    rng = random.Random(0)
    for _ in range(20):
        idx = train_frame_indices(10, 4, "consecutive", rng)
        assert idx == list(range(idx[0], idx[0] + 4)) and 0 <= idx[0] <= 6
    assert train_frame_indices(3, 7, "consecutive", rng) == [0, 1, 2, 0, 1, 2, 0]


def test_random_frames_are_distinct_when_possible_and_vary() -> None:
    rng = random.Random(0)
    draws = {tuple(train_frame_indices(5, 3, "random", rng)) for _ in range(30)}
    assert all(len(set(d)) == 3 for d in draws)
    assert len(draws) > 10  # orders and subsets both vary
    assert len(train_frame_indices(2, 5, "random", rng)) == 5
    with pytest.raises(ValueError):
        train_frame_indices(0, 1, "random", rng)


def _tracklets() -> list[Tracklet]:
    out = []
    for pid in range(6):
        for cam in (0, 1) if pid < 5 else (0,):  # pid 5 seen by one camera only
            out.append(Tracklet(pid, cam, (Path(f"{pid}_{cam}.png"),)))
    return out


def test_identity_batches_are_p_by_k_with_cross_camera_positives() -> None:
    tracklets = _tracklets()
    sampler = IdentityBatchSampler(tracklets, ids_per_batch=3, tracklets_per_id=2, seq_lens=[2, 3], seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2
    for batch in batches:
        assert len(batch) == 6
        assert len({steps for _, steps in batch}) == 1
        per_pid = Counter(tracklets[i].pid for i, _ in batch)
        assert sorted(per_pid.values()) == [2, 2, 2]
        for pid in per_pid:
            cams = {tracklets[i].camid for i, _ in batch if tracklets[i].pid == pid}
            assert len(cams) == (2 if pid < 5 else 1)
    sampler.set_epoch(3)
    first = list(sampler)
    sampler.set_epoch(3)
    assert list(sampler) == first


def test_augmentation_is_identical_across_frames() -> None:
    frame = torch.randint(0, 256, (1, 3, 40, 30), dtype=torch.uint8)
    clip = frame.repeat(6, 1, 1, 1)
    aug = TrackletAugment((32, 24), AugmentConfig(erase=1.0), random.Random(0))
    for _ in range(5):
        out = aug(clip)
        assert out.shape == (6, 3, 32, 24) and out.dtype == torch.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        torch.testing.assert_close(out, out[:1].expand_as(out))
    # and it does change the picture from draw to draw
    assert not torch.equal(aug(clip), aug(clip))


def test_grayscale_drops_colour_for_the_whole_tracklet_when_drawn() -> None:
    frame = torch.randint(0, 256, (1, 3, 40, 30), dtype=torch.uint8)
    clip = frame.repeat(4, 1, 1, 1)
    grey = TrackletAugment((32, 24), AugmentConfig(grayscale=1.0, erase=0.0), random.Random(0))(clip)
    torch.testing.assert_close(grey[:, 0], grey[:, 1])
    torch.testing.assert_close(grey[:, 1], grey[:, 2])
    torch.testing.assert_close(grey, grey[:1].expand_as(grey))  # every frame alike, as for the rest
    colour = TrackletAugment((32, 24), AugmentConfig(erase=0.0), random.Random(0))(clip)
    assert (colour[:, 0] - colour[:, 1]).abs().max() > 0.05


def test_lowres_takes_away_fine_detail_for_the_whole_tracklet_when_drawn() -> None:
    # a fine checkerboard: all of its energy is at the highest frequency the frame holds
    board = ((torch.arange(64).view(-1, 1) + torch.arange(32).view(1, -1)) % 2 * 255).to(torch.uint8)
    clip = board.expand(3, 3, 64, 32).clone()
    plain = AugmentConfig(pad=0, flip=0.0, brightness=0.0, contrast=0.0, saturation=0.0, erase=0.0)

    def detail(x: torch.Tensor) -> float:  # mean absolute difference of horizontal neighbours
        return (x[..., 1:] - x[..., :-1]).abs().mean().item()

    sharp = TrackletAugment((64, 32), plain, random.Random(0))(clip)
    coarse_aug = TrackletAugment((64, 32), dataclasses.replace(plain, lowres=1.0), random.Random(0))
    for _ in range(3):
        coarse = coarse_aug(clip)
        assert coarse.shape == sharp.shape
        torch.testing.assert_close(coarse, coarse[:1].expand_as(coarse))
        assert detail(coarse) < 0.25 * detail(sharp)
        # the picture's mean is kept: the same person, seen from further away
        assert abs(coarse.mean().item() - sharp.mean().item()) < 0.02


_PLAIN = AugmentConfig(pad=0, flip=0.0, brightness=0.0, contrast=0.0, saturation=0.0, erase=0.0)


def _person(t: int = 3) -> torch.Tensor:
    """A tracklet of one still: a bright figure with sharp edges on a dark ground, all frames alike."""
    frame = torch.full((3, 64, 32), 30, dtype=torch.uint8)
    frame[0, 8:56, 8:24], frame[1, 8:56, 8:24], frame[2, 8:56, 8:24] = 220, 140, 60
    return frame.expand(t, 3, 64, 32).clone()


def _edges(x: torch.Tensor) -> float:
    """Energy of neighbour differences: a blur spreads a jump over pixels, which lowers it."""
    return (
        (x[..., 1:, :] - x[..., :-1, :]).square().mean() + (x[..., 1:] - x[..., :-1]).square().mean()
    ).item()


@pytest.mark.parametrize("name", ["blur", "compression", "occlusion", "white_balance"])
def test_each_footage_augmentation_changes_the_tracklet_alike_in_every_frame_and_only_when_asked(
    name: str,
) -> None:
    clip = torch.randint(0, 256, (1, 3, 64, 32), dtype=torch.uint8).expand(3, 3, 64, 32).clone()
    plain = TrackletAugment((64, 32), _PLAIN, random.Random(0))(clip)
    aug = TrackletAugment((64, 32), dataclasses.replace(_PLAIN, **{name: 1.0}), random.Random(0))
    for _ in range(4):
        out = aug(clip)
        assert out.shape == plain.shape and out.dtype == torch.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        torch.testing.assert_close(out, out[:1].expand_as(out))  # drawn once per tracklet
        assert (out - plain).abs().max() > 0.05
    # a probability of 0 (the default) leaves the picture and the random stream as they were
    assert AugmentConfig().blur == AugmentConfig().compression == 0.0
    assert AugmentConfig().occlusion == AugmentConfig().white_balance == 0.0


def test_motion_blur_smears_edges_and_keeps_the_light() -> None:
    clip = _person()
    plain = TrackletAugment((64, 32), _PLAIN, random.Random(0))(clip)
    blurred = TrackletAugment(
        (64, 32), dataclasses.replace(_PLAIN, blur=1.0, blur_length=(9, 9)), random.Random(1)
    )(clip)
    assert _edges(blurred) < 0.8 * _edges(plain)
    assert abs(blurred.mean().item() - plain.mean().item()) < 0.02


def test_compression_adds_block_artefacts_to_a_smooth_picture() -> None:
    ramp = (torch.linspace(0, 255, 32).view(1, 1, 1, 32).expand(2, 3, 64, 32)).round().to(torch.uint8)
    plain = TrackletAugment((64, 32), _PLAIN, random.Random(0))(ramp)
    cfg = dataclasses.replace(_PLAIN, compression=1.0, compression_quality=(5, 5))
    coded = TrackletAugment((64, 32), cfg, random.Random(0))(ramp)
    error = (coded - plain).abs()
    assert error.mean() > 0.005 and abs(coded.mean().item() - plain.mean().item()) < 0.03


def test_occlusion_covers_one_edge_with_one_colour() -> None:
    clip = _person()
    cfg = dataclasses.replace(_PLAIN, occlusion=1.0, occlusion_share=(0.3, 0.3))
    aug = TrackletAugment((64, 32), cfg, random.Random(0))
    plain = TrackletAugment((64, 32), _PLAIN, random.Random(0))(clip)
    for _ in range(6):
        changed = ((aug(clip) - plain).abs().sum(dim=1) > 0)[0]  # (H, W) of the first frame
        rows, cols = changed.any(dim=1).nonzero().flatten(), changed.any(dim=0).nonzero().flatten()
        bottom = rows.min() >= 64 - 20 and cols.numel() == 32
        side = rows.numel() == 64 and (cols.max() < 11 or cols.min() >= 32 - 11)
        assert bottom or side


def test_white_balance_tints_red_and_blue_but_not_green() -> None:
    clip = _person()
    plain = TrackletAugment((64, 32), _PLAIN, random.Random(0))(clip)
    tinted = TrackletAugment((64, 32), dataclasses.replace(_PLAIN, white_balance=1.0), random.Random(0))(clip)
    torch.testing.assert_close(tinted[:, 1], plain[:, 1])
    assert (tinted[:, 0] - plain[:, 0]).abs().max() > 0.01 or (tinted[:, 2] - plain[:, 2]).abs().max() > 0.01


def test_training_options_scale_the_augmentation() -> None:
    from model_export.config import TrainConfig
    from model_export.engine.train import augment_config

    default = augment_config(TrainConfig())
    assert default == AugmentConfig()
    strong = augment_config(TrainConfig(aug_colour=2.0, aug_grayscale=0.2, aug_lowres=0.5))
    assert strong.brightness == 2 * default.brightness and strong.saturation == 2 * default.saturation
    assert strong.grayscale == 0.2 and strong.erase == default.erase
    assert strong.lowres == 0.5 and default.lowres == 0.0
    footage = augment_config(
        TrainConfig(aug_blur=0.1, aug_compression=0.2, aug_occlusion=0.3, aug_white_balance=0.4)
    )
    assert (footage.blur, footage.compression, footage.occlusion, footage.white_balance) == (
        0.1,
        0.2,
        0.3,
        0.4,
    )


def test_unlabeled_batches_cover_every_tracklet_evenly_and_replay_per_epoch() -> None:
    sampler = UnlabeledBatchSampler(10, 4, batches=5, seq_lens=(2, 3), seed=1)
    sampler.set_epoch(0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 5 and all(len(b) == 4 for b in batches)
    assert all(len({t for _, t in b}) == 1 for b in batches)  # one T per batch
    counts = Counter(i for b in batches for i, _ in b)
    assert set(counts) == set(range(10)) and set(counts.values()) == {2}  # 20 draws: each twice
    sampler.set_epoch(0)
    assert list(sampler) == batches  # a resumed epoch sees the same batches
    sampler.set_epoch(1)
    assert list(sampler) != batches
    with pytest.raises(ValueError, match="two per batch"):
        UnlabeledBatchSampler(10, 1, batches=5, seq_lens=(2,))
