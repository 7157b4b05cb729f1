"""`ReIDNet`: frames in, one sequence embedding out; the eval forward is the graph that gets exported.

    (B, T, 3, H, W) RGB in [0, 1]
      -> normalise (the backbone's mean / std, held as buffers so the export carries them)
      -> backbone on all B*T frames -> feature maps at several levels
      -> frame vectors f_t (last level pooled, the backbone's head if it has one) -- frame-level id loss
      -> temporal head: mean_t f_t (+ GRU-RCN residual)     -- the sequence vector
      -> neck (linear, D) -> BNNeck -> L2 normalise         -- the embedding; cosine similarity

Training returns what the losses need: the sequence feature before the BNNeck (metric losses: triplet
and the paper's Siamese contrastive loss), the identity logits of each sequence and of each frame.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model_export.modeling.backbones import Backbone
from model_export.modeling.shapes import merge_time, split_vectors
from model_export.modeling.temporal import PoolingHead, RecurrentHead

# recurrent: a GRU-RCN on every backbone level (the paper); recurrent_last: on the deepest level
# only (most of the benefit, if any, at a fraction of the cost); pooling: the mean of frame vectors.
HeadKind = Literal["recurrent", "recurrent_last", "pooling"]


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
        frame_dim = backbone.frame_dim
        self.temporal: nn.Module
        if head == "recurrent":
            self.temporal = RecurrentHead(backbone.level_channels, backbone.gru_hidden, frame_dim)
        elif head == "recurrent_last":
            self.temporal = RecurrentHead(
                backbone.level_channels,
                backbone.gru_hidden,
                frame_dim,
                levels=(len(backbone.level_channels) - 1,),
            )
        elif head == "pooling":
            self.temporal = PoolingHead()
        else:
            raise ValueError(f"unknown head {head!r}; choose recurrent, recurrent_last or pooling")
        self.neck = nn.Linear(frame_dim, embedding_dim, bias=False)
        self.bnneck = nn.BatchNorm1d(embedding_dim)
        self.bnneck.bias.requires_grad_(False)  # BNNeck (Luo et al. 2019): no shift before the classifier
        self.classifier = nn.Linear(embedding_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=1e-3)

    def features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, 3, H, W) -> sequence vector (B, F) and frame vectors (B, T, F)."""
        frames = (merge_time(x) - self.pixel_mean) / self.pixel_std
        levels = self.backbone(frames)
        frame_vectors = split_vectors(self.backbone.frame_vectors(levels[-1]), x.size(0), x.size(1))
        return self.temporal(frame_vectors, levels), frame_vectors

    def forward(self, x: Tensor) -> Tensor:
        """The exported graph: an L2-normalised embedding per sequence, compared by cosine."""
        seq, _ = self.features(x)
        return F.normalize(self.bnneck(self.neck(seq)), dim=1)

    def forward_train(self, x: Tensor) -> dict[str, Tensor]:
        seq, frame_vectors = self.features(x)
        seq_feat = self.neck(seq)
        frame_feat = self.neck(frame_vectors.reshape(-1, frame_vectors.size(-1)))
        seq_emb, frame_emb = self.bnneck(seq_feat), self.bnneck(frame_feat)
        return {
            "seq_feat": seq_feat,
            "seq_emb": seq_emb,
            "frame_emb": frame_emb,
            "seq_logits": self.classifier(seq_emb),
            "frame_logits": self.classifier(frame_emb),
        }


def without_recurrence(net: ReIDNet) -> ReIDNet:
    """A copy of `net` with its GRU-RCN residual zeroed: mean pooling of the same frame network, the
    ablation that says what the recurrence adds. A pooling network has nothing to take away."""
    if not isinstance(net.temporal, RecurrentHead):
        raise ValueError("this network has no recurrence (its head is pooling)")
    pooled = copy.deepcopy(net)
    nn.init.zeros_(pooled.temporal.mix.weight)
    return pooled
