"""`ReIDNet`: frames in, one sequence embedding out; the eval forward is the graph that gets exported.

    (B, T, 3, H, W) RGB in [0, 1]
      -> normalise (the backbone's mean / std, held as buffers so the export carries them)
      -> backbone on all B*T frames -> feature maps at several levels
      -> frame vectors f_t (last level pooled)             -- frame-level identity loss
      -> temporal head: mean_t f_t (+ GRU-RCN residual)     -- the sequence vector
      -> neck (linear, D) -> BNNeck -> L2 normalise         -- the embedding; cosine similarity

Training returns what the losses need: the sequence feature before the BNNeck (metric losses: triplet
and the paper's Siamese contrastive loss), the identity logits of each sequence and of each frame.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model_export.modeling.backbones import Backbone
from model_export.modeling.shapes import merge_time, split_vectors
from model_export.modeling.temporal import PoolingHead, RecurrentHead

HeadKind = Literal["recurrent", "pooling"]

# Hidden channels of the GRU-RCN at each backbone level.
GRU_HIDDEN: dict[str, tuple[int, ...]] = {"paper": (16, 32, 32), "mobilenetv2": (64, 128, 256)}


class ReIDNet(nn.Module):
    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        head: HeadKind = "recurrent",
        embedding_dim: int = 512,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.input_size = backbone.input_size
        self.embedding_dim = embedding_dim
        self.register_buffer("pixel_mean", torch.tensor(backbone.pixel_mean).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(backbone.pixel_std).view(1, 3, 1, 1))
        frame_dim = backbone.level_channels[-1]
        self.temporal: nn.Module
        if head == "recurrent":
            self.temporal = RecurrentHead(backbone.level_channels, GRU_HIDDEN[backbone.name], frame_dim)
        elif head == "pooling":
            self.temporal = PoolingHead()
        else:
            raise ValueError(f"unknown head {head!r}; choose recurrent or pooling")
        self.neck = nn.Linear(frame_dim, embedding_dim, bias=False)
        self.bnneck = nn.BatchNorm1d(embedding_dim)
        self.bnneck.bias.requires_grad_(False)  # BNNeck (Luo et al. 2019): no shift before the classifier
        self.classifier = nn.Linear(embedding_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=1e-3)

    def features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, 3, H, W) -> sequence vector (B, F) and frame vectors (B, T, F)."""
        frames = (merge_time(x) - self.pixel_mean) / self.pixel_std
        levels = self.backbone(frames)
        frame_vectors = split_vectors(levels[-1].mean(dim=(2, 3)), x.size(0), x.size(1))
        return self.temporal(frame_vectors, levels), frame_vectors

    def forward(self, x: Tensor) -> Tensor:
        """The exported graph: an L2-normalised embedding per sequence, compared by cosine."""
        seq, _ = self.features(x)
        return F.normalize(self.bnneck(self.neck(seq)), dim=1)

    def forward_train(self, x: Tensor) -> dict[str, Tensor]:
        seq, frame_vectors = self.features(x)
        seq_feat = self.neck(seq)
        frame_feat = self.neck(frame_vectors.reshape(-1, frame_vectors.size(-1)))
        return {
            "seq_feat": seq_feat,
            "seq_logits": self.classifier(self.bnneck(seq_feat)),
            "frame_logits": self.classifier(self.bnneck(frame_feat)),
        }
