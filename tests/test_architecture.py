"""The package map, enforced.

Each top-level package and module of ``modelcommons`` may import only the units its
docstring names (README, "How it is built"); imports made only for type hints
(``if TYPE_CHECKING:``) are free, because they run nothing. Lower layers never import
higher ones, so the graph has no cycles between packages, and no module imports
another that imports it back, however long the loop. No module is over 600 lines.

The import graph is grimp's (the library behind import-linter): it reads the sources
without running them, so a lazy import inside a function counts too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

PACKAGE = "modelcommons"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Every layer may import these: configuration, the error shape, the clock, sizes.
FOUNDATION = frozenset({"errors", "settings", "clock", "sizes"})
_API_MAY = {
    "accounts",
    "audit",
    "community",
    "webhooks",
    "db",
    "gitserver",
    "governance",
    "scanning",
    "provenance",
    "search",
    "server",
    "storage",
    "validation",
    "xet",
}

#: What each unit may import besides itself and FOUNDATION.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "settings": frozenset(),
    "sizes": frozenset(),
    "clock": frozenset(),
    "validation": frozenset(),
    "db": frozenset(),
    "audit": frozenset({"db"}),
    "accounts": frozenset({"audit", "db", "validation"}),
    "storage": frozenset({"db", "validation"}),
    "governance": frozenset({"storage", "accounts", "audit", "db", "scanning", "validation"}),
    "search": frozenset({"governance", "storage", "accounts", "db", "validation"}),
    "community": frozenset({"storage", "accounts", "audit", "db", "validation"}),
    "gitserver": frozenset({"community", "storage", "accounts", "db", "validation"}),
    "webhooks": frozenset({"accounts", "db", "validation"}),
    "xet": frozenset({"storage", "accounts", "governance", "db", "validation"}),
    "scanning": frozenset({"storage", "db"}),
    "pipeline": frozenset({"scanning", "governance", "storage", "accounts", "db"}),
    "provenance": frozenset(
        {"governance", "scanning", "storage", "accounts", "audit", "db", "validation"}
    ),
    "jobs": frozenset({"governance", "webhooks"}),
    "hub": frozenset(
        {
            "accounts",
            "audit",
            "db",
            "governance",
            "jobs",
            "pipeline",
            "search",
            "storage",
            "xet",
            "webhooks",
            "scaleout",
        }
    ),
    "scaleout": frozenset({"db", "storage"}),
    "server": frozenset({"accounts", "validation"}),
    "api": frozenset(_API_MAY),
    "web": frozenset(_API_MAY | {"api"}),
    "app": frozenset({"accounts", "api", "hub", "server", "web"}),
    "cli": frozenset(
        {"accounts", "app", "audit", "community", "db", "governance", "hub", "server", "storage"}
        | {"search", "jobs", "validation", "pipeline", "scanning", "provenance", "scaleout"}
    ),
    "__main__": frozenset({"cli"}),
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True)


def unit(module: str) -> str:
    """The top-level package or module a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def imports(graph: grimp.ImportGraph) -> Iterator[tuple[str, str]]:
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            yield importer, imported


def test_every_unit_is_on_the_map(graph: grimp.ImportGraph) -> None:
    units = {unit(m) for m in graph.modules} - {"(package)"}
    assert units == set(MAY_IMPORT), "add new packages to MAY_IMPORT and to the README map"


def test_imports_follow_the_package_map(graph: grimp.ImportGraph) -> None:
    forbidden = []
    for importer, imported in imports(graph):
        a, b = unit(importer), unit(imported)
        if a == b or b in FOUNDATION or b == "(package)":
            continue
        if b not in MAY_IMPORT.get(a, frozenset()):
            forbidden.append(f"{importer} imports {imported} ({a} may not import {b})")
    assert forbidden == [], "\n".join(forbidden)


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(graph.find_modules_directly_imported_by(root)))))
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert strongly_connected(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    fake = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c", "p.d"):
        fake.add_module(name)
    fake.add_import(importer="p.a", imported="p.b")
    fake.add_import(importer="p.b", imported="p.c")
    fake.add_import(importer="p.c", imported="p.a")
    fake.add_import(importer="p.c", imported="p.d")
    assert strongly_connected(fake) == [["p.a", "p.b", "p.c"]]


def test_no_module_over_600_lines() -> None:
    long = []
    for path in sorted(ROOT.rglob("*.py")):
        lines = sum(1 for _ in path.open(encoding="utf-8"))
        if lines > 600:
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert long == []


def test_every_package_says_what_it_holds_and_may_import() -> None:
    missing = []
    for init in sorted(ROOT.rglob("__init__.py")):
        if "migrations" in init.parts:
            continue
        text = init.read_text(encoding="utf-8").lstrip()
        if not text.startswith('"""'):
            missing.append(f"{init.relative_to(ROOT)}: no docstring")
        elif init.parent.parent == ROOT and "May import" not in text:
            missing.append(f"{init.relative_to(ROOT)}: does not say what it may import")
    assert missing == []
