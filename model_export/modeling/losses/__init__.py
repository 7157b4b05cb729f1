"""Training objectives: identity classification, batch-hard triplet, the paper's Siamese loss, and
distillation from peer models."""

from model_export.modeling.losses.contrastive import siamese_contrastive_loss
from model_export.modeling.losses.distillation import (
    embedding_distillation_loss,
    similarity_distillation_loss,
)
from model_export.modeling.losses.identity import identity_loss
from model_export.modeling.losses.triplet import batch_hard_triplet_loss

__all__ = [
    "batch_hard_triplet_loss",
    "embedding_distillation_loss",
    "identity_loss",
    "siamese_contrastive_loss",
    "similarity_distillation_loss",
]
