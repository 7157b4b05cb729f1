"""A real, short training run on synthetic people: the whole loop must learn, log, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model_export.cli import main
from model_export.config import TrainConfig
from model_export.data.tracklet import ReIDSplit
from model_export.engine.checkpoint import build_model, load_model
from model_export.engine.train import make_optimizer, train
from model_export.evaluation.evaluator import evaluate


def small_config(out_dir: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = {
        "dataset": "synthetic",
        "backbone": "paper",
        "head": "recurrent",
        "embedding_dim": 64,
        "ids_per_batch": 8,
        "tracklets_per_id": 4,
        "seq_lens": (2, 4),
        "epochs": 15,
        "lr": 2e-3,
        "eval_every": 0,
        "out_dir": out_dir,
        "seed": 0,
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


@pytest.mark.slow
def test_training_learns_held_out_identities(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    cfg = small_config(tmp_path / "run")
    untrained = build_model(cfg, synthetic_split.num_train_pids).eval()
    with torch.no_grad():
        before = evaluate(untrained, synthetic_split, untrained.input_size)["mean"]["rank1"]
    train(cfg, synthetic_split)
    model, loaded_cfg = load_model(tmp_path / "run" / "last.pt")
    assert loaded_cfg.head == "recurrent"
    with torch.no_grad():
        after = evaluate(model, synthetic_split, model.input_size)["mean"]
    chance = 1 / len({t.pid for t in synthetic_split.gallery})  # 20 test identities: 0.05
    assert after["rank1"] >= max(10 * chance, before + 0.2), (before, after)
    assert after["mAP"] > 0.35

    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["total"] for r in log if r["event"] == "step"]
    assert losses[-1] < losses[0]
    assert log[-1]["event"] == "done" and log[-1]["train_seconds"] > 0


def test_resume_continues_where_the_run_stopped(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(small_config(out, epochs=2, head="pooling", eval_every=1), synthetic_split)
    first = torch.load(out / "last.pt", weights_only=False)
    assert first["epoch"] == 2 and first["step"] == 2 * (40 // 8)
    train(small_config(out, epochs=3, head="pooling", eval_every=1), synthetic_split)
    resumed = torch.load(out / "last.pt", weights_only=False)
    assert resumed["epoch"] == 3 and resumed["step"] == first["step"] + 40 // 8
    assert (out / "metrics.csv").read_text().count("\n") == 1 + 3  # header + one row per epoch
    assert (out / "eval" / "cmc.png").stat().st_size > 1000
    assert (out / "eval" / "ranked.png").stat().st_size > 1000


def test_cli_trains_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    common = ["--dataset", "synthetic", "--data-root", str(data)]
    args = [
        "train",
        *common,
        "--backbone",
        "paper",
        "--epochs",
        "1",
        "--ids-per-batch",
        "4",
        "--seq-lens",
        "2",
        "--out-dir",
        str(run),
        "--eval-every",
        "1",
    ]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run / "last.pt"), *common, "--out-dir", str(tmp_path / "eval")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"mean", "query->gallery", "gallery->query"}
    assert 0.0 <= printed["mean"]["rank1"] <= 1.0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == printed
    ablated = tmp_path / "ablated"
    assert (
        main(["evaluate", str(run / "last.pt"), *common, "--without-recurrence", "--out-dir", str(ablated)])
        == 0
    )
    capsys.readouterr()
    assert (ablated / "metrics.json").is_file()


def test_cli_help_lists_typed_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--backbone {mobilenetv2,paper,osnet_x0_25,osnet_ibn_x0_25,openvino_ir}" in out
    assert "--seq-lens" in out
    assert "--head {recurrent,recurrent_last,pooling}" in out and "--teacher-cache" in out


def test_recurrence_starts_from_an_image_level_run(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    """Stage two of the recipe: a recurrent head added on top of a pooling (image-level) run."""
    image_run, seq_run = tmp_path / "image", tmp_path / "seq"
    train(small_config(image_run, epochs=1, head="pooling", seq_lens=(1,)), synthetic_split)
    cfg = small_config(
        seq_run, epochs=1, head="recurrent", init_from=image_run / "last.pt", max_steps=1, lr=1e-9
    )
    train(cfg, synthetic_split)
    before = torch.load(image_run / "last.pt", weights_only=False)["model"]
    after = torch.load(seq_run / "last.pt", weights_only=False)["model"]
    torch.testing.assert_close(after["backbone.levels.0.0.weight"], before["backbone.levels.0.0.weight"])
    assert any(k.startswith("temporal.") for k in after) and not any(
        k.startswith("temporal.") for k in before
    )

    wrong = small_config(
        tmp_path / "wrong", backbone="mobilenetv2", pretrained=False, init_from=image_run / "last.pt"
    )
    with pytest.raises(ValueError, match="does not fit"):
        train(wrong, synthetic_split)


def test_data_workers_draw_streams_of_their_own(synthetic_split: ReIDSplit) -> None:
    """Forked workers start from copies of one generator: unless each is reseeded, they hand the
    network the same frames and augmentation in different batches."""
    from model_export.data.dataset import TrainDataset
    from model_export.data.transforms import AugmentConfig

    def draw(worker: int) -> torch.Tensor:
        dataset = TrainDataset(synthetic_split.train, (64, 48), "random", AugmentConfig())
        dataset.set_epoch(1)
        dataset.set_worker(worker)
        return torch.stack([dataset[(5, 2)][0] for _ in range(3)])

    assert torch.equal(draw(0), draw(0))  # reproducible per worker
    assert not torch.equal(draw(0), draw(1))


def test_a_time_budget_fixes_the_run_length_on_a_pack_with_workers(
    synthetic_split: ReIDSplit, tmp_path: Path
) -> None:
    """The lease recipe end to end: a pack, loading processes, a run cut to its budget, and a
    resume that keeps the length the budget fixed instead of starting the schedule again."""
    from model_export.data.pack import write_pack

    pack = write_pack(synthetic_split, tmp_path / "pack")
    out = tmp_path / "run"
    cfg = small_config(
        out, dataset="pack", data_root=pack, epochs=1000, time_budget_s=6.0, workers=2, head="pooling"
    )
    train(cfg)
    state = torch.load(out / "last.pt", weights_only=False)
    steps_per_epoch = 40 // 8
    assert 50 <= state["total_steps"] == state["step"] < 1000 * steps_per_epoch  # cut by the budget
    train(cfg)  # resumed: nothing is left to do
    assert torch.load(out / "last.pt", weights_only=False)["step"] == state["step"]
    # the run knows what it learned from, not only that it came in a pack: the card says so
    from model_export.engine.checkpoint import trained_on
    from model_export.export.card import training_data

    assert trained_on(out / "last.pt") == synthetic_split.name == "synthetic"
    assert training_data(cfg, trained_on(out / "last.pt")).startswith("synthetic multi-camera tracklets")


def test_a_budget_is_measured_once_the_run_is_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    from model_export.engine import train as train_module

    clock = [100.0]
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: clock[0])
    budget = train_module.StepBudget(seconds=600.0, first_step=0, warm=10, measure=40)
    limits = []
    for step in range(1, 60):
        clock[0] += 5.0 if step <= 10 else 0.5  # slow warm-up steps, then 2 steps a second
        limits.append(budget.limit(step))
    assert [x for x in limits if x is not None] == [50 + ((600 - 70 - 30) * 2)]
    assert limits.index(1050) == 49  # decided at step 50, after the 40 measured steps


def test_a_budget_is_revised_from_warm_epochs_early_in_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first epoch decodes every frame: a plan made from it alone ends the run far too early."""
    from model_export.engine import train as train_module

    clock = [0.0]
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: clock[0])
    budget = train_module.StepBudget(seconds=900.0, first_step=0, warm=10, measure=40)
    assert budget.revise(5, 5, 10.0) is None  # nothing planned yet: nothing to revise
    for step in range(1, 51):
        clock[0] += 1.0  # cold: a step a second
        budget.limit(step)
    clock[0] = 100.0  # end of epoch 1 at step 100; epoch 2 ran 100 steps in 25 s
    assert budget.revise(200, 100, 25.0) == 200 + ((900 - 100 - 30) * 4)
    clock[0] = 301.0  # past the first third of the lease: the tail of the schedule stays as it is
    assert budget.revise(900, 100, 25.0) is None


