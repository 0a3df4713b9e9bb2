"""No import cycle among idpctl's own modules (docs/architecture.md).

The graph is read from the source with `ast`, not by importing: every `import` and
`from ... import` counts, at the top of a module, inside a function or under
`if TYPE_CHECKING:`, because an import moved into a function to dodge a cycle is still one.
`from idpctl import x` means the module `x` when there is one. Importing `a.b.c` runs the
`__init__` of `a.b` too, so that package is an edge as well, unless the importer lives inside
it (then it is already running). Nested packages are walked; the Graph emulator is not part
of the core (its own distribution, `packages/idpctl-emulator`) and is not under src/idpctl.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path

from imports import SRC, imported, modules


def import_graph(known: Mapping[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {module it imports: first line}; the packages an import runs included."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges: dict[str, int] = {}
        for target, line in imported(path, name, known):
            for runs in _runs(target, importer=name):
                if runs in known and runs != name:
                    edges.setdefault(runs, line)
        graph[name] = edges
    return graph


def _runs(target: str, *, importer: str) -> list[str]:
    """What importing `target` runs: it and each package above it, less those the importer
    is inside (already running when its import statement is reached)."""
    parts = target.split(".")
    chain = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return [m for m in chain if not (importer == m or importer.startswith(m + ".")) or m == target]


def cycles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules, as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(_one_cycle(graph, set(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _one_cycle(graph: Mapping[str, Mapping[str, int]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*paths[node], start]
            if nxt in group and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError("a strongly connected group always holds a cycle")


def describe(
    cycle: list[str],
    graph: Mapping[str, Mapping[str, int]],
    known: Mapping[str, Path],
    *,
    root: Path = SRC.parent,
) -> str:
    """The cycle, then each step with the file (from `root`) and line of its import."""
    steps = [
        f"{a} -> {b} ({known[a].relative_to(root)}:{graph[a][b]})"
        for a, b in itertools.pairwise(cycle)
    ]
    return "import cycle: " + " -> ".join(cycle) + "\n    " + "\n    ".join(steps)


def test_the_core_has_no_import_cycle() -> None:
    known = modules()
    graph = import_graph(known)
    found = cycles(graph)
    assert not found, "\n".join(describe(c, graph, known) for c in found)


def test_the_graph_is_read_from_the_whole_core() -> None:
    """The walk sees the nested packages and function-local imports it must count."""
    known = modules()
    graph = import_graph(known)
    assert "idpctl.secrets.sources.vault" in known and "idpctl.cli.plan" in known
    assert not any(name.startswith("idpctl_emulator") for name in known)
    assert "idpctl.secrets.sources.keyvault" in graph["idpctl.secrets.context"]  # in a function
    assert "idpctl.secrets.sources" in graph["idpctl.secrets.context"]


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_cycle_is_found_wherever_it_hides(tmp_path: Path) -> None:
    """A function-local `from idpctl import module`; relative and TYPE_CHECKING imports
    inside a nested package; a cycle closed by the `__init__` an import runs: each is found
    and printed with the path through it."""
    _write(
        tmp_path,
        {
            "idpctl/__init__.py": "",
            "idpctl/a.py": "def f():\n    from idpctl import b\n",
            "idpctl/b.py": "from idpctl.a import f\n",
            "idpctl/render/__init__.py": "",
            "idpctl/render/text.py": "from .markdown import m\n",
            "idpctl/render/markdown.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from idpctl.render.text import t\n",
            "idpctl/state/__init__.py": "from idpctl.state.local import Store\n",
            "idpctl/state/local.py": "from idpctl.c import x\n",
            "idpctl/c.py": "from idpctl.state import codec\n",
            "idpctl/state/codec.py": "",
        },
    )
    known = modules(tmp_path)
    graph = import_graph(known)
    found = sorted(cycles(graph))
    assert found == [
        ["idpctl.a", "idpctl.b", "idpctl.a"],
        ["idpctl.c", "idpctl.state", "idpctl.state.local", "idpctl.c"],
        ["idpctl.render.markdown", "idpctl.render.text", "idpctl.render.markdown"],
    ]
    assert (
        describe(found[0], graph, known, root=tmp_path).splitlines()[1].strip()
        == "idpctl.a -> idpctl.b (idpctl/a.py:2)"
    )


def test_a_package_importing_its_own_modules_is_no_cycle(tmp_path: Path) -> None:
    """`pkg/__init__` re-exporting `pkg.mod`, and `pkg.mod` importing a sibling, is fine: a
    module inside a package never re-runs the package's `__init__`."""
    _write(
        tmp_path,
        {
            "idpctl/__init__.py": "",
            "idpctl/graph/__init__.py": "from idpctl.graph.client import Client\n",
            "idpctl/graph/client.py": "from idpctl.graph.batch import run\n",
            "idpctl/graph/batch.py": "from idpctl import model\n",
            "idpctl/model.py": "",
        },
    )
    assert cycles(import_graph(modules(tmp_path))) == []
