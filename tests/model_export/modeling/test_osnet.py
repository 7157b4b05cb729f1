"""OSNet x0.25 written here: levels for the GRU-RCN, and torchreid weights loaded with strict keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_export.modeling.backbones import OSNET_WEIGHTS, build_backbone
from model_export.modeling.backbones.osnet import OSNet, load_torchreid_weights
from model_export.modeling.network import ReIDNet

REAL_WEIGHTS = Path(__file__).resolve().parents[3].parent / "shared" / "peers" / "torchreid-osnet"


def test_levels_and_frame_vectors_at_256x128() -> None:
    net = OSNet().eval()
    levels = net(torch.rand(2, 3, 256, 128))
    assert [tuple(level.shape[1:]) for level in levels] == [(64, 32, 16), (96, 16, 8), (128, 16, 8)]
    assert net.frame_vectors(levels[-1]).shape == (2, 512)


def _torchreid_state(net: OSNet) -> dict[str, torch.Tensor]:
    """A state dict as torchreid saves it: the same names, plus its identity classifier."""
    state = dict(net.state_dict())
    state["classifier.weight"] = torch.zeros(751, 512)
    state["classifier.bias"] = torch.zeros(751)
    return state


def test_weights_load_strictly(tmp_path: Path) -> None:
    source = OSNet()
    torch.nn.init.normal_(source.conv1.conv.weight)
    path = tmp_path / "osnet.pth"
    torch.save(_torchreid_state(source), path)
    loaded = OSNet(path)
    assert torch.equal(loaded.conv1.conv.weight, source.conv1.conv.weight)

    broken = _torchreid_state(source)
    del broken["conv3.1.gate.fc1.weight"]
    torch.save(broken, path)
    with pytest.raises(RuntimeError, match=r"conv3\.1\.gate\.fc1\.weight"):
        load_torchreid_weights(OSNet(), path)

    extra = _torchreid_state(source)
    extra["conv6.weight"] = torch.zeros(1)
    torch.save(extra, path)
    with pytest.raises(RuntimeError, match="conv6"):
        load_torchreid_weights(OSNet(), path)


def test_plain_weights_load_into_ibn_osnet_and_only_its_instance_norms_start_fresh(tmp_path: Path) -> None:
    source = OSNet()
    torch.nn.init.normal_(source.conv2[0].conv3.conv.weight)
    path = tmp_path / "osnet.pth"
    torch.save(_torchreid_state(source), path)
    ibn = build_backbone("osnet_ibn_x0_25", weights=path)
    assert torch.equal(ibn.conv2[0].conv3.conv.weight, source.conv2[0].conv3.conv.weight)
    fresh = {k for k in ibn.state_dict() if k not in source.state_dict()}
    # affine weight and bias of each block of the first stage, nothing deeper
    assert fresh == {f"conv2.{b}.instance_norm.{p}" for b in (0, 1) for p in ("weight", "bias")}
    norm = ibn.conv2[0].instance_norm
    assert torch.equal(norm.weight, torch.ones(64)) and torch.equal(norm.bias, torch.zeros(64))

    broken = _torchreid_state(source)
    del broken["conv2.0.conv1.conv.weight"]
    torch.save(broken, path)
    with pytest.raises(RuntimeError, match=r"conv2\.0\.conv1\.conv\.weight"):
        build_backbone("osnet_ibn_x0_25", weights=path)


@pytest.mark.skipif(not (REAL_WEIGHTS / OSNET_WEIGHTS.name).is_file(), reason="torchreid weights not here")
def test_the_real_torchreid_file_fits_every_tensor() -> None:
    net = build_backbone("osnet_x0_25", weights=REAL_WEIGHTS / OSNET_WEIGHTS.name)
    assert net.conv1.bn.running_var.abs().sum() > 0  # trained statistics, not the init


@pytest.mark.parametrize("head", ["pooling", "recurrent", "recurrent_last"])
def test_every_head_on_osnet_gives_unit_embeddings(head: str) -> None:
    net = ReIDNet(OSNet(), num_classes=5, head=head, embedding_dim=32).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 3, 256, 128))
    assert out.shape == (2, 32)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    if head == "recurrent_last":
        assert len(net.temporal.levels) == 1  # type: ignore[arg-type]
