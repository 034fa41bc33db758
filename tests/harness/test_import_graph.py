"""The package's static import graph (every ``import`` in every module, function-level ones
included, relative imports resolved): no cycles, and the layers point inward (DESIGN.md:
``harness`` imports no paper; a paper imports no other paper)."""

from __future__ import annotations

import ast
from pathlib import Path

import reproducers

ROOT = Path(reproducers.__file__).parent
PKG = "reproducers"
SHARED = ("harness", "common")  # every other sub-package of reproducers is a paper


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = (PKG, *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of this package that ``name`` imports anywhere in its body."""
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    edges = set()
    for target in found:
        while target and target not in modules:  # `import a.b.c` of a name inside a module
            target = target.rpartition(".")[0]
        if target.startswith(PKG) and target != name:
            edges.add(target)
    return edges


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def _papers() -> set[str]:
    return {d.name for d in ROOT.iterdir() if (d / "__init__.py").is_file()} - set(SHARED)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    assert "reproducers.harness.errors" in graph["reproducers.harness.expected"]  # from .errors
    assert "reproducers.harness.registry" in graph["reproducers.cli"]  # inside a function
    assert "reproducers.vis4mer.data" in graph["reproducers.vis4mer"]  # from . import data


def test_find_cycles_reports_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert find_cycles(import_graph()) == []


def test_harness_imports_no_paper():
    papers = _papers()
    assert {"vis4mer", "svit", "svm"} <= papers
    bad = sorted((m, t) for m, targets in import_graph().items() if _layer(m) == "harness"
                 for t in targets if _layer(t) in papers)
    assert bad == []


def test_no_paper_imports_another_paper():
    graph = import_graph()
    papers = _papers()
    bad = sorted((m, t) for m, targets in graph.items() if _layer(m) in papers
                 for t in targets if _layer(t) in papers and _layer(t) != _layer(m))
    assert bad == []


def test_common_imports_no_paper():
    graph = import_graph()
    papers = _papers()
    bad = sorted((m, t) for m, targets in graph.items() if _layer(m) == "common"
                 for t in targets if _layer(t) in papers)
    assert bad == []
