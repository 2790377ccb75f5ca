"""The import graph of the deployed code: every module under chalicelib/ (and app.py), parsed with
``ast`` so module-level AND function-level (lazy) imports count.

- no module imports ``local`` (the dev stack is not on the production path);
- no domain imports another domain's ``dal`` (it goes through the owner's public port:
  ``chalicelib/<owner>/{graph,members,writes,repositories}.py`` …);
- the domain-level graph (``functions.<a>`` → ``functions.<b>``, ignoring core) has no cycle
  (cross-domain services that would close one are plugged in by app.py: ``*/wiring.py``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FUNCTIONS = ROOT / "chalicelib"


def _modules() -> list[Path]:
    return sorted(FUNCTIONS.rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every module name ``path`` imports (``from a.b import c`` yields ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def _domain(path: Path) -> str | None:
    parts = path.relative_to(FUNCTIONS).parts
    return parts[0] if len(parts) > 1 else None


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in _modules():
        here = _domain(path)
        for name, _ in _imports(path):
            parts = name.split(".")
            is_domain = len(parts) > 1 and parts[0] == "chalicelib" and (FUNCTIONS / parts[1]).is_dir()
            if here and is_domain and parts[1] not in (here, "core"):
                edges.setdefault(here, set()).add(parts[1])
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (``[a, b, a]``), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_deployed_module_imports_local() -> None:
    # Given every module of the deployed code (chalicelib/ and app.py)
    # Then none of them imports the dev-only local/ package, even lazily
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in [*_modules(), ROOT / "app.py"]
        for name, line in _imports(path)
        if name == "local" or name.startswith("local.")
    ]
    assert offenders == []


def test_no_domain_imports_another_domains_dal() -> None:
    # Given every module of every domain
    # Then none imports functions.<other>.dal (the owner's public port is the way in)
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _modules()
        for name, line in _imports(path)
        if (parts := name.split("."))[0] == "chalicelib"
        and len(parts) > 2
        and parts[2] == "dal"
        and parts[1] != _domain(path)
    ]
    assert offenders == []


def test_the_domain_graph_has_no_cycle() -> None:
    # Given the domain-level import graph (core left out: everyone may use it)
    edges = _edges()
    # Then it is acyclic
    assert _cycle(edges) is None, f"import cycle: {' → '.join(_cycle(edges) or [])}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The checker itself: a graph with a cycle is reported, a DAG is not
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_core_imports_no_domain() -> None:
    # Given the shared layer (chalicelib/core), which every domain imports
    # Then it imports no domain, even lazily (a domain service it needs is plugged in by app.py)
    core = FUNCTIONS / "core"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted(core.rglob("*.py"))
        for name, line in _imports(path)
        if (parts := name.split("."))[0] == "chalicelib"
        and len(parts) > 1
        and parts[1] != "core"
        and (FUNCTIONS / parts[1]).is_dir()
    ]
    assert offenders == []
