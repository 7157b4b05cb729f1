"""The front page and the model's docs stay short, current and runnable (issue 32's bar).

Length limits keep the research record in CHANGELOG.md and git history, not on the pages a newcomer
reads first; every script, file and document the README names must exist in the tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("page", "limit"), [("README.md", 150), ("docs/model.md", 300), ("models/README.md", 120)]
)
def test_the_newcomers_pages_are_short(page: str, limit: int) -> None:
    lines = (REPO / page).read_text().splitlines()
    assert len(lines) <= limit, f"{page} has {len(lines)} lines; at most {limit}"


def test_models_holds_the_default_and_the_papers_network_only() -> None:
    from service.core.config import DEFAULT_MODEL

    shipped = sorted(p.name for p in (REPO / "models").glob("*.onnx"))
    assert shipped == sorted([DEFAULT_MODEL.name, "grurcn-mobilenetv2-cuhk03.onnx"])


def test_every_path_the_readme_names_exists() -> None:
    text = (REPO / "README.md").read_text()
    named = set(re.findall(r"(?<![\w./-])((?:scripts|docs|models|benchmarks|deploy)/[\w./-]+\.\w+)", text))
    named |= {m for m in re.findall(r"\]\(([^)#]+)\)", text) if not m.startswith("http")}
    assert named, "the README names no file: the pattern is wrong"
    missing = sorted(p for p in named if not (REPO / p).exists())
    assert missing == []


def test_the_first_screen_says_how_good_the_default_is_and_under_which_terms() -> None:
    from reid_contract import ModelMetadata, read_metadata_props
    from service.core.config import DEFAULT_MODEL

    first_screen = "\n".join((REPO / "README.md").read_text().splitlines()[:45])
    meta = ModelMetadata.from_props(read_metadata_props(DEFAULT_MODEL))
    assert f"`{meta.name}`" in first_screen  # the name the API gives it
    assert "research use only" in first_screen and "REID_REDIS_URL" in first_screen
    assert re.search(r"\| CUHK03 .*\| VIPeR|\| VIPeR", first_screen, re.S), "no accuracy table"


def test_the_model_page_says_how_to_retrain_the_default_in_its_first_third() -> None:
    lines = (REPO / "docs" / "model.md").read_text().splitlines()
    assert any("scripts/reproduce_2.1.sh" in line for line in lines[: len(lines) // 3])


def test_the_cli_is_a_short_menu() -> None:
    from model_export.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if a.dest == "command"]
    assert set(sub.choices) <= {  # type: ignore[union-attr]
        "train",
        "evaluate",
        "export",
        "verify",
        "compare",
        "teach",
        "pretrained",
        "interpolate",
        "calibrate",
        "probe",
        "quantize",
        "pack",
    }
