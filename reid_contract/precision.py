"""The names of precisions, listed once: what a file's weights are stored in, what an engine computes
at, and what a deployment may ask for. The metadata, the service's engines and its settings use these."""

from __future__ import annotations

from typing import Literal

# What a file's weights are stored in (`reid.precision`): fp16 is a GPU variant, int8 a quantised file.
StoredPrecision = Literal["fp32", "fp16", "int8"]
# What an engine computes at: the file's own precision, or bf16 applied at run time to an fp32 file.
Precision = Literal[StoredPrecision, "bf16"]
# A setting: one of them, or `auto` (the fastest that passes the file's parity probe).
PrecisionSetting = Literal["auto", Precision]
