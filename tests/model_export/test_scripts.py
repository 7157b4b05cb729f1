"""The recipe scripts call the CLI with options it has: a renamed option fails here, not an hour into
a user's run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from model_export.cli import build_parser

SCRIPTS = Path(__file__).parents[2] / "scripts"
# shell variables that must stand for a valid value; any other is a path or a name
VALUES = {"threads": "2", "epochs": "2", "head": "pooling", "seed": "0", "candidate": "0.5", "alpha": "1"}


def cli_calls(script: Path | str) -> list[list[str]]:
    """Each `$py COMMAND ...` line of a script, or of a script's text (continuations joined), shell
    variables filled in; a function's forwarded arguments ("$@") and redirections left out."""
    text = script.read_text() if isinstance(script, Path) else script
    calls = []
    for line in text.replace("\\\n", " ").splitlines():
        line = re.sub(r"^\s*(\[.*\]\s*\|\|\s*)", "", line)  # `[ -f cache ] || $py teach ...`
        if not line.lstrip().startswith("$py "):
            continue
        line = re.sub(r"\s&\s*$", "", line)  # a run started in the background
        line = re.sub(r"\s\d?>&\d|\s\d?>\s*\S+", "", line)  # >&2, > log 2>&1
        line = line.replace('"$@"', "")
        line = re.sub(r"\"?\$\{\w+\[@\]\}\"?", "", line)  # an array of optional extras ("${augs[@]}")
        line = re.sub(r"\$\{(\w+)[^}]*\}", lambda m: VALUES.get(m.group(1).lower(), "x"), line)  # ${v:0:1}
        filled = re.sub(r"\$(\w+)", lambda m: VALUES.get(m.group(1).lower(), "x"), line)
        calls.append(shlex.split(filled)[1:])
    return calls


@pytest.mark.parametrize("name", ["adapt.sh", "reproduce_2.1.sh", "reproduce_2.2.sh"])
def test_every_cli_call_of_a_recipe_parses(name: str) -> None:
    calls = cli_calls(SCRIPTS / name)
    assert calls, f"no model_export calls found in {name}"
    parser = build_parser()
    for argv in calls:
        parser.parse_args(argv)  # exits (SystemExit) on an unknown option or a bad value


def test_the_adaptation_recipe_learns_from_the_users_crops() -> None:
    parser = build_parser()
    train = next(parser.parse_args(c) for c in cli_calls(SCRIPTS / "adapt.sh") if c[0] == "train")
    teach = next(parser.parse_args(c) for c in cli_calls(SCRIPTS / "adapt.sh") if c[0] == "teach")
    assert train.unlabeled_root is not None and train.teacher_cache == teach.out
    assert train.w_distill > 0 and train.w_distill_sim > 0


def test_the_adaptation_recipe_is_the_default_members_recipe_plus_the_crops() -> None:
    """Its measured gain is against the default's recipe without the crops: the two must stay one
    recipe, or the gain no longer says what the crops are worth."""
    parser = build_parser()
    adapt = next(parser.parse_args(c) for c in cli_calls(SCRIPTS / "adapt.sh") if c[0] == "train")
    member = [
        args
        for args in (parser.parse_args(c) for c in cli_calls(SCRIPTS / "reproduce_2.1.sh") if c[0] == "train")
        if args.backbone == "openvino_ir"
    ]
    assert len(member) == 1
    shared = (
        "dataset",
        "backbone",
        "head",
        "embedding_dim",
        "backbone_lr_scale",
        "w_distill",
        "w_distill_sim",
    )
    shared += ("w_id", "w_frame_id", "w_triplet", "w_siamese", "ids_per_batch", "seq_lens", "warmup_epochs")
    for option in shared:
        assert getattr(adapt, option) == getattr(member[0], option), option
    assert adapt.init_from is not None and member[0].unlabeled_root is None


