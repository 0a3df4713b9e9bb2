"""The package map in docs/architecture.md is the rule: which idpctl package may import which,
and no import either way between idpctl and the emulator (cycles: test_import_cycles.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imports import imported, modules

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "idpctl"
EMULATOR = ROOT / "packages" / "idpctl-emulator" / "src" / "idpctl_emulator"
DOC = ROOT / "docs" / "architecture.md"
TOP = "idpctl"


def map_rows(doc: str) -> list[list[str]]:
    """The cells (package, owns, may import) of each row of the doc's package-map table."""
    section = doc.split("## Package map", 1)[1].split("\n## ", 1)[0]
    rows = (
        [c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines()
    )
    return [cells for cells in rows if len(cells) == 3 and cells[0].startswith("`idpctl")]


def package_rules(doc: str) -> dict[str, frozenset[str]]:
    """`package -> packages it may import`, read from the doc's package-map table."""
    rows = {cells[0].split("`")[1].removeprefix(f"{TOP}."): cells[2] for cells in map_rows(doc)}
    return {
        name: frozenset(rows)
        if may == "every package"
        else frozenset(re.findall(r"`(\w+)`", may)) | {name, TOP}
        for name, may in rows.items()
    }


def shared_packages(doc: str) -> frozenset[str]:
    """The shared values of the top row that are packages on disk (`model`): they count as
    the top, so every package may import them and they may import only the top."""
    top = next(cells for cells in map_rows(doc) if cells[0] == f"`{TOP}` (top)")
    return frozenset(
        name for name in re.findall(r"`(\w+)`", top[1]) if (CORE / name / "__init__.py").is_file()
    )


SHARED = shared_packages(DOC.read_text("utf-8"))


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
    known = modules(CORE.parent, "idpctl")
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
    known = modules(root.parent, top)
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
