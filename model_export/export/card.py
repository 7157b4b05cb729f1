"""The words of a model card that go into an exported file: data, licence, intended use, protocol.

Written once here so that the metadata, `models/README.md` and the service's `/model` say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model_export.config import TrainConfig
from model_export.evaluation.peers import DEFAULT_TEACHERS, INTEL_MODELS, OSNET_ONNX
from model_export.modeling.backbones import OSNET_WEIGHTS

TRAINING_DATA = {
    "cuhk03": (
        "CUHK03 labeled, train_resized split: 7,239 images of 743 identities seen by two disjoint "
        "campus cameras, up to 5 images per identity and camera used as a short tracklet. Dataset "
        "terms: research use only."
    ),
    "multisite": (
        "Eight sites, 1,400 identities, 24,348 crops: CUHK03 train_resized cut by hand (labeled) and "
        "by a detector (detected, the same 743 people under the same ids), and the PETA re-id subsets "
        "i-LID, 3DPeS, CAVIAR4REID, TownCentre and SARC3D. Never VIPeR or PRID: they test unseen "
        "cameras. {teaching} Terms: CUHK03 and PETA research use only."
    ),
    "pretrained": (
        "No training here: {published}, unchanged; its own head's vectors averaged over a tracklet's frames."
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

_LICENSE_CUHK03 = (
    "Code and weights: MIT. The weights were trained on CUHK03, whose terms allow research use only; "
    "ImageNet-pretrained MobileNetV2 initialisation. Check the data's terms before any other use."
)
_LICENSE_MULTISITE = (
    "Code and weights: MIT. Research use only: trained on CUHK03 and PETA (research-only terms), from "
    "torchreid's OSNet x0.25 weights (MIT code, trained on {init}: research-only terms){taught}. "
    "Check every one of these terms before any other use."
)
_LICENSE_PRETRAINED = (
    "Code: MIT. Weights: torchreid's OSNet x0.25 as published (MIT code, trained on {init}: "
    "research-only terms). Check these terms before any other use."
)
_LICENSE_IR_PRETRAINED = (
    "Code: MIT. Weights: Intel's {ir} as published in the Open Model Zoo, Apache-2.0 (Intel does not "
    "say which data trained it). Check these terms before any other use."
)
_LICENSE_IR_MULTISITE = (
    "Code: MIT. Weights: Apache-2.0, a modification (fine-tuned here) of Intel's {ir} from the Open "
    "Model Zoo (Apache-2.0; Intel does not say which data trained it). Research use only: fine-tuned on "
    "CUHK03 and PETA (research-only terms){taught}. Check every one of these terms before any other use."
)
# torchreid names its files after the set they learned from; that set's terms carry over
_TORCHREID_SETS = {"msmt17": "MSMT17", "market1501": "Market-1501", "duke": "DukeMTMC-reID"}


def _ir_model(cfg: TrainConfig) -> str | None:
    """The published model an IR backbone was read from (its file's name), or None for any other."""
    if cfg.backbone == "openvino_ir" and cfg.backbone_weights is not None:
        return cfg.backbone_weights.stem
    return None


def published_network(cfg: TrainConfig) -> str:
    """The network a run started from, in words: an IR file's model, or torchreid's OSNet."""
    if (ir := _ir_model(cfg)) is not None:
        return f"Intel's {ir} (Apache-2.0, OpenVINO IR read into PyTorch)"
    return f"torchreid's published OSNet x0.25 weights, trained by torchreid on {initialised_from(cfg)}"


def initialised_from(cfg: TrainConfig) -> str:
    """The data behind an OSNet's starting weights, read from torchreid's file name."""
    return _data_behind((cfg.backbone_weights or OSNET_WEIGHTS).name)


def _data_behind(torchreid_file: str) -> str:
    name = torchreid_file.lower()
    found = [data for key, data in _TORCHREID_SETS.items() if key in name]
    return found[0] if found else f"the data behind {name} (check it)"


def _teacher_text(name: str) -> str:
    if name in INTEL_MODELS:
        return f"Intel's {name} (Apache-2.0)"
    if name == Path(OSNET_ONNX).stem:
        return f"torchreid's {name} (MIT code, trained on {_data_behind(name)}: research-only terms)"
    return f"this project's exported {name} (its card's terms carry over)"


def teachers_text(teachers: Sequence[str]) -> str:
    """The teachers in words with their terms: the peers `teach` knows by name, or an exported file
    of ours (named `<name>-<version>` by `teach`), whose own card's terms carry over to what it taught."""
    return " and ".join(_teacher_text(name) for name in teachers)


def _taught(teachers: Sequence[str]) -> str:
    return f", and taught by {teachers_text(teachers)}" if teachers else ""


def _teaching(teachers: Sequence[str]) -> str:
    if not teachers:
        return "No teacher: identity and triplet losses only."
    return (
        f"Teachers: {teachers_text(teachers)}, their embeddings of every training crop distilled "
        "beside the identity and triplet losses."
    )


def license_text(
    cfg: TrainConfig, dataset: str | None = None, teachers: Sequence[str] = DEFAULT_TEACHERS
) -> str:
    """`dataset`: what the run learned from, as `training_data` takes it; `teachers`: as `teach` named
    them in the run's cache."""
    taught = _taught(teachers)
    if (ir := _ir_model(cfg)) is not None:
        if dataset == "pretrained":
            return _LICENSE_IR_PRETRAINED.format(ir=ir)
        return _LICENSE_IR_MULTISITE.format(ir=ir, taught=taught)
    if dataset == "pretrained":
        return _LICENSE_PRETRAINED.format(init=initialised_from(cfg))
    return (
        _LICENSE_MULTISITE.format(init=initialised_from(cfg), taught=taught)
        if cfg.dataset in ("multisite", "pack") or cfg.backbone.startswith("osnet")
        else _LICENSE_CUHK03
    )


INTENDED_USE = (
    "Matching tracklets of people across the cameras of one site, by operators with a lawful basis "
    "to process that footage, with retention limits and an audit trail. Re-identification concerns "
    "real people: not for identifying anyone by name, covert tracking, or decisions about a person "
    "without human review. Validated on CUHK03, VIPeR and PRID 2011 (still images); expect lower "
    "accuracy on other sites, viewpoints, resolutions and populations, and measure on your own."
)


def _frame_cnn(cfg: TrainConfig) -> str:
    ir = _ir_model(cfg)
    return cfg.backbone if ir is None else f"{ir} (OpenVINO IR read into PyTorch)"


def architecture(cfg: TrainConfig, dataset: str | None = None) -> str:
    if dataset == "pretrained":
        return (
            f"{_frame_cnn(cfg)} frame CNN as published (its own {cfg.embedding_dim}-d head), temporal mean "
            "pooling, L2-normalised"
        )
    head = {
        "recurrent": "a GRU-RCN on each of 3 feature levels (Wu et al. 2016) as a residual on temporal "
        "mean pooling",
        "recurrent_last": "a GRU-RCN on the deepest feature level (Wu et al. 2016) as a residual on "
        "temporal mean pooling",
        "pooling": "temporal mean pooling of frame features",
    }[cfg.head]
    neck = f"linear neck + BNNeck to {cfg.embedding_dim}-d, L2-normalised"
    return f"{_frame_cnn(cfg)} frame CNN, {head}, {neck}"


def _weights_text(alpha: float, runs: int, published: str) -> str:
    """How `interpolate` made the weights: runs averaged (a soup), moved back towards the start."""
    soup = f"the mean of {runs} networks fine-tuned here"
    if alpha == 1.0:
        return f" Weights: {soup} from {published} (a uniform model soup, Wortsman et al. 2022)."
    tuned = "the network fine-tuned here" if runs == 1 else f"{soup} (a uniform model soup)"
    return (
        f" Weights: {alpha:g} of the way from {published} to {tuned} (WiSE-FT, Wortsman et al. 2022), "
        "to keep more of what the published weights knew of other cameras."
    )


def training_data(
    cfg: TrainConfig,
    dataset: str | None = None,
    teachers: Sequence[str] = DEFAULT_TEACHERS,
    interpolated: float | None = None,
    runs: int = 1,
) -> str:
    """`dataset`: the split the run learned from, where `cfg.dataset` names only its container (a pack);
    `interpolated`: the alpha of weights moved back towards the published ones (`interpolate`), from
    the mean of `runs` fine-tuned runs."""
    name = dataset or cfg.dataset
    text = TRAINING_DATA.get(name, name).format(
        split_id=cfg.split_id,
        init=initialised_from(cfg),
        published=published_network(cfg),
        teaching=_teaching(teachers),
    )
    if name != "pretrained" and _ir_model(cfg) is not None:
        text += f" Frame network started from {published_network(cfg)}."
    if interpolated is not None:
        text += _weights_text(interpolated, runs, published_network(cfg))
    if cfg.held_out_site is not None:
        text += f" {cfg.held_out_site} was held out of training (evaluated on instead)."
    if cfg.unlabeled_root is not None:
        text += (
            f" Also unlabeled crops from {cfg.unlabeled_root.name} (no identities), learned from the "
            "teachers' embeddings only; the terms of that footage carry over."
        )
    return text
