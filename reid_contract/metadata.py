"""The metadata an exported model carries in its ONNX `metadata_props`: the one schema both sides share.

The exporter writes it, `model_export verify` checks it, and the service reads it at start and
configures itself from it alone (input size, preprocessing, embedding size, chunking, identity). Each
field is one `reid.<field>` key whose value is JSON, so that a file can be read with any ONNX tool and
a missing or malformed key is named in the error rather than discovered as wrong embeddings.

Preprocessing is split between the client of the model and the graph, and this schema says which
part is whose: the client decodes frames to RGB uint8, resizes them to (height, width) as
`resize` says and stacks them as (B, T, H, W, 3); the graph scales by `pixel_scale`, subtracts
`mean`, divides by `std` (`normalization_in_graph`), so preprocessing is never applied twice.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reid_contract.precision import StoredPrecision
from reid_contract.probe import Probe

SCHEMA_VERSION = 1
KEY_PREFIX = "reid."
INPUT_NAME = "frames"
OUTPUT_NAME = "embedding"

# Semantic version with the weights' short hash as build metadata: 1.0.0+3f2a9c1e
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?\+([0-9a-f]{8,64})$")


class ContractError(ValueError):
    """A model file whose metadata does not satisfy the contract; the message says which key and why."""


class Evaluation(BaseModel):
    """The figures the model was released with, and how they were measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    protocol: str
    rank1: float = Field(ge=0, le=1)
    rank5: float = Field(ge=0, le=1)
    rank10: float = Field(ge=0, le=1)
    rank20: float = Field(ge=0, le=1)
    mAP: float = Field(ge=0, le=1)  # noqa: N815 - the field's name in every re-id paper
    directions: dict[str, dict[str, float]] = Field(default_factory=dict)


class OperatingPoint(BaseModel):
    """A cosine threshold and what it does: the share of different people's pairs it still calls
    a match, and the share of the same person's pairs it keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    false_match_rate: float = Field(gt=0, lt=1)  # the target the threshold was chosen for
    threshold: float = Field(ge=-1, le=1)
    true_match_rate: float = Field(ge=0, le=1)  # measured at that threshold


class Calibration(BaseModel):
    """Thresholds measured on cameras the model never saw: what a user's own site is to it.

    A cosine similarity means something different for every model (two releases of the same network
    put the same pair at 0.5 and 0.7), so a threshold read off one model's scores must never be used
    with another's; the file carries its own.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str  # which pairs: sets, cameras, how many
    genuine_pairs: int = Field(gt=0)
    impostor_pairs: int = Field(gt=0)
    points: tuple[OperatingPoint, ...] = Field(min_length=1)

    def threshold_at(self, false_match_rate: float) -> float:
        """The threshold of the point with this target; a target not calibrated is an error."""
        for point in self.points:
            if math.isclose(point.false_match_rate, false_match_rate, rel_tol=1e-9):
                return point.threshold
        known = ", ".join(f"{p.false_match_rate:g}" for p in self.points)
        raise KeyError(f"no operating point at false match rate {false_match_rate:g} (calibrated: {known})")


class ModelMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    # identity: vectors of two different `model_id`s are never compared
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    version: str
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    architecture: str
    # input: what the client of the graph must feed
    input_name: str = INPUT_NAME
    input_layout: Literal["BTHWC"] = "BTHWC"
    input_dtype: Literal["uint8"] = "uint8"
    height: int = Field(gt=0, le=1024)
    width: int = Field(gt=0, le=1024)
    color_order: Literal["RGB"] = "RGB"
    resize: Literal["stretch-bilinear-antialias"] = "stretch-bilinear-antialias"
    # preprocessing done inside the graph, stated so that nobody repeats it
    normalization_in_graph: Literal[True] = True
    pixel_scale: float = Field(gt=0)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # output
    output_name: str = OUTPUT_NAME
    embedding_dim: int = Field(gt=0, le=65536)
    embedding_dtype: Literal["float32"] = "float32"
    embedding_normalized: Literal[True] = True
    similarity: Literal["cosine"] = "cosine"
    # long tracklets: chunks of this many frames, each a fresh sequence, embeddings combined
    frames_per_chunk: int = Field(gt=0, le=512)
    chunk_combine: Literal["length-weighted-mean-l2"] = "length-weighted-mean-l2"
    # provenance
    training_data: str
    evaluation: Evaluation | None = None
    calibration: Calibration | None = None
    license: str
    intended_use: str
    created: str
    exporter: str
    # what the file's weights are stored in: fp32, fp16 (a GPU variant) or int8 (quantised)
    precision: StoredPrecision = "fp32"
    # the parity probe's reference embeddings (reid_contract/probe.py); None in files made before it
    probe: Probe | None = None

    @field_validator("version")
    @classmethod
    def _semver_with_hash(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError(f"{value!r} is not MAJOR.MINOR.PATCH+<weights hash>, e.g. 1.0.0+3f2a9c1e")
        return value

    @field_validator("std")
    @classmethod
    def _positive_std(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) <= 0:
            raise ValueError("std must be positive")
        return value

    @property
    def model_id(self) -> str:
        """`name@version`: the tag stored with every gallery vector this model makes."""
        return f"{self.name}@{self.version}"

    @property
    def weights_short_hash(self) -> str:
        return self.version.rsplit("+", 1)[1]

    def to_props(self) -> dict[str, str]:
        data = self.model_dump(mode="json")
        return {KEY_PREFIX + key: json.dumps(value) for key, value in data.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelMetadata:
        """Parse and check `metadata_props` (as read by onnx or ONNX Runtime); keys of others are ignored."""
        raw: dict[str, Any] = {}
        for key, text in props.items():
            if not key.startswith(KEY_PREFIX):
                continue
            try:
                raw[key.removeprefix(KEY_PREFIX)] = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ContractError(f"metadata key {key!r} is not JSON: {exc}") from None
        if not raw:
            raise ContractError("the model carries no reid.* metadata: not made by model_export export")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ContractError(f"metadata schema_version {version!r}; this code reads {SCHEMA_VERSION}")
        try:
            meta = cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{KEY_PREFIX}{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ContractError(f"model metadata does not satisfy the contract: {problems}") from None
        if meta.weights_short_hash != meta.weights_sha256[: len(meta.weights_short_hash)]:
            raise ContractError("reid.version's hash is not the start of reid.weights_sha256")
        return meta
