"""An OpenVINO IR network read into PyTorch: the same numbers as OpenVINO, trainable, exportable
(the IR: `tests/ir_graphs.py`, in the shape of Intel's re-id models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from model_export.config import TrainConfig
from model_export.engine.checkpoint import build_model
from model_export.export.onnx import as_float_frames, script_to_onnx
from model_export.modeling.backbones import build_backbone
from model_export.modeling.backbones.openvino_ir import _MVN, OpenVinoIRNet

ov = pytest.importorskip("openvino")
ops = pytest.importorskip("openvino.opset13")
from ir_graphs import FRAME_DIM, H, W, write_reid_ir  # noqa: E402 - needs openvino, checked above


@pytest.fixture(scope="module")
def ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reid_ir(tmp_path_factory.mktemp("ir") / "tiny-reid.xml")


def _openvino(ir: Path, rgb: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(str(ir), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.concatenate([compiled(rgb[i : i + 1, ::-1].copy())[0] for i in range(len(rgb))])


def test_the_network_gives_openvinos_vectors_for_any_batch(ir: Path) -> None:
    net = OpenVinoIRNet(ir).eval()
    rgb = np.random.default_rng(1).integers(0, 256, (3, 3, H, W)).astype(np.float32)
    with torch.no_grad():
        got = net.frame_vectors(net(torch.from_numpy(rgb))[-1]).numpy()
    expected = _openvino(ir, rgb)
    assert got.shape == (3, FRAME_DIM)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)


def test_levels_are_the_transitions_and_the_last_map(ir: Path) -> None:
    net = OpenVinoIRNet(ir)
    assert net.input_size == (H, W) and net.frame_dim == FRAME_DIM
    assert net.level_channels == (12, 16, 16)
    levels = net(torch.rand(2, 3, H, W) * 255)
    assert [tuple(level.shape[1:]) for level in levels] == [(12, 8, 4), (16, 4, 2), (16, 4, 2)]


def test_a_forward_lets_go_of_each_map_after_its_last_reader(ir: Path) -> None:
    """Intel's graphs have hundreds of values; held to the end, an eager evaluation of 256 frames
    through 0277 outgrew 24 GB. Each is dropped once, after the last step that reads it, levels kept."""
    net = OpenVinoIRNet(ir).eval()
    released: set[int] = set()
    for step, frees in zip(net.trunk, net.frees, strict=True):
        reads = {step.src, getattr(step, "other", None)} - {None}
        assert not reads & released, "a step reads a value already let go"
        assert not set(frees) & released, "a value let go twice"
        released |= set(frees)
    produced = set(range(1, len(net.trunk) + 2))  # 1: the BGR input, then one value per step
    assert released == produced - set(net.level_ids) - {len(net.trunk) + 1}
    x = torch.rand(2, 3, H, W) * 255
    with torch.no_grad():
        lean = net(x)
        net.frees = [[] for _ in net.trunk]  # the same forward, holding everything
        full = net(x)
    for a, b in zip(lean, full, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_every_weight_learns_and_shared_weights_get_their_own_copy(ir: Path) -> None:
    net = OpenVinoIRNet(ir)
    weights = [getattr(m, "weight", None) for m in net.trunk]
    shared = [w for w in weights if w is not None and w.shape == (2, 8, 1, 1)]
    assert len(shared) == 2 and shared[0] is not shared[1]
    net.frame_vectors(net(torch.rand(2, 3, H, W) * 255)[-1]).square().sum().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None for g in grads.values())
    moving = [n for n, g in grads.items() if g is not None and g.abs().sum() > 0]
    # a few may rest at zero (a gate's ReLU off for this batch, the input's normalisation in front
    # of an instance norm), the network as a whole must not
    assert len(moving) >= 0.8 * len(grads)


def test_a_network_on_it_exports_to_onnx_with_free_batch_and_length(ir: Path) -> None:
    cfg = TrainConfig(backbone="openvino_ir", backbone_weights=ir, head="recurrent", embedding_dim=FRAME_DIM)
    net = build_model(cfg, num_classes=3).eval()
    proto = script_to_onnx(net)
    graph = proto.SerializeToString()
    assert isinstance(net.backbone, OpenVinoIRNet)  # exported from a copy: the caller's stays as it was
    # every mean-variance normalisation is one LayerNormalization node, none is left in pieces
    ops = [n.op_type for n in proto.graph.node]
    mvns = sum(isinstance(s, _MVN) for s in net.backbone.trunk)
    assert mvns > 0 and ops.count("LayerNormalization") == mvns and "Sqrt" not in ops
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(2).integers(0, 256, (3, 5, H, W, 3), dtype=np.uint8)
    got = session.run(None, {"frames": frames})[0]
    with torch.no_grad():
        expected = net(as_float_frames(torch.from_numpy(frames))).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_unsupported_graphs_and_missing_files_are_refused(tmp_path: Path) -> None:
    data = ops.parameter([1, 3, H, W], np.float32, name="data")
    model = ov.Model([ops.result(ops.tanh(data))], [data], "tanh")
    path = tmp_path / "tanh.xml"
    ov.save_model(model, str(path))
    with pytest.raises(ValueError, match="Tanh"):
        OpenVinoIRNet(path)
    with pytest.raises(ValueError, match="backbone-weights"):
        build_backbone("openvino_ir")


SMALLER = (48, 32)  # last map 3x2 where the published size gives 4x2


def test_another_input_size_resamples_the_global_kernel_and_keeps_a_uniform_maps_vector(ir: Path) -> None:
    own, smaller = OpenVinoIRNet(ir).eval(), OpenVinoIRNet(ir, SMALLER).eval()
    assert smaller.input_size == SMALLER
    levels = smaller(torch.rand(2, 3, *SMALLER) * 255)
    assert tuple(levels[-1].shape[2:]) == (3, 2)
    # each channel's kernel keeps its sum, so a map that is the same everywhere pools to the same vector
    uniform = torch.randn(2, 16, 1, 1)
    with torch.no_grad():
        expected = own.frame_vectors(uniform.expand(2, 16, 4, 2))
        got = smaller.frame_vectors(uniform.expand(2, 16, 3, 2))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    # a natural image at the smaller size still lands near its vector at the published size
    image = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (1, 3, H, W)).astype(np.float32))
    with torch.no_grad():
        a = own.frame_vectors(own(image)[-1])
        resized = torch.nn.functional.interpolate(image, SMALLER, mode="bilinear")
        b = smaller.frame_vectors(smaller(resized)[-1])
    assert torch.cosine_similarity(a, b).item() > 0.5


def test_weights_of_the_published_size_load_into_a_smaller_network(ir: Path) -> None:
    published = build_model(TrainConfig(backbone="openvino_ir", backbone_weights=ir, head="pooling"), 3)
    cfg = TrainConfig(backbone="openvino_ir", backbone_weights=ir, head="pooling", input_size=SMALLER)
    smaller = build_model(cfg, 3)
    with torch.no_grad():
        for p in published.parameters():
            p.add_(0.01 * torch.randn_like(p))  # trained weights: not the file's, which both start from
    smaller.load_state_dict(published.state_dict())
    kernel = smaller.backbone.head[0].weight
    assert tuple(kernel.shape[2:]) == (3, 2)
    torch.testing.assert_close(kernel.sum(dim=(2, 3)), published.backbone.head[0].weight.sum(dim=(2, 3)))
    assert build_model(cfg, 3).input_size == SMALLER  # travels to the exported file's metadata from here


def test_an_input_size_the_network_cannot_take_is_refused(ir: Path) -> None:
    with pytest.raises(ValueError, match="cannot take"):
        OpenVinoIRNet(ir, (4, 4))
    with pytest.raises(ValueError, match="openvino_ir"):
        build_backbone("osnet_x0_25", pretrained=False, input_size=(224, 112))
