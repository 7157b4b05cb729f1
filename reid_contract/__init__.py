"""The model contract: what an exported ONNX file promises to whoever serves it, and the arithmetic
both sides must share to keep that promise.

Shared by the training side (`model_export`, which writes and evaluates the file) and the serving side
(`service`, which reads and serves it): the metadata schema and its reader, the graph's inputs and
outputs, the parity probe, the names of precisions, and how a tracklet's frames become one embedding
(frame selection, chunking, combining). It depends on pydantic and numpy only, never on torch or on
either side.
"""

from reid_contract.graph import GraphTensor, check_graph
from reid_contract.metadata import (
    INPUT_NAME,
    OUTPUT_NAME,
    SCHEMA_VERSION,
    Calibration,
    ContractError,
    Evaluation,
    ModelMetadata,
    OperatingPoint,
)
from reid_contract.onnx_file import read_metadata, read_metadata_props
from reid_contract.precision import Precision, PrecisionSetting, StoredPrecision
from reid_contract.probe import MIN_COSINE, PROBE_LENGTHS, Probe, probe_tracklets
from reid_contract.tracklet import SamplingMode, chunk_indices, combine, select_frames

__all__ = [
    "INPUT_NAME",
    "MIN_COSINE",
    "OUTPUT_NAME",
    "PROBE_LENGTHS",
    "SCHEMA_VERSION",
    "Calibration",
    "ContractError",
    "Evaluation",
    "GraphTensor",
    "ModelMetadata",
    "OperatingPoint",
    "Precision",
    "PrecisionSetting",
    "Probe",
    "SamplingMode",
    "StoredPrecision",
    "check_graph",
    "chunk_indices",
    "combine",
    "probe_tracklets",
    "read_metadata",
    "read_metadata_props",
    "select_frames",
]
