"""The model contract: what an exported ONNX file promises to whoever serves it.

Shared by the training side (`model_export`, which writes it) and the serving side (`service`, which
reads it). It depends on pydantic only, never on torch or on either side.
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

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "SCHEMA_VERSION",
    "Calibration",
    "ContractError",
    "Evaluation",
    "ModelMetadata",
    "OperatingPoint",
]
