"""The contract is read from the file's bytes without any engine, and the probe is the same everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from reid_contract import ContractError, probe_tracklets, read_metadata, read_metadata_props
from reid_contract.onnx_file import parse_metadata_props


def _model(props: dict[str, str]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, producer_name="test")
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def test_the_metadata_read_from_bytes_is_what_onnx_reads(tmp_path: Path) -> None:
    props = {"reid.name": '"x"', "other": "välue ✓", "reid.long": "[" + ",".join(["0.5"] * 5000) + "]"}
    path = tmp_path / "m.onnx"
    onnx.save(_model(props), path)
    assert read_metadata_props(path) == {p.key: p.value for p in onnx.load(str(path)).metadata_props} == props


def test_a_file_with_no_metadata_reads_as_none(tmp_path: Path) -> None:
    assert parse_metadata_props(_model({}).SerializeToString()) == {}


@pytest.mark.parametrize("data", [b"", b"\x0f\x01garbage", b"not an onnx file at all, just text"])
def test_what_is_not_an_onnx_file_is_a_contract_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(ContractError):
        read_metadata_props(path)


def test_a_truncated_file_is_a_contract_error(tmp_path: Path) -> None:
    whole = _model({"reid.name": '"x"'}).SerializeToString()
    with pytest.raises(ContractError, match="truncated"):
        parse_metadata_props(whole[:-3])


def test_the_probe_is_deterministic_smooth_and_of_the_contract_shape() -> None:
    first, again = probe_tracklets(64, 48), probe_tracklets(64, 48)
    assert [t.shape for t in first] == [(1, 1, 64, 48, 3), (1, 5, 64, 48, 3), (1, 16, 64, 48, 3)]
    for a, b in zip(first, again, strict=True):
        assert a.dtype == np.uint8 and np.array_equal(a, b)
    frame = first[2][0, 0].astype(float)
    # a camera's image, not noise: neighbouring pixels are close almost everywhere
    assert np.median(np.abs(np.diff(frame, axis=1))) < 10  # white noise: about 75
    assert not np.array_equal(first[2][0, 0], first[2][0, -1])  # the figure moves between frames


def test_the_contract_reader_names_the_file_it_refuses(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"missing\.onnx: no such model file"):
        read_metadata(tmp_path / "missing.onnx")
    onnx.save(_model({"other.tool": "x"}), tmp_path / "bare.onnx")
    with pytest.raises(ContractError, match=r"bare\.onnx: .*no reid\.\* metadata"):
        read_metadata(tmp_path / "bare.onnx")
