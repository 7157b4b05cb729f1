"""A published backbone as a checkpoint: its own vectors, pooled, and a card that says nothing was trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_export.cli import main
from model_export.config import TrainConfig
from model_export.engine.checkpoint import load_model, trained_on
from model_export.export import card
from model_export.modeling.backbones.osnet import OSNet


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OSNet]:
    """A torchreid-style file (with its identity classifier) named as torchreid names MSMT17's."""
    torch.manual_seed(0)
    net = OSNet().eval()
    for module in net.modules():  # statistics as after training, so BN is not the identity
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    state = {**net.state_dict(), "classifier.weight": torch.zeros(4101, 512)}
    path = tmp_path_factory.mktemp("published") / "osnet_x0_25_msmt17.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return path, net


def test_the_checkpoint_embeds_with_the_published_head_pooled_over_time(
    published: tuple[Path, OSNet], tmp_path: Path
) -> None:
    weights, reference = published
    out = tmp_path / "pretrained.pt"
    assert main(["pretrained", "--backbone-weights", str(weights), "--out", str(out)]) == 0
    net, cfg = load_model(out)
    assert cfg.head == "pooling" and trained_on(out) == "pretrained"
    x = torch.rand(2, 3, 3, 256, 128)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        frames = (x.flatten(0, 1) - mean) / std
        vectors = reference.frame_vectors(reference(frames)[-1]).view(2, 3, -1)
        expected = F.normalize(vectors.mean(dim=1), dim=1)
        got = net(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_the_card_says_nothing_was_trained_and_whose_terms_apply(
    published: tuple[Path, OSNet], tmp_path: Path
) -> None:
    out = tmp_path / "pretrained.pt"
    main(["pretrained", "--backbone-weights", str(published[0]), "--out", str(out)])
    _, cfg = load_model(out)
    data = card.training_data(cfg, "pretrained")
    assert data.startswith("No training here") and "MSMT17" in data
    licence = card.license_text(cfg, "pretrained")
    assert "MSMT17" in licence and "Intel" not in licence and "CUHK03" not in licence
    assert "as published" in card.architecture(cfg, "pretrained")


@pytest.fixture(scope="module")
def intel_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("openvino")
    from ir_graphs import write_reid_ir

    return write_reid_ir(tmp_path_factory.mktemp("ir") / "person-reidentification-retail-9999.xml")


def test_a_published_ir_network_embeds_its_own_vectors_pooled(intel_like: Path, tmp_path: Path) -> None:
    import openvino as ov
    from ir_graphs import FRAME_DIM, H, W

    out = tmp_path / "ir.pt"
    args = [
        "pretrained",
        "--backbone",
        "openvino_ir",
        "--backbone-weights",
        str(intel_like),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    net, cfg = load_model(out)
    assert cfg.embedding_dim == FRAME_DIM and trained_on(out) == "pretrained"
    x = torch.rand(2, 3, 3, H, W)
    compiled = ov.Core().compile_model(str(intel_like), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    bgr = (x.flatten(0, 1) * 255).flip(1).numpy()
    vectors = torch.from_numpy(np.concatenate([compiled(bgr[i : i + 1])[0] for i in range(len(bgr))]))
    vectors = vectors.view(2, 3, -1)
    with torch.no_grad():
        got = net(x)
    torch.testing.assert_close(got, F.normalize(vectors.mean(dim=1), dim=1), atol=1e-4, rtol=1e-3)


def test_cards_of_ir_networks_name_intels_model_and_its_licence(intel_like: Path) -> None:
    published = TrainConfig(backbone="openvino_ir", backbone_weights=intel_like, head="pooling")
    licence = card.license_text(published, "pretrained")
    assert "person-reidentification-retail-9999" in licence and "Apache-2.0" in licence
    assert "torchreid" not in licence and "CUHK03" not in licence
    assert "person-reidentification-retail-9999" in card.training_data(published, "pretrained")
    tuned = TrainConfig(backbone="openvino_ir", backbone_weights=intel_like, dataset="multisite")
    licence = card.license_text(tuned)
    assert "fine-tuned" in licence and "CUHK03" in licence and "torchreid" not in licence
    assert "started from Intel's person-reidentification-retail-9999" in card.training_data(tuned)
    assert card.architecture(tuned).startswith("person-reidentification-retail-9999")
