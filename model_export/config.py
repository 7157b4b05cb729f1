"""Typed training configuration: one dataclass, read once by the CLI, passed down.

Defaults are the recipe of the shipped model (mobilenetv2 + GRU-RCN on CUHK03). Where the paper
states a choice we follow it (Siamese pairs, balanced positives and negatives, identity loss on each
branch, consecutive clips of video, whole tracklets averaged at test); where it is silent or its
recipe overfits small data we use what the field settled on (ImageNet init, BNNeck, label smoothing,
batch-hard triplet, random erasing, Adam with warm-up and cosine decay).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

_OPTIONAL_PATHS = ("init_from", "backbone_weights", "teacher_cache", "teacher_scores", "unlabeled_root")


@dataclass
class TrainConfig:
    # data
    dataset: str = "cuhk03"
    data_root: Path = Path("../shared/data/cuhk03")
    split_id: int = 0
    frame_mode: Literal["auto", "consecutive", "random"] = "auto"  # auto: random for multi-shot sets
    # multisite only: a site left out of training and evaluated on instead of CUHK03 `val`
    held_out_site: str | None = None
    # network
    backbone: Literal["mobilenetv2", "paper", "osnet_x0_25", "osnet_ibn_x0_25", "openvino_ir"] = "mobilenetv2"
    head: Literal["recurrent", "recurrent_last", "pooling"] = "recurrent"
    embedding_dim: int = 512
    pretrained: bool = True
    backbone_weights: Path | None = None  # a pretrained backbone's file where it is not the default
    # frames of this (height, width) instead of the backbone's own: fewer pixels, less arithmetic per
    # frame (openvino_ir only, whose global pooling kernel is resampled to the smaller last map)
    input_size: tuple[int, int] | None = None
    # Start from another run's weights (e.g. an image-level run): the frame network, neck and
    # classifier are taken over; a temporal head that run did not have starts fresh.
    init_from: Path | None = None
    # batches: P identities x K tracklets of T frames, T drawn per batch from seq_lens
    ids_per_batch: int = 16
    tracklets_per_id: int = 4
    seq_lens: tuple[int, ...] = (1, 2, 3, 4)
    # optimisation
    epochs: int = 12
    max_steps: int = 0  # > 0: stop after this many steps (smoke runs)
    # > 0: a lease of this many seconds (a borrowed GPU, a spot machine): the step rate measured over
    # the first steps sets the run's length, and the schedule decays to its end within the lease
    time_budget_s: float = 0.0
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    # < 1: the pretrained frame network learns at this share of lr while the parts made here (neck,
    # classifier, temporal head) learn at lr, so fine-tuning on a few sites keeps more of what the
    # starting weights learned from many cameras
    backbone_lr_scale: float = 1.0
    # augmentation beyond the defaults, for cameras of other sites: colour jitter ranges scaled by
    # aug_colour, and a tracklet's frames turned grey with probability aug_grayscale; aug_lowres: the
    # probability of a tracklet seen at 0.3-0.7 of the input's sides and upscaled, as small crops are
    aug_colour: float = 1.0
    aug_grayscale: float = 0.0
    aug_lowres: float = 0.0
    # footage augmentations (data/transforms.py), each the probability of a tracklet drawn with it:
    # motion blur, JPEG compression artefacts, an occluding band from one edge, another camera's
    # white balance
    aug_blur: float = 0.0
    aug_compression: float = 0.0
    aug_occlusion: float = 0.0
    aug_white_balance: float = 0.0
    # losses
    label_smoothing: float = 0.1
    w_id: float = 1.0
    w_frame_id: float = 1.0
    w_triplet: float = 1.0
    w_siamese: float = 1.0
    triplet_margin: float = 0.3
    siamese_margin: float = 1.0
    # distillation from peers (`model_export teach` writes the cache): per-crop and pairwise
    teacher_cache: Path | None = None
    # which of the cache's teachers to learn from (none named: all it holds), so one cache of three
    # teachers serves a recipe of two: the same vectors, one pass over the crops instead of two
    teachers: tuple[str, ...] | None = None
    w_distill: float = 0.0
    w_distill_sim: float = 0.0
    # the teachers' own figures on the training sites (`compare --peers ... --sets <sites>`'s
    # rows.json): each teacher weighted per site by them (distillation/site_weights.py) instead of
    # equally; teacher_temperature sets how sharply the better teacher of a site wins
    teacher_scores: Path | None = None
    teacher_temperature: float = 0.05
    # crops without identities (a tracker's output on the user's own cameras; layout in
    # data/readers/unlabeled.py): only the distillation terms see them, `unlabeled_per_batch`
    # tracklets beside each labelled batch, weighted by `w_unlabeled`; the teacher cache must hold
    # them (`teach --unlabeled-root`)
    unlabeled_root: Path | None = None
    unlabeled_per_batch: int = 32
    w_unlabeled: float = 1.0
    # evaluation and bookkeeping
    eval_every: int = 3
    test_chunk: int = 16
    seed: int = 0
    threads: int = 0  # 0: torch's default
    device: str = "cpu"  # "cuda" trains on a GPU; checkpoints are read back on any device
    workers: int = 0  # data-loading processes: 0 decodes in the training process (2 CPU cores)
    amp: bool = False  # bfloat16 autocast for the forward pass on a GPU; losses stay in float32
    out_dir: Path = Path("runs/cuhk03-recurrent")
    resume: bool = True  # continue from out_dir/last.pt when it exists
    # also keep each epoch's weights as out_dir/epoch-NNN.pt, to pick an epoch on data held out of
    # training (the unseen sites peak earlier than the training sites do)
    keep_epochs: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key in ("data_root", "out_dir") or (key in _OPTIONAL_PATHS and value is not None):
                value = Path(value)
            elif isinstance(value, list):  # JSON has no tuples: seq_lens, input_size
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)
