"""Distillation losses: zero when the student agrees with the teacher, and they pull it there."""

from __future__ import annotations

import torch

from model_export.modeling.losses import embedding_distillation_loss, similarity_distillation_loss


def test_losses_vanish_only_when_the_student_agrees() -> None:
    teacher = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    assert embedding_distillation_loss(teacher * 3.0, teacher) < 1e-6  # scale does not matter
    assert embedding_distillation_loss(-teacher, teacher) > 1.9
    # only similarities are compared: a rotated, wider copy of the teacher's space agrees with it
    rotation, _ = torch.linalg.qr(torch.randn(32, 32))
    student = torch.cat([teacher, torch.zeros(8, 16)], dim=1) @ rotation
    assert similarity_distillation_loss(student, teacher) < 1e-6
    assert similarity_distillation_loss(torch.randn(8, 32), teacher) > 1e-2


def test_similarity_loss_moves_a_student_towards_the_teacher() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(16, 8)
    student = torch.randn(16, 24, requires_grad=True)
    optimiser = torch.optim.Adam([student], lr=0.05)
    first = similarity_distillation_loss(student, teacher).item()
    for _ in range(100):
        optimiser.zero_grad()
        loss = similarity_distillation_loss(student, teacher)
        loss.backward()
        optimiser.step()
    assert loss.item() < first / 10
