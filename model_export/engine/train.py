"""The training loop: P x K batches of T-frame tracklets, identity + metric losses, periodic evaluation.

Objective per batch (weights in `TrainConfig`):
- identity cross-entropy on each sequence (the paper's classification loss on each Siamese branch);
- identity cross-entropy on every frame: image-level supervision for the frame network, which on
  small multi-shot sets is what keeps it from overfitting to whole-tracklet averages;
- batch-hard triplet on the sequence features;
- the paper's Siamese contrastive loss on balanced positive / negative pairs of sequences;
- with a teacher cache, the teachers' per-crop and pairwise terms; with unlabeled crops (a tracker's
  output on the user's cameras), those terms alone on a batch of them beside each labelled batch.
Everything a run writes goes to `out_dir`: config.json, log.jsonl (one line per logged step and per
evaluation), metrics.csv, last.pt (every epoch, for resume) and eval/ (metrics, plots). The final
weights are the last ones: picking the best epoch on the evaluation set would flatter its figures.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from model_export.config import TrainConfig
from model_export.data.dataset import FrameStore, TrainDataset
from model_export.data.readers import open_split
from model_export.data.readers.unlabeled import read_unlabeled
from model_export.data.sampling import FrameMode, IdentityBatchSampler, UnlabeledBatchSampler
from model_export.data.tracklet import ReIDSplit
from model_export.data.transforms import AugmentConfig
from model_export.distillation.site_weights import SiteWeights
from model_export.distillation.teacher_table import TeacherTable
from model_export.engine.checkpoint import build_model, load_checkpoint, save_checkpoint
from model_export.evaluation.evaluator import evaluate
from model_export.modeling.losses import (
    batch_hard_triplet_loss,
    embedding_distillation_loss,
    identity_loss,
    siamese_contrastive_loss,
    similarity_distillation_loss,
)
from model_export.modeling.network import ReIDNet

MULTI_SHOT_SETS = {"cuhk03", "synthetic"}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds third-party code that uses the legacy global state
    torch.manual_seed(seed)


def frame_mode(cfg: TrainConfig) -> FrameMode:
    if cfg.frame_mode != "auto":
        return cfg.frame_mode
    return "random" if cfg.dataset in MULTI_SHOT_SETS else "consecutive"


def augment_config(cfg: TrainConfig) -> AugmentConfig:
    base = AugmentConfig()
    return dataclasses.replace(
        base,
        brightness=base.brightness * cfg.aug_colour,
        contrast=base.contrast * cfg.aug_colour,
        saturation=base.saturation * cfg.aug_colour,
        grayscale=cfg.aug_grayscale,
        lowres=cfg.aug_lowres,
        blur=cfg.aug_blur,
        compression=cfg.aug_compression,
        occlusion=cfg.aug_occlusion,
        white_balance=cfg.aug_white_balance,
    )


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 1% of the base rate."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def collate(
    batch: list[tuple[torch.Tensor, int, int, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    frames = torch.stack([b[0] for b in batch])
    pids = torch.tensor([b[1] for b in batch])
    targets = torch.stack([b[3] for b in batch])
    return frames, pids, targets


def compute_losses(
    model: ReIDNet,
    frames: torch.Tensor,
    pids: torch.Tensor,
    cfg: TrainConfig,
    targets: torch.Tensor | None = None,
    distill_head: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """`targets` (B, T, D): the teachers' vectors of each frame, when distilling."""
    with torch.autocast(frames.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
        out = model.forward_train(frames)
    out = {k: v.float() for k, v in out.items()}
    steps = frames.size(1)
    parts = {
        "id": cfg.w_id * identity_loss(out["seq_logits"], pids, cfg.label_smoothing),
        "frame_id": cfg.w_frame_id
        * identity_loss(out["frame_logits"], pids.repeat_interleave(steps), cfg.label_smoothing),
        "triplet": cfg.w_triplet * batch_hard_triplet_loss(out["seq_feat"], pids, cfg.triplet_margin),
        "siamese": cfg.w_siamese * siamese_contrastive_loss(out["seq_feat"], pids, cfg.siamese_margin),
    }
    if targets is not None and targets.size(-1) > 0:
        parts.update(distillation_losses(out, targets, cfg, distill_head))
    parts["total"] = sum(parts.values())  # type: ignore[assignment]
    return parts


def distillation_losses(
    out: dict[str, torch.Tensor],
    targets: torch.Tensor,
    cfg: TrainConfig,
    distill_head: torch.nn.Module | None,
    scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The teachers' terms on sequences and frames: per-crop (through the projection) and pairwise."""
    seq_target = F.normalize(targets.mean(dim=1), dim=1)
    frame_target = targets.reshape(-1, targets.size(-1))
    parts: dict[str, torch.Tensor] = {}
    if cfg.w_distill > 0 and distill_head is not None:
        parts["distill"] = (
            scale
            * cfg.w_distill
            * 0.5
            * (
                embedding_distillation_loss(distill_head(out["seq_emb"]), seq_target)
                + embedding_distillation_loss(distill_head(out["frame_emb"]), frame_target)
            )
        )
    if cfg.w_distill_sim > 0:
        parts["distill_sim"] = (
            scale
            * cfg.w_distill_sim
            * 0.5
            * (
                similarity_distillation_loss(out["seq_emb"], seq_target)
                + similarity_distillation_loss(out["frame_emb"], frame_target)
            )
        )
    return parts


def unlabeled_losses(
    model: ReIDNet,
    frames: torch.Tensor,
    targets: torch.Tensor,
    cfg: TrainConfig,
    distill_head: torch.nn.Module | None,
) -> dict[str, torch.Tensor]:
    """Crops without identities: a forward pass of their own (their batch has its own T), scored only
    by the teachers. Their batch statistics normalise them apart from the labelled batch's, and the
    norms' running statistics take in both sites, as they will meet them at test time."""
    with torch.autocast(frames.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
        out = model.forward_train(frames)
    out = {k: v.float() for k, v in out.items() if k in ("seq_emb", "frame_emb")}
    terms = distillation_losses(out, targets, cfg, distill_head, cfg.w_unlabeled)
    return {f"unlabeled_{k}": v for k, v in terms.items()}


def init_weights(model: ReIDNet, path: Path) -> None:
    """Take another run's weights; only the temporal head may be missing (a recurrence added on top
    of an image-level model), and only the identity classifier may be of another size (it names
    another split's people, or none for a published network: it starts fresh). Anything else that
    does not match is an error."""
    state = load_checkpoint(path)["model"]
    own = model.classifier.weight
    fresh = {"classifier.weight"} if state.get("classifier.weight", own).shape != own.shape else set()
    state = {k: v for k, v in state.items() if k not in fresh}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape: another backbone or embedding size
        raise ValueError(f"{path} does not fit this network: {exc}") from exc
    temporal = [k for k in missing if k.startswith("temporal.")]
    wrong = [k for k in [*missing, *unexpected] if k not in temporal and k not in fresh]
    if wrong:
        raise ValueError(f"{path} does not fit this network: {wrong[:5]}")
    classifier = ", a fresh classifier" if fresh else ""
    print(f"initialised from {path}; new: {len(temporal)} temporal tensors{classifier}")


def make_optimizer(
    model: ReIDNet, cfg: TrainConfig, extra: list[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    # one group at the default scale, so checkpoints written before the option still resume
    frame_net = (
        [p for p in model.backbone.parameters() if p.requires_grad] if cfg.backbone_lr_scale != 1.0 else []
    )
    own = {id(p) for p in frame_net}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in own] + extra
    params: list[dict[str, Any]] = [{"params": rest}]
    if frame_net:
        params.append({"params": frame_net, "lr": cfg.lr * cfg.backbone_lr_scale})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@dataclasses.dataclass
class RunLength:
    """The run's length in steps: what its epochs and max_steps allow (`longest`), cut below that
    only by a time budget. The learning-rate schedule reads `total` at every step, so a cut bends
    the cosine's tail; a checkpoint keeps a budgeted length, so a resumed lease ends where it was
    planned to."""

    longest: int
    total: int
    budgeted: bool = False

    def cut(self, steps: int, done: int) -> None:
        """Fit the run into `steps`, never below the `done` steps already taken."""
        self.total = max(done, min(self.longest, steps))
        self.budgeted = True

    def resume(self, budget_steps: int | None) -> None:
        if budget_steps is not None:
            self.total, self.budgeted = budget_steps, True

    @property
    def budget_steps(self) -> int | None:
        return self.total if self.budgeted else None


class StepBudget:
    """A lease of seconds turned into a number of steps.

    The rate is first measured after `warm` steps (cuDNN's autotuning) over `measure` more; the run
    is then cut to the steps that fit in what is left of the lease, less a reserve (a tenth of the
    lease, at most 30 s) for the last evaluation and checkpoint. The first epoch is slower than the
    rest (every frame decoded for the first time): on an H200 a plan made from it alone used 276 s of
    a 470 s lease. So at each epoch's end, while the run is in its first third, the plan is revised
    from that epoch's rate; the schedule is then still near its peak, where a longer or shorter tail
    changes the learning rate little.
    """

    def __init__(self, seconds: float, first_step: int, warm: int = 10, measure: int = 40) -> None:
        self.seconds = seconds
        self.started = time.perf_counter()
        self.mark_step = first_step + warm
        self.done_step = first_step + warm + measure
        self.reserve = min(30.0, 0.1 * seconds)
        self.mark_time = 0.0
        self.planned = False

    def _fit(self, step: int, rate: float, now: float) -> int:
        left = self.seconds - (now - self.started) - self.reserve
        return step + max(0, int(left * rate))

    def limit(self, step: int) -> int | None:
        """Called after each step; returns the run's total steps once, when it has been measured."""
        now = time.perf_counter()
        if step == self.mark_step:
            self.mark_time = now
        elif step == self.done_step:
            self.planned = True
            return self._fit(step, (self.done_step - self.mark_step) / (now - self.mark_time), now)
        return None

    def revise(self, step: int, epoch_steps: int, epoch_seconds: float) -> int | None:
        """Called at each epoch's end; a new total while the run is young enough to take one."""
        now = time.perf_counter()
        if not self.planned or now - self.started > self.seconds / 3 or epoch_seconds <= 0:
            return None
        return self._fit(step, epoch_steps / epoch_seconds, now)


def _seed_worker(worker: int) -> None:
    info = torch.utils.data.get_worker_info()
    if info is not None:
        info.dataset.set_worker(worker)  # type: ignore[attr-defined]


def make_loader(
    dataset: TrainDataset, sampler: IdentityBatchSampler | UnlabeledBatchSampler, cfg: TrainConfig, pin: bool
) -> DataLoader[Any]:
    """Workers live for the whole run (each keeps its decoded frames); each draws its own stream."""
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=cfg.workers,
        persistent_workers=cfg.workers > 0,
        worker_init_fn=_seed_worker if cfg.workers > 0 else None,
        pin_memory=pin,
    )


def unlabeled_loader(
    cfg: TrainConfig, teacher: TeacherTable | None, input_size: tuple[int, int], batches: int, pin: bool
) -> DataLoader[Any] | None:
    """One batch of unlabeled tracklets beside each labelled one, or None without `unlabeled_root`.
    A tracker's crops are video: their frames are drawn consecutively, in order."""
    if cfg.unlabeled_root is None:
        return None
    if teacher is None or (cfg.w_distill <= 0 and cfg.w_distill_sim <= 0):
        raise ValueError(
            "unlabeled crops are learned from the teachers only: give --teacher-cache (with those crops "
            "in it: teach --unlabeled-root) and --w-distill or --w-distill-sim above 0"
        )
    tracklets = read_unlabeled(cfg.unlabeled_root)
    dataset = TrainDataset(
        tracklets, input_size, "consecutive", augment_config(cfg), seed=cfg.seed + 1, teacher=teacher
    )
    sampler = UnlabeledBatchSampler(len(tracklets), cfg.unlabeled_per_batch, batches, cfg.seq_lens, cfg.seed)
    frames = sum(len(t) for t in tracklets)
    print(f"unlabeled: {len(tracklets)} tracklets, {frames} frames from {cfg.unlabeled_root}")
    return make_loader(dataset, sampler, cfg, pin)


class RunLog:
    """log.jsonl for everything, metrics.csv for the evaluation rows a person plots."""

    def __init__(self, out_dir: Path) -> None:
        self.jsonl = out_dir / "log.jsonl"
        self.csv = out_dir / "metrics.csv"

    def write(self, record: dict[str, Any]) -> None:
        with self.jsonl.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def write_eval(self, epoch: int, step: int, summary: dict[str, Any]) -> None:
        row = {"epoch": epoch, "step": step, **summary["mean"]}
        new = not self.csv.exists()
        with self.csv.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        self.write({"event": "eval", "epoch": epoch, "step": step, **summary})


@contextlib.contextmanager
def flushed_denormals() -> Iterator[None]:
    """Denormal floats flushed to zero while it lasts, the processor's setting put back after. Late
    in a run, as weights and gradients shrink, denormals can halve CPU throughput; but the setting is
    the thread's, Python's own float arithmetic included, and a caller sharing the process (a test
    session, a notebook, a property-based tester that checks for it) must not inherit it."""
    before = sys.float_info.min / 3.0 == 0.0
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def train(cfg: TrainConfig, split: ReIDSplit | None = None) -> dict[str, Any]:
    """Train (or resume) a run; returns the last evaluation summary."""
    with flushed_denormals():
        return _train(cfg, split)


@dataclasses.dataclass
class _Run:
    """What a run is made of, built once from its config and split."""

    cfg: TrainConfig
    split: ReIDSplit
    log: RunLog
    device: torch.device
    model: ReIDNet
    taught_by: list[str]
    distill_head: torch.nn.Linear | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    sampler: IdentityBatchSampler
    dataset: TrainDataset
    loader: DataLoader[Any]
    unlabeled: DataLoader[Any] | None
    length: RunLength

    @property
    def input_size(self) -> tuple[int, int]:
        return self.model.input_size

    @property
    def steps_per_epoch(self) -> int:
        return len(self.sampler)

    @property
    def last_path(self) -> Path:
        return self.cfg.out_dir / "last.pt"


@dataclasses.dataclass
class _Progress:
    """Where a run is: what a checkpoint keeps and a resumed run starts from."""

    epoch: int = 0
    step: int = 0
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    train_seconds: float = 0.0


def teacher_table(cfg: TrainConfig) -> TeacherTable | None:
    """The teachers' targets of a run that has a teacher cache, weighted per site where it has scores."""
    if cfg.teacher_cache is None:
        return None
    weights = (
        None
        if cfg.teacher_scores is None
        else SiteWeights.from_file(cfg.teacher_scores, cfg.teacher_temperature)
    )
    return TeacherTable(cfg.teacher_cache, cfg.teachers, weights=weights)


def _build_run(cfg: TrainConfig, split: ReIDSplit) -> _Run:
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    (cfg.out_dir / "config.json").write_text(json.dumps(cfg.to_json(), indent=2))
    model = build_model(cfg, split.num_train_pids)
    if cfg.init_from is not None:
        init_weights(model, cfg.init_from)
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # T takes a handful of values: one tuning per shape
    model = model.to(device, memory_format=torch.channels_last)
    input_size = model.input_size
    teacher = teacher_table(cfg)
    # who taught it, kept for the card: a cache names its teachers inside, not by its path
    taught_by = teacher.teachers if teacher is not None and cfg.w_distill + cfg.w_distill_sim > 0 else []
    # Maps the student's embedding into the teachers' space for the per-crop loss; training only.
    distill_head = torch.nn.Linear(cfg.embedding_dim, teacher.dim, bias=False).to(device) if teacher else None
    optimizer = make_optimizer(model, cfg, list(distill_head.parameters()) if distill_head else [])
    sampler = IdentityBatchSampler(
        split.train, cfg.ids_per_batch, cfg.tracklets_per_id, cfg.seq_lens, seed=cfg.seed
    )
    dataset = TrainDataset(
        split.train, input_size, frame_mode(cfg), augment_config(cfg), seed=cfg.seed, teacher=teacher
    )
    loader = make_loader(dataset, sampler, cfg, pin=device.type == "cuda")
    steps_per_epoch = len(sampler)
    unlabeled = unlabeled_loader(cfg, teacher, input_size, steps_per_epoch, pin=device.type == "cuda")
    longest = cfg.epochs * steps_per_epoch
    if cfg.max_steps > 0:
        longest = min(longest, cfg.max_steps)
    length = RunLength(longest=longest, total=longest)
    warmup = max(1, round(cfg.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, length.total, warmup))
    return _Run(
        cfg, split, RunLog(cfg.out_dir), device, model, taught_by, distill_head, optimizer, scheduler,
        sampler, dataset, loader, unlabeled, length,
    )  # fmt: skip


def _resume(run: _Run) -> _Progress:
    state = load_checkpoint(run.last_path)
    run.model.load_state_dict(state["model"])
    if run.distill_head is not None:
        run.distill_head.load_state_dict(state["distill_head"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    progress = _Progress(state["epoch"], state["step"], state["summary"], state["train_seconds"])
    # a length fixed by an earlier lease stays fixed: resuming must not restart the schedule
    # (without one, asking for more epochs extends the run, as it always has)
    run.length.resume(state.get("budget_steps"))
    print(f"resumed {run.last_path} at epoch {progress.epoch}, step {progress.step}")
    return progress


def _step(
    run: _Run,
    frames: torch.Tensor,
    pids: torch.Tensor,
    targets: torch.Tensor,
    side: Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None,
) -> tuple[dict[str, torch.Tensor], int]:
    """One optimiser step on a labelled batch (and the unlabeled one beside it); its losses and the
    images it saw."""
    cfg, device = run.cfg, run.device
    frames = frames.to(device, non_blocking=True)
    pids, targets = pids.to(device, non_blocking=True), targets.to(device, non_blocking=True)
    parts = compute_losses(run.model, frames, pids, cfg, targets, run.distill_head)
    images = frames.size(0) * frames.size(1)
    if side is not None:
        u_frames, _, u_targets = next(side)
        u_frames = u_frames.to(device, non_blocking=True)
        extra = unlabeled_losses(run.model, u_frames, u_targets.to(device), cfg, run.distill_head)
        parts.update(extra)
        parts["total"] = parts["total"] + sum(extra.values())
        images += u_frames.size(0) * u_frames.size(1)
    run.optimizer.zero_grad(set_to_none=True)
    parts["total"].backward()
    run.optimizer.step()
    run.scheduler.step()
    return parts, images


def _train_epoch(run: _Run, epoch: int, progress: _Progress, budget: StepBudget | None) -> float:
    """One epoch's steps (fewer where the run's length ends inside it); its seconds."""
    cfg, length = run.cfg, run.length
    run.model.train()
    run.sampler.set_epoch(epoch)
    run.dataset.set_epoch(epoch)
    if run.unlabeled is not None:
        run.unlabeled.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]
        run.unlabeled.dataset.set_epoch(epoch)  # type: ignore[attr-defined]
    bar = tqdm(run.loader, total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", mininterval=10)
    tic = time.perf_counter()
    images = 0
    side = iter(run.unlabeled) if run.unlabeled is not None else None
    for frames, pids, targets in bar:
        parts, seen = _step(run, frames, pids, targets, side)
        progress.step += 1
        step = progress.step
        if budget is not None and (limit := budget.limit(step)) is not None:
            length.cut(limit, done=step)
            print(f"time budget: {length.total} steps in all")
        images += seen
        # reading a loss waits for the device: only every 10th step, so a GPU can run ahead
        if step % 10 == 0 or step == length.total:
            rate = images / (time.perf_counter() - tic)
            bar.set_postfix(loss=f"{parts['total'].item():.3f}", img_s=f"{rate:.0f}", T=frames.size(1))
            run.log.write(
                {
                    "event": "step",
                    "epoch": epoch,
                    "step": step,
                    "lr": run.scheduler.get_last_lr()[0],
                    "images_per_s": rate,
                    **{k: round(v.item(), 5) for k, v in parts.items()},
                }
            )
        if step >= length.total:
            break
    return time.perf_counter() - tic


def _evaluate(run: _Run, epoch: int, step: int, plots: bool, store: FrameStore) -> dict[str, Any]:
    run.model.eval()

    def embed(x: torch.Tensor) -> torch.Tensor:
        return run.model(x.to(run.device)).float().cpu()

    cfg = run.cfg
    summary = evaluate(
        embed, run.split, run.input_size, cfg.test_chunk, cfg.out_dir / "eval", plots=plots, store=store
    )
    run.log.write_eval(epoch + 1, step, summary)
    mean = summary["mean"]
    print(f"epoch {epoch + 1}: rank-1 {mean['rank1']:.3f} mAP {mean['mAP']:.3f}")
    return summary


def _save(run: _Run, epoch: int, progress: _Progress) -> None:
    """last.pt after each epoch (and epoch-NNN.pt with `keep_epochs`): enough to resume the run."""
    distill_head = run.distill_head
    state = {
        "model": run.model.state_dict(),
        "distill_head": distill_head.state_dict() if distill_head is not None else None,
        "teachers": run.taught_by,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "epoch": epoch + 1,
        "step": progress.step,
        "total_steps": run.length.total,
        "budget_steps": run.length.budget_steps,
        "config": run.cfg.to_json(),
        "num_classes": run.split.num_train_pids,
        # what was learned from, also when it came in a pack (`dataset` is then "pack")
        "split_name": run.split.name,
        "summary": progress.summary,
        "train_seconds": progress.train_seconds,
    }
    save_checkpoint(run.last_path, state)
    if run.cfg.keep_epochs:
        save_checkpoint(run.cfg.out_dir / f"epoch-{epoch + 1:03d}.pt", state)


def _train(cfg: TrainConfig, split: ReIDSplit | None) -> dict[str, Any]:
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    split = split or open_split(cfg.dataset, cfg.data_root, cfg.split_id, cfg.held_out_site)
    run = _build_run(cfg, split)
    length = run.length
    progress = _resume(run) if cfg.resume and run.last_path.exists() else _Progress()
    budget = (
        StepBudget(cfg.time_budget_s, progress.step) if cfg.time_budget_s > 0 and progress.step == 0 else None
    )
    eval_store = FrameStore(run.input_size)
    print(split.summary())
    height, width = run.input_size
    parameters = sum(p.numel() for p in run.model.parameters()) / 1e6
    print(
        f"{cfg.backbone}/{cfg.head} at {height}x{width}: {run.steps_per_epoch} steps/epoch, "
        f"{length.total} steps in all, {parameters:.2f} M parameters"
    )

    epoch = progress.epoch
    for epoch in range(progress.epoch, cfg.epochs):
        if progress.step >= length.total:
            break
        first = progress.step
        epoch_seconds = _train_epoch(run, epoch, progress, budget)
        progress.train_seconds += epoch_seconds
        step = progress.step
        if budget is not None and (limit := budget.revise(step, step - first, epoch_seconds)) is not None:
            length.cut(limit, done=step)
            print(f"time budget revised: {length.total} steps in all")
        done = epoch + 1 >= cfg.epochs or step >= length.total
        if cfg.eval_every > 0 and ((epoch + 1) % cfg.eval_every == 0 or done):
            progress.summary = _evaluate(run, epoch, step, done, eval_store)
        _save(run, epoch, progress)
    run.log.write(
        {"event": "done", "epoch": epoch + 1, "step": progress.step, "train_seconds": progress.train_seconds}
    )
    return progress.summary