def test_a_budget_cuts_the_run_length_but_never_extends_it_or_undoes_steps_taken() -> None:
    from model_export.engine.train import RunLength

    length = RunLength(longest=1000, total=1000)
    assert length.budget_steps is None  # an ordinary run: resuming with more epochs extends it
    length.cut(5000, done=60)
    assert (length.total, length.budget_steps) == (1000, 1000)  # a lease longer than the epochs allow
    length.cut(400, done=60)
    assert length.total == 400
    length.cut(10, done=60)
    assert length.total == 60  # a late revision cannot end the run before where it stands
    resumed = RunLength(longest=4000, total=4000)
    resumed.resume(length.budget_steps)
    assert (resumed.total, resumed.budgeted) == (60, True)
    unbudgeted = RunLength(longest=4000, total=4000)
    unbudgeted.resume(None)
    assert (unbudgeted.total, unbudgeted.budgeted) == (4000, False)


def test_a_scaled_backbone_rate_slows_only_the_frame_network(synthetic_split: ReIDSplit) -> None:
    cfg = small_config(Path("unused"), head="pooling", backbone_lr_scale=0.1)
    model = build_model(cfg, synthetic_split.num_train_pids)
    optimizer = make_optimizer(model, cfg, [])
    frame_net, rest = optimizer.param_groups[1], optimizer.param_groups[0]
    assert frame_net["lr"] == pytest.approx(cfg.lr * 0.1) and rest["lr"] == pytest.approx(cfg.lr)
    trained = [p for p in model.parameters() if p.requires_grad]  # BNNeck's bias stays at zero
    assert {id(p) for p in frame_net["params"]} == {
        id(p) for p in model.backbone.parameters() if p.requires_grad
    }
    assert id(model.classifier.weight) in {id(p) for p in rest["params"]}
    count = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    assert count == sum(p.numel() for p in trained)
    # at the default scale there is one group, so checkpoints from before the option still resume
    assert len(make_optimizer(model, small_config(Path("unused")), []).param_groups) == 1


