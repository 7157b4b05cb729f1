"""The packages' modules import one way: no cycle, the serving side never reaches the training side,
and `model_export`'s layers are only ever imported from above.

A cycle hides behind `TYPE_CHECKING` or a function-level import and still ties two modules into one
unit that cannot be understood, tested or replaced apart. Every import is read from the source (the
module is not run), whether at the top, inside a function or under `TYPE_CHECKING`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("service", "model_export", "reid_contract", "reid_client")

# model_export's layers, lowest first: a module imports its own layer and those before it, never one
# after it. An entry names a module and everything under it, except a top-level package's name, which
# names its `__init__` alone: a new subpackage that no layer names fails here until it is placed.
MODEL_EXPORT_LAYERS: tuple[tuple[str, ...], ...] = (
    # what a network is and a run's options; the package's own __init__ (its version)
    ("model_export", "model_export.config", "model_export.modeling"),
    # the teachers' targets as training reads them: the cache's table, each teacher's weight per site
    ("model_export.distillation",),
    # datasets on disk -> tracklets -> tensors (with their teachers' targets), packs
    ("model_export.data",),
    # CMC and mAP, thresholds, the peers, `compare`'s scoring
    ("model_export.evaluation",),
    # training, checkpoints, published weights, weight averaging
    ("model_export.engine",),
    # ONNX files written, measured, calibrated and verified
    ("model_export.export",),
    # teachers (peers, our own exported files) run over every crop into the cache
    ("model_export.teaching",),
    # the command line: one module per command, and the module that assembles them
    ("model_export.commands", "model_export.cli", "model_export.__main__"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (a `from package import name` that names a module counts
    as that module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    known = set(files)
    # a package's __init__ re-exporting its modules is not a dependency of those modules on it
    return {
        name: {dep for dep in imports_of(path, known) if not name.startswith(f"{dep}.")}
        for name, path in files.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """The index of the layer naming `module` or a package above it (the longest name wins)."""
    named = [
        (len(p), i)
        for i, layer in enumerate(layers)
        for p in layer
        if module == p or ("." in p and module.startswith(f"{p}."))
    ]
    return max(named)[1] if named else None


def upward_imports(edges: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """`a -> b` for each import of a module `b` in a layer above `a`'s, and `a: no layer` for each
    module of the layers' packages that none of them places."""
    roots = {p.split(".")[0] for layer in layers for p in layer}
    found = []
    for name in sorted(edges):
        if name.split(".")[0] not in roots:
            continue
        own = layer_of(name, layers)
        if own is None:
            found.append(f"{name}: no layer")
            continue
        for dep in sorted(edges[name]):
            theirs = layer_of(dep, layers)
            if theirs is not None and theirs > own:
                found.append(f"{name} -> {dep}")
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert cycles(graph()) == []


def test_the_layer_check_finds_an_upward_import_and_an_unplaced_module() -> None:
    layers = (("p", "p.low"), ("p.high",))
    edges = {"p.low.a": {"p.high.b", "p.low.c"}, "p.high.b": {"p.low.a"}, "p.low.c": set()}
    assert upward_imports(edges, layers) == ["p.low.a -> p.high.b"]
    assert upward_imports({"p.high.b": {"p.low.a"}, "q.x": {"p.high.b"}}, layers) == []
    assert upward_imports({"q": set(), "p": set(), "p.other.x": set()}, layers) == ["p.other.x: no layer"]


def test_model_export_imports_only_its_own_layer_or_below() -> None:
    assert upward_imports(graph(), MODEL_EXPORT_LAYERS) == []


@pytest.mark.parametrize("side", ["service", "reid_contract", "reid_client"])
def test_the_serving_side_never_imports_the_training_side(side: str) -> None:
    reaching = sorted(
        name
        for name, deps in graph().items()
        if name.startswith(side) and any(d.startswith("model_export") for d in deps)
    )
    assert reaching == []
