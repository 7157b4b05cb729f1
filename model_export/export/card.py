"""The words of a model card that go into an exported file: data, licence, intended use, protocol.

Written once here so that the metadata, `models/README.md` and the service's `/model` say the same.
"""

from __future__ import annotations

from model_export.config import TrainConfig

TRAINING_DATA = {
    "cuhk03": (
        "CUHK03 labeled, train_resized split: 7,239 images of 743 identities seen by two disjoint "
        "campus cameras, up to 5 images per identity and camera used as a short tracklet. Dataset "
        "terms: research use only."
    ),
    "synthetic": "synthetic multi-camera tracklets made by model_export.data.synthetic (no real people)",
    "ilidsvid": "iLIDS-VID (300 identities, two airport cameras), split {split_id}",
    "prid2011": "PRID 2011 (tracklets of at least 21 frames, two cameras), split {split_id}",
    "mars": "MARS (1,261 identities, six campus cameras), official train split",
}

PROTOCOL = {
    "cuhk03": (
        "CUHK03 labeled/val, 100 identities: query = camera A tracklet, gallery = camera B tracklets, "
        "and the reverse; figures are the mean of both directions; cosine similarity; tracklets "
        "embedded in chunks of frames_per_chunk frames, length-weighted mean, L2-normalised"
    ),
}

LICENSE = (
    "Code and weights: MIT. The weights were trained on CUHK03, whose terms allow research use only; "
    "ImageNet-pretrained MobileNetV2 initialisation. Check the data's terms before any other use."
)

INTENDED_USE = (
    "Matching tracklets of people across the cameras of one site, by operators with a lawful basis "
    "to process that footage, with retention limits and an audit trail. Re-identification concerns "
    "real people: not for identifying anyone by name, covert tracking, or decisions about a person "
    "without human review. Validated only on CUHK03 (still campus images, 2 cameras); expect lower "
    "accuracy on other sites, viewpoints, resolutions and populations."
)


def architecture(cfg: TrainConfig) -> str:
    head = {
        "recurrent": "a GRU-RCN on each of 3 feature levels (Wu et al. 2016) as a residual on temporal "
        "mean pooling",
        "pooling": "temporal mean pooling of frame features",
    }[cfg.head]
    return f"{cfg.backbone} frame CNN, {head}, linear neck + BNNeck to {cfg.embedding_dim}-d, L2-normalised"


def training_data(cfg: TrainConfig) -> str:
    return TRAINING_DATA.get(cfg.dataset, cfg.dataset).format(split_id=cfg.split_id)
