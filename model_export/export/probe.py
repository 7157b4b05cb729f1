"""The parity probe's references, written into an exported file (reid_contract/probe.py says why).

Computed with ONNX Runtime on the CPU at fp32, the engine `verify` holds every file to: whatever
engine or precision later serves the file is compared with what the file itself computes here.
A file stored at reduced precision (an fp16 or int8 variant) carries references from itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from model_export.export.onnx import write_metadata
from model_export.export.verify import open_session
from reid_contract import PROBE_LENGTHS, ModelMetadata, Probe, probe_tracklets, read_metadata


def probe_references(path: Path, meta: ModelMetadata, threads: int = 0) -> Probe:
    session = open_session(path, threads)
    outputs = [
        session.run([meta.output_name], {meta.input_name: tracklet})[0][0]
        for tracklet in probe_tracklets(meta.height, meta.width)
    ]
    return Probe(
        lengths=PROBE_LENGTHS,
        embeddings=tuple(tuple(round(float(v), 7) for v in np.asarray(out, np.float32)) for out in outputs),
        computed_with=f"onnxruntime {ort.__version__} CPUExecutionProvider {meta.precision}",
    )


def write_probe(path: Path, threads: int = 0) -> ModelMetadata:
    """Add (or renew) the probe's references in the file's metadata; returns the new metadata."""
    meta = read_metadata(path)
    meta = meta.model_copy(update={"probe": probe_references(path, meta, threads)})
    write_metadata(path, meta)
    return meta
