"""The package layout: imports point one way (experiments, benchmarks -> twobranch -> clrnet ->
data_prep) and no modules import each other in a cycle.

The import graph is read from the source (``ast``), so the test sees every import, including the
ones inside functions that run only on some code paths.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Lower rank = lower layer; a package may import only packages of a lower or equal rank.
RANK = {"data_prep": 0, "clrnet": 1, "twobranch": 2, "experiments": 3, "benchmarks": 3}
#: Packages that may import each other at the top layer (none).
PEERS: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for package in RANK:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an import names (longest known prefix), or None for third parties."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _imports(module: str, path: Path, *, top_level_only: bool) -> set[str]:
    """Project modules that ``module`` imports (anywhere, or only at module scope)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = list(ast.walk(tree))
    if top_level_only:  # module scope, including inside if/try blocks, excluding functions
        stack, nodes = list(tree.body), []
        while stack:
            node = stack.pop()
            nodes.append(node)
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                stack.extend(ast.iter_child_nodes(node))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [_resolve(a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import sub" imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else _resolve(base)
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target:  # importing a.b.c runs a/__init__ and a/b/__init__ first
                if target in MODULES and target != module:
                    found.add(target)
                target = target.rpartition(".")[0]
    return found


def test_packages_import_only_downwards():
    bad = []
    for module, path in MODULES.items():
        src = module.split(".")[0]
        for target in _imports(module, path, top_level_only=False):
            dst = target.split(".")[0]
            if dst != src and RANK[dst] >= RANK[src] and frozenset((src, dst)) not in PEERS:
                bad.append(f"{module} imports {target}")
    assert not bad, "imports against the order data_prep <- clrnet <- twobranch <- " \
                    "experiments/benchmarks:\n" + "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_level_import_cycles():
    graph = {m: _imports(m, p, top_level_only=True) for m, p in MODULES.items()}
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    for module, deps in graph.items():
        graph[module] = {d for d in deps if not module.startswith(d + ".")}
    cycles = _cycles(graph)
    assert not cycles, "module-level import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("text, expected", [
    ("from clrnet import registry", {"clrnet", "clrnet.registry"}),
    ("import twobranch.models", {"twobranch", "twobranch.models"}),
    ("from clrnet.strategies.data import DataSpec",
     {"clrnet", "clrnet.strategies", "clrnet.strategies.data"}),
])
def test_the_reader_resolves_imports(tmp_path, text, expected):
    path = tmp_path / "m.py"
    path.write_text(text + "\n")
    assert _imports("experiments.fake", path, top_level_only=True) == expected


def test_the_order_check_can_fail(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    import experiments.protocol\n")
    assert _imports("clrnet.fake", path, top_level_only=False) == {"experiments",
                                                                    "experiments.protocol"}
    assert _imports("clrnet.fake", path, top_level_only=True) == set()
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
