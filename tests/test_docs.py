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


def test_the_benchmark_sections_are_numbered_in_order_and_every_reference_exists() -> None:
    text = (REPO / "docs" / "benchmarks.md").read_text()
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, re.M)]
    assert numbers == list(range(1, len(numbers) + 1))
    cited = set()
    for path in [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        *(REPO / "docs").glob("*.md"),
        *REPO.glob("service/**/*.py"),
    ]:
        for n in re.findall(r"benchmarks\.md\)?,? section (\d+)", path.read_text()):
            cited.add((path.name, int(n)))
    assert cited, "no reference found: the pattern is wrong"
    assert [c for c in cited if c[1] not in numbers] == []


def test_the_model_page_keeps_the_outcome_of_2_2_and_the_changelog_its_runs() -> None:
    page = (REPO / "docs" / "model.md").read_text()
    last = page.split("\n## ")[-1]
    assert last.startswith("2.2's selection: 2.1.0 stays")
    assert len(last.splitlines()) <= 20 and "|" not in last  # a paragraph, not the run log
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert "### 2.2's selection: the rule and the runs" in changelog
    assert "| A (2.1.0's recipe), the control |" in changelog
    readme = (REPO / "README.md").read_text()
    assert "docs/model.md#22s-selection-210-stays" in readme


def test_the_readme_curl_calls_end_their_answer_with_a_newline() -> None:
    calls = [line for line in (REPO / "README.md").read_text().splitlines() if re.match(r"\s*curl ", line)]
    assert calls
    for line in calls:
        assert "-w '\\n'" in line or "json.tool" in line or line.rstrip().endswith("; echo"), line


def test_the_package_description_names_the_network_that_serves() -> None:
    import tomllib

    description = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["description"]
    assert "pooled over time" in description  # 2.1.0; the GRU-RCN is the option, not the network
    assert "a GRU-RCN network" not in description


def test_the_model_cards_figure_is_written_as_the_readme_writes_figures() -> None:
    """The README's table is through /embed; /model and the page give the file's own figure, which
    the README names too, at the same three decimals (0.920, not 92.0% beside 0.915)."""
    from reid_contract import ModelMetadata, read_metadata_props
    from service.core.config import DEFAULT_MODEL

    meta = ModelMetadata.from_props(read_metadata_props(DEFAULT_MODEL))
    assert meta.evaluation is not None
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"CUHK03 {meta.evaluation.rank1:.3f}" in readme
    page = (REPO / "service" / "static" / "app.js").read_text()
    assert "rank-1 ${fig(ev.rank1)}" in page and "const fig = (x) => x.toFixed(3);" in page


def test_the_deployment_page_gives_the_command_of_each_compose() -> None:
    text = (REPO / "docs" / "deployment.md").read_text()
    assert "docker compose up -d --wait" in text  # v2
    assert re.search(r"^docker-compose up -d +#", text, re.M)  # v1: no --wait
    assert "1.29" in text and "exits 0" in text
