"""How the tests read idpctl's imports from the source with `ast`, without importing it:
every `import` and `from ... import`, at the top of a module, inside a function or under
`if TYPE_CHECKING:`. Used by the package-map test (test_architecture.py) and the cycle test
(test_import_cycles.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["SRC", "imported", "modules"]

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "idpctl"


def modules(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `package` under `src`."""
    found: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module an ImportFrom names, relative imports resolved against `package`."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported(path: Path, name: str, known: Mapping[str, Path]) -> Iterator[tuple[str, int]]:
    """(module, line) for every module the module `name` (at `path`) imports, anywhere; `from
    x import y` names the module `x.y` when it is one of `known`, else `x`."""
    package = _package_of(name, path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            children = [f"{module}.{alias.name}" for alias in node.names]
            yield from ((child, node.lineno) for child in children if child in known)
            if any(child not in known for child in children):  # a name `module` defines
                yield module, node.lineno
