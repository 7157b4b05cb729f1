"""constraints.txt: every package the project installs at one pinned version, and every way of
installing it (scripts/setup.sh for the tests and CI, scripts/serve.sh, both Docker images) taking it,
so that a build next month serves what CI tested. scripts/lock.sh writes it.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints.txt"
PIN = re.compile(r"([a-z0-9]+(?:-[a-z0-9]+)*)==([0-9][0-9a-z.]*)")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        match = PIN.fullmatch(line)
        # name==version only: no ranges, no URLs, no editable lines, no local labels such as +cpu
        assert match, f"constraints.txt: {line!r} is not a plain pin"
        name, version = match.groups()
        assert name not in found, f"{name} pinned twice"
        found[name] = version
    return found


def requirements() -> list[tuple[str, Requirement]]:
    """(where, requirement) for the runtime list and every extra of pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = [("dependencies", Requirement(text)) for text in project["dependencies"]]
    for extra, texts in project["optional-dependencies"].items():
        found += [(f"[{extra}]", Requirement(text)) for text in texts]
    return found


def test_the_file_is_sorted_plain_pins() -> None:
    names = list(pins())
    assert names == sorted(names)
    assert len(names) > 50  # the whole tree, not only the direct requirements


@pytest.mark.parametrize(("where", "requirement"), requirements(), ids=lambda v: str(v))
def test_every_requirement_of_pyproject_is_pinned_within_its_range(
    where: str, requirement: Requirement
) -> None:
    name = canonicalize_name(requirement.name)
    pinned = pins()
    assert name in pinned, f"{requirement} ({where}) has no pin: run `bash scripts/lock.sh`"
    assert requirement.specifier.contains(Version(pinned[name]), prereleases=True), (
        f"{name}=={pinned[name]} is outside {requirement} ({where}): run `bash scripts/lock.sh`"
    )


def test_the_gpu_image_wheel_is_pinned_too() -> None:
    """The GPU image swaps onnxruntime for onnxruntime-gpu, which no extra of the dev venv installs."""
    assert "onnxruntime-gpu" in pins()


def test_the_environment_running_the_tests_has_the_pinned_versions() -> None:
    """setup.sh installed the tested set: a pinned package that is installed has its pin."""
    wrong = {}
    for name, version in pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # onnxruntime-gpu, or an extra this environment lacks
        if Version(installed).public != Version(version).public:
            wrong[name] = f"{installed} installed, {version} pinned"
    assert not wrong, f"run `bash scripts/setup.sh`: {wrong}"


def pip_installs(script: Path) -> list[str]:
    """The script's `pip install` commands, continuation lines joined."""
    text = script.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if re.search(r"\bpip install\b", line)]


@pytest.mark.parametrize(
    ("script", "count"),
    [("scripts/setup.sh", 4), ("scripts/serve.sh", 2), ("deploy/docker/build-venv.sh", 3)],
)
def test_every_install_takes_the_constraints(script: str, count: int) -> None:
    installs = [
        line
        for line in pip_installs(REPO / script)
        if "--upgrade pip" not in line and "--dry-run" not in line
    ]
    assert len(installs) == count, installs
    for line in installs:
        if line.endswith(("--no-deps .", "--no-deps .'")):
            continue  # the project alone: nothing else can come in
        assert "-c constraints.txt" in line, f"{script}: {line}"


@pytest.mark.parametrize("script", ["scripts/setup.sh", "scripts/serve.sh"])
def test_a_new_lock_reinstalls(script: str) -> None:
    """The scripts skip the install while their stamp matches: the stamp covers constraints.txt."""
    stamp = next(line for line in (REPO / script).read_text().splitlines() if line.startswith("stamp="))
    assert "constraints.txt" in stamp


def test_both_images_build_with_the_constraints() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    builders = re.findall(r"^FROM \S+ AS (\S+-builder)$", dockerfile, re.M)
    assert builders == ["cpu-builder", "gpu-builder"]
    assert (
        dockerfile.count("COPY pyproject.toml README.md constraints.txt deploy/docker/build-venv.sh ./") == 2
    )
    assert dockerfile.count('sh build-venv.sh "$ORT_PACKAGE"') == 2


def test_the_refresh_is_a_script_and_documented() -> None:
    lock = (REPO / "scripts" / "lock.sh").read_text()
    assert "--dry-run" in lock and "constraints.txt" in lock
    deployment = (REPO / "docs" / "deployment.md").read_text()
    assert "bash scripts/lock.sh" in deployment and "constraints.txt" in deployment
