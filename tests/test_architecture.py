"""The package map in docs/architecture.md is the rule: which idpctl package may import which,
and no import either way between idpctl and the emulator (cycles: test_import_cycles.py)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "idpctl"
EMULATOR = ROOT / "packages" / "idpctl-emulator" / "src" / "idpctl_emulator"
DOC = ROOT / "docs" / "architecture.md"
TOP = "idpctl"


def package_rules(doc: str) -> dict[str, frozenset[str]]:
    """`package -> packages it may import`, read from the doc's package-map table."""
    section = doc.split("## Package map", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`idpctl"):
            package = cells[0].split("`")[1]
            rows[TOP if package == TOP else package.removeprefix("idpctl.")] = cells[2]
    return {
        name: frozenset(rows)
        if may == "every package"
        else frozenset(re.findall(r"`(\w+)`", may)) | {name, TOP}
        for name, may in rows.items()
    }


def shared_packages(doc: str) -> frozenset[str]:
    """The shared values of the top row that are packages on disk (`model`): they count as
    the top, so every package may import them and they may import only the top."""
    section = doc.split("## Package map", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] == f"`{TOP}` (top)":
            return frozenset(
                name
                for name in re.findall(r"`(\w+)`", cells[1])
                if (CORE / name / "__init__.py").is_file()
            )
    return frozenset()


SHARED = shared_packages(DOC.read_text("utf-8"))


def module_name(path: Path, root: Path, top: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((top, *parts))


def modules(root: Path, top: str) -> dict[str, Path]:
    return {module_name(p, root, top): p for p in sorted(root.rglob("*.py"))}


def imported(path: Path, name: str, known: Mapping[str, Path]) -> Iterator[tuple[str, int]]:
    """Every module `path` imports (top-level or inside a function), with its line; `from x
    import y` counts as module `x.y` when that is a module, else as `x`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                child = f"{base}.{alias.name}"
                yield (child if child in known else base), node.lineno


def package_of(module: str) -> str:
    if module == "idpctl.__main__":  # `python -m idpctl` is the command line
        return "cli"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in SHARED:
        return TOP
    if len(parts) == 2 and not (CORE / parts[1]).is_dir():
        return TOP
    return parts[1] if len(parts) > 1 else TOP


def core_imports() -> list[tuple[str, str, int]]:
    known = modules(CORE, "idpctl")
    found = []
    for name, path in known.items():
        for target, line in imported(path, name, known):
            if target == "idpctl" or target.startswith("idpctl."):
                found.append((name, target, line))
    return found


def test_the_map_names_every_package_on_disk() -> None:
    rules = package_rules(DOC.read_text("utf-8"))
    on_disk = {
        p.name for p in CORE.iterdir() if (p / "__init__.py").is_file() and p.name not in SHARED
    } | {TOP}
    assert set(rules) == on_disk


def test_every_import_is_allowed_by_the_package_map() -> None:
    rules = package_rules(DOC.read_text("utf-8"))
    broken = [
        f"{CORE.parent / name.replace('.', '/')}:{line}: {package_of(name)} -> {target}"
        for name, target, line in core_imports()
        if package_of(target) not in rules[package_of(name)]
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("root", "top", "forbidden"),
    [
        (CORE, "idpctl", "idpctl_emulator"),
        (EMULATOR, "idpctl_emulator", "idpctl"),
    ],
)
def test_idpctl_and_the_emulator_never_import_each_other(
    root: Path, top: str, forbidden: str
) -> None:
    known = modules(root, top)
    crossing = [
        f"{path}:{line}: {target}"
        for name, path in known.items()
        for target, line in imported(path, name, known)
        if target == forbidden or target.startswith(f"{forbidden}.")
    ]
    assert not crossing, "\n".join(crossing)
    text = "\n".join(p.read_text("utf-8") for p in known.values())
    assert f'import_module("{forbidden}' not in text


MAX_LINES = 400


@pytest.mark.parametrize("root", [CORE, EMULATOR], ids=["idpctl", "idpctl_emulator"])
def test_no_module_over_400_lines(root: Path) -> None:
    """One concern a module: none grows past MAX_LINES (as `ruff format` writes it)."""
    long = {
        str(path.relative_to(root.parent)): lines
        for path in sorted(root.rglob("*.py"))
        if (lines := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long