def test_the_2_1_recipe_is_two_seeds_of_one_fine_tuning_with_a_quarter_of_the_tracklets_small() -> None:
    """2.1.0 is the plain mean of two seeds of one recipe: Intel 0277 fine-tuned from its published
    weights, the frame network at a tenth of the rate, a quarter of the tracklets seen small."""
    parser = build_parser()
    calls = cli_calls(SCRIPTS / "reproduce_2.1.sh")
    trains = [parser.parse_args(c) for c in calls if c[0] == "train"]
    assert len(trains) == 1  # one line in a loop over the seeds
    ours = trains[0]
    assert str(ours.init_from).endswith("published/intel0277.pt")
    assert ours.backbone == "openvino_ir" and ours.head == "pooling" and ours.backbone_lr_scale == 0.1
    assert ours.aug_lowres == 0.25 and ours.epochs == 2 and ours.teacher_cache is not None
    soup = next(parser.parse_args(c) for c in calls if c[0] == "interpolate")
    assert soup.alpha == 1.0 and len(soup.checkpoints) == 2
    text = (SCRIPTS / "reproduce_2.1.sh").read_text()
    assert "for seed in 0 1" in text and '--seed "$seed"' in text


def test_the_input_size_is_two_numbers_or_the_backbones_own() -> None:
    from model_export.commands.train import config_from

    parser = build_parser()
    base = ["train", "--backbone", "openvino_ir"]
    assert config_from(parser.parse_args(base)).input_size is None
    cfg = config_from(parser.parse_args([*base, "--input-size", "224", "112"]))
    assert cfg.input_size == (224, 112)
    assert type(cfg).from_json(cfg.to_json() | {"input_size": [224, 112]}).input_size == (224, 112)
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--input-size", "224"])


def _final_block(text: str) -> tuple[str, str]:
    """reproduce_2.2.sh split into its FINAL stage (`if [ -n "${FINAL:-}" ]; then ... fi`) and the rest."""
    start = text.index('if [ -n "${FINAL:-}" ]; then')
    end = text.index("\nfi\n", start) + len("\nfi\n")
    return text[start:end], text[:start] + text[end:]


def test_the_2_2_selection_never_looks_at_the_test_sets() -> None:
    """docs/model.md's rule: candidates are trained with a site held out and scored on it alone; no
    call of the selection exports figures measured on VIPeR or PRID or compares on them. Only the
    final stage, which trains the chosen candidate and stops, measures them, once, through /embed."""
    parser = build_parser()
    text = (SCRIPTS / "reproduce_2.2.sh").read_text()
    final, selection = _final_block(text)
    calls = [parser.parse_args(c) for c in cli_calls(selection)]
    exports = [a for a in calls if a.command == "export"]
    compares = [a for a in calls if a.command == "compare"]
    assert exports and compares
    assert all(a.no_evaluate for a in exports)
    assert all(not {"viper", "prid", "cuhk03"} & set(a.sets) for a in compares)
    folds = [line for line in selection.splitlines() if line.strip().startswith("train_recipe ")]
    assert folds and all("--held-out-site" in line for line in folds)
    # the final stage: one measurement of the test sets, through a running service, then it stops
    measured = [a for a in (parser.parse_args(c) for c in cli_calls(final)) if a.command == "compare"]
    assert len(measured) == 1 and measured[0].service and {"viper", "prid"} <= set(measured[0].sets)
    assert final.rstrip().removesuffix("fi").rstrip().endswith("exit 0")
    # and every fold trains 2.1.0's recipe, with only the candidate's own changes
    (recipe,) = [parser.parse_args(c) for c in cli_calls(SCRIPTS / "reproduce_2.1.sh") if c[0] == "train"]
    (fold,) = [a for a in calls if a.command == "train"]
    # one cache of three teachers serves every candidate; A names 2.1.0's two (the same vectors)
    free = ("threads", "out_dir", "held_out_site", "teacher_cache", "teachers", "init_from", "seed")
    assert {k for k in vars(recipe) if getattr(fold, k) != getattr(recipe, k) and k not in free} == set()
