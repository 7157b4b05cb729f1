"""The graph's promise, judged on the engine-neutral description every engine adapter fills."""

from __future__ import annotations

import pytest

from reid_contract import ContractError, GraphTensor, ModelMetadata, check_graph

META = ModelMetadata.model_construct(height=160, width=64, embedding_dim=512)  # defaults: frames, embedding


def frames(
    dtype: str = "uint8", shape: tuple[int | None, ...] | None = (None, None, 160, 64, 3)
) -> GraphTensor:
    return GraphTensor(("frames",), dtype, shape)


def embedding(dtype: str = "float32", shape: tuple[int | None, ...] | None = (None, 512)) -> GraphTensor:
    return GraphTensor(("embedding",), dtype, shape)


def test_a_graph_that_keeps_the_promise_passes() -> None:
    check_graph([frames()], [embedding()], META, "m.onnx")
    # an OpenVINO port may carry several names, and a graph may have outputs beside the embedding
    check_graph(
        [GraphTensor(("frames", "x"), "uint8", (2, 7, 160, 64, 3))],
        [GraphTensor(("aux",), "float32", None), embedding()],
        META,
        "m.onnx",
    )


@pytest.mark.parametrize(
    ("inputs", "outputs", "problem"),
    [
        ([], [embedding()], r"m\.onnx: graph inputs \[\]; the metadata says one, 'frames'"),
        ([frames(), frames()], [embedding()], r"graph inputs \['frames', 'frames'\]"),
        ([GraphTensor(("x",), "uint8", None)], [embedding()], r"graph inputs \['x'\]"),
        (
            [frames()],
            [GraphTensor(("y",), "float32", (None, 512))],
            r"graph outputs \['y'\] lack 'embedding'",
        ),
        ([frames("float32")], [embedding()], r"input 'frames' is float32 \(\?, \?, 160, 64, 3\)"),
        ([frames(shape=(None, 160, 64, 3))], [embedding()], r"the metadata says uint8 \(B, T, 160, 64, 3\)"),
        ([frames(shape=(None, None, 128, 64, 3))], [embedding()], r"\(B, T, 160, 64, 3\)"),
        ([frames(shape=None)], [embedding()], r"input 'frames' is uint8 \(\?\)"),
        (
            [frames()],
            [embedding(shape=(None, 256))],
            r"output 'embedding' is float32 \(\?, 256\); .*\(B, 512\)",
        ),
        ([frames()], [embedding(shape=(None, None))], r"\(B, 512\)"),  # a size only known when run
        ([frames()], [embedding("float16")], r"output 'embedding' is float16"),
    ],
)
def test_a_graph_that_breaks_it_is_refused_saying_how(
    inputs: list[GraphTensor], outputs: list[GraphTensor], problem: str
) -> None:
    with pytest.raises(ContractError, match=problem):
        check_graph(inputs, outputs, META, "m.onnx")
