"""The model contract: what an exported ONNX file promises to whoever serves it.

Shared by the training side (`model_export`, which writes it) and the serving side (`service`, which
reads it). It depends on pydantic and numpy only, never on torch or on either side.
"""

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
from reid_contract.onnx_file import read_metadata_props
from reid_contract.probe import MIN_COSINE, PROBE_LENGTHS, Probe, probe_tracklets

__all__ = [
    "INPUT_NAME",
    "MIN_COSINE",
    "OUTPUT_NAME",
    "PROBE_LENGTHS",
    "SCHEMA_VERSION",
    "Calibration",
    "ContractError",
    "Evaluation",
    "ModelMetadata",
    "OperatingPoint",
    "Probe",
    "probe_tracklets",
    "read_metadata_props",
]
