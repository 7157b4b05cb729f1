"""An ONNX file's `metadata_props` and the contract they hold, read without onnx, ONNX Runtime or any engine.

Every engine the service can run (ONNX Runtime, OpenVINO) reads the same file, and the contract must
be known before one is chosen: which precision the file holds, whether it carries the parity probe.
The ONNX format is a protobuf `ModelProto`; its field 14 holds the metadata entries
(`StringStringEntryProto`: key = 1, value = 2). Only the top level is walked: the graph, however
large, is one length-delimited field that is skipped without being parsed.
"""

from __future__ import annotations

import mmap
from pathlib import Path

from reid_contract.metadata import ContractError, ModelMetadata

_METADATA_PROPS = 14
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(buf: memoryview | bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ContractError("truncated protobuf varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ContractError("malformed protobuf varint")


def _fields(buf: memoryview | bytes) -> list[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field at this level; for a varint, start is the value."""
    out: list[tuple[int, int, int, int]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            out.append((number, wire, value, pos))
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ContractError("truncated protobuf field: not a whole ONNX file")
            out.append((number, wire, pos, pos + size))
            pos += size
        elif wire == _I64:
            out.append((number, wire, pos, pos + 8))
            pos += 8
        elif wire == _I32:
            out.append((number, wire, pos, pos + 4))
            pos += 4
        else:
            raise ContractError(f"protobuf wire type {wire} at byte {pos}: not an ONNX file")
    return out


def parse_metadata_props(data: bytes | memoryview) -> dict[str, str]:
    """The metadata entries of a serialised ModelProto."""
    props: dict[str, str] = {}
    with memoryview(data) as view:
        for number, wire, start, end in _fields(view):
            if number != _METADATA_PROPS or wire != _LEN:
                continue
            entry = bytes(view[start:end])  # small: one key and its JSON value
            texts = {n: entry[s:e].decode("utf-8") for n, w, s, e in _fields(entry) if w == _LEN}
            props[texts.get(1, "")] = texts.get(2, "")
    return props


def read_metadata_props(path: Path | str) -> dict[str, str]:
    """The metadata entries of the ONNX file at `path` (mapped, not read into memory whole)."""
    path = Path(path)
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return parse_metadata_props(mapped)
    except ValueError as exc:  # mmap of an empty file
        raise ContractError(f"{path}: empty file, not an ONNX model") from exc
    except UnicodeDecodeError as exc:
        raise ContractError(f"{path}: metadata is not UTF-8 text: not an ONNX model") from exc


def read_metadata(path: Path | str) -> ModelMetadata:
    """The contract of the ONNX file at `path`: how the service configures itself and the training side
    evaluates the file. ContractError, naming the file, if it is missing or its metadata break the schema."""
    path = Path(path)
    if not path.is_file():
        raise ContractError(f"{path}: no such model file")
    try:
        return ModelMetadata.from_props(read_metadata_props(path))
    except ContractError as exc:
        raise ContractError(f"{path}: {exc}") from None
