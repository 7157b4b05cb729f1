"""A small OpenVINO IR re-id network, made with OpenVINO's own graph API, for tests of the IR backbone.

Shaped like Intel's re-id models (BGR 0-255 input swapped and normalised in the graph, instance norm
on the input and the stem, folded batch norms as convolution + add, depthwise 3x3, a channel gate with
group norm behind a ShapeOf reshape and one shared by two streams, two average-pool transitions, a
global depthwise pooling, fc, batch norm as multiply-add and PReLU), saved with fp16 weights as the
Open Model Zoo ships some of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

H, W = 64, 32
FRAME_DIM = 10


def _c(rng: np.random.Generator, *shape: int, scale: float = 0.3) -> object:
    return ops.constant((rng.standard_normal(shape) * scale).astype(np.float32))


def _conv(rng: np.random.Generator, x: object, cin: int, cout: int, k: int = 1, stride: int = 1) -> object:
    pad = k // 2
    y = ops.convolution(x, _c(rng, cout, cin, k, k), [stride, stride], [pad, pad], [pad, pad], [1, 1])
    return ops.add(y, _c(rng, 1, cout, 1, 1, scale=0.1))  # a batch norm folded into the convolution


def _gate(rng: np.random.Generator, x: object, ch: int, shared: tuple[object, object] | None) -> object:
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3])), True)
    if shared is not None:  # OSNet's gate: fc - relu - fc, one set of weights for several streams
        hidden = ops.relu(ops.convolution(pooled, shared[0], [1, 1], [0, 0], [0, 0], [1, 1]))
        logits = ops.convolution(hidden, shared[1], [1, 1], [0, 0], [0, 0], [1, 1])
    else:  # group norm over the pooled channels, its shape taken from the input at run time
        grouped = ops.reshape(pooled, ops.constant(np.array([0, 4, -1])), True)
        normed = ops.mvn(grouped, ops.constant(np.array([2])), True, 1e-5, "inside_sqrt")
        back = ops.reshape(normed, ops.shape_of(pooled), True)
        logits = ops.add(ops.multiply(back, _c(rng, 1, ch, 1, 1)), _c(rng, 1, ch, 1, 1))
    return ops.multiply(x, ops.sigmoid(logits))


def _block(rng: np.random.Generator, x: object, ch: int, shared: bool) -> object:
    weights = (_c(rng, ch // 4, ch, 1, 1), _c(rng, ch, ch // 4, 1, 1)) if shared else None
    streams = []
    for _ in range(2):
        s = ops.relu(_conv(rng, x, ch, ch))
        dw = ops.group_convolution(s, _c(rng, ch, 1, 1, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
        streams.append(_gate(rng, ops.relu(ops.add(dw, _c(rng, 1, ch, 1, 1, scale=0.1))), ch, weights))
    return ops.relu(ops.add(_conv(rng, ops.add(*streams), ch, ch), x))


def _instance_norm(rng: np.random.Generator, x: object, ch: int) -> object:
    normed = ops.mvn(x, ops.constant(np.array([2, 3])), True, 1e-5, "inside_sqrt")
    return ops.add(ops.multiply(normed, _c(rng, 1, ch, 1, 1)), _c(rng, 1, ch, 1, 1))


def write_reid_ir(path: Path) -> Path:
    """`path`: the .xml to write (its .bin beside it)."""
    rng = np.random.default_rng(0)
    data = ops.parameter([1, 3, H, W], np.float32, name="data")
    rgb = ops.gather(data, ops.constant(np.array([2, 1, 0], dtype=np.int32)), ops.constant(np.array([1])))
    mean, scale = np.full((1, 3, 1, 1), 120.0, np.float32), np.full((1, 3, 1, 1), 1 / 60, np.float32)
    x = ops.multiply(ops.subtract(rgb, ops.constant(mean)), ops.constant(scale))
    x = _instance_norm(rng, x, 3)
    stem = ops.convolution(x, _c(rng, 8, 3, 3, 3), [2, 2], [1, 1], [1, 1], [1, 1])
    x = ops.relu(_instance_norm(rng, stem, 8))
    x = ops.max_pool(x, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3]).output(0)
    x = _block(rng, x, 8, shared=True)
    x = ops.avg_pool(_conv(rng, x, 8, 12), [2, 2], [0, 0], [0, 0], [2, 2], True)
    x = _block(rng, x, 12, shared=False)
    x = ops.avg_pool(_conv(rng, x, 12, 16), [2, 2], [0, 0], [0, 0], [2, 2], True)
    x = ops.relu(_conv(rng, _block(rng, x, 16, shared=False), 16, 16))
    pooled = ops.group_convolution(x, _c(rng, 16, 1, 1, H // 16, W // 16), [1, 1], [0, 0], [0, 0], [1, 1])
    flat = ops.reshape(pooled, ops.constant(np.array([-1, 16])), True)
    fc = ops.add(ops.matmul(flat, _c(rng, FRAME_DIM, 16), False, True), _c(rng, 1, FRAME_DIM, scale=0.1))
    bn = ops.add(ops.multiply(fc, _c(rng, 1, FRAME_DIM)), _c(rng, 1, FRAME_DIM, scale=0.1))
    out = ops.prelu(bn, ops.constant(np.array([0.25], dtype=np.float32)))
    model = ov.Model([ops.result(out)], [data], "tiny-reid")
    ov.save_model(model, str(path), compress_to_fp16=True)
    return path