def test_each_epoch_is_kept_when_asked(synthetic_split: ReIDSplit, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(small_config(out, epochs=2, head="pooling", keep_epochs=True, max_steps=7), synthetic_split)
    kept = sorted(p.name for p in out.glob("epoch-*.pt"))
    assert kept == ["epoch-001.pt", "epoch-002.pt"]
    first, last = (torch.load(out / name, weights_only=False) for name in kept)
    assert (first["step"], last["step"]) == (5, 7)
    assert torch.equal(
        last["model"]["bnneck.weight"],
        torch.load(out / "last.pt", weights_only=False)["model"]["bnneck.weight"],
    )
    model, _ = load_model(out / "epoch-001.pt")
    assert not torch.equal(model.state_dict()["bnneck.weight"], last["model"]["bnneck.weight"])


def test_a_published_network_starts_a_run_with_a_fresh_classifier(tmp_path: Path) -> None:
    """`pretrained` writes a one-class checkpoint; a run on real people takes all of it but the
    classifier, which names that run's own identities."""
    from model_export.engine.train import init_weights

    published = build_model(TrainConfig(backbone="mobilenetv2", pretrained=False), num_classes=1)
    with torch.no_grad():
        published.neck.weight.fill_(0.5)
    path = tmp_path / "published.pt"
    torch.save({"model": published.state_dict()}, path)
    net = build_model(TrainConfig(backbone="mobilenetv2", pretrained=False), num_classes=7)
    fresh = net.classifier.weight.clone()
    init_weights(net, path)
    torch.testing.assert_close(net.neck.weight, published.neck.weight)
    torch.testing.assert_close(net.classifier.weight, fresh)
    other = build_model(
        TrainConfig(backbone="mobilenetv2", pretrained=False, embedding_dim=64), num_classes=7
    )
    with pytest.raises(ValueError, match="does not fit"):
        init_weights(other, path)
