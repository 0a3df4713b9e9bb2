"""Declared dependencies match the imports: every third-party module the code imports is declared
in the right place of pyproject.toml, and nothing is declared that no code imports or runs.

- `src/` (each distribution's own code) may import only its `[project].dependencies`.
- `tests/`, `benchmarks/` and the Python that `scripts/` run may import those plus the `test`
  extra (scripts/bootstrap installs `.[test]` for all three).
- Every core dependency is imported by `src/`; every test-extra dependency is imported by the
  tests, benchmarks or scripts, or is a tool listed in TOOLS with the file that runs it.

Imports are read with `ast` (top-level, lazy and TYPE_CHECKING ones alike), plus the constant
names given to `importlib.import_module` and `pytest.importorskip`, plus `python -c '...'`
snippets in scripts/. Import names map to distribution names through IMPORT_TO_DIST (yaml ->
pyyaml); the installed metadata checks that table.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# import name -> distribution name, where the default (lower case, "_" -> "-") is wrong
IMPORT_TO_DIST = {
    "yaml": "pyyaml",
    "jwt": "pyjwt",
    "_pytest": "pytest",
    "xdist": "pytest-xdist",
    "pytest_cov": "pytest-cov",
    "pytest_timeout": "pytest-timeout",
    "idpctl_emulator": "idpctl-emulator",
}

# test-extra distributions used as commands or pytest plugins, not imported: where each is used
TOOLS = {
    "pytest-timeout": ("pyproject.toml", "timeout = "),
    "pytest-xdist": ("scripts/test", "pytest -n "),
    "pytest-cov": ("scripts/test", "--cov=idpctl"),
    "ruff": ("scripts/test", ".venv/bin/ruff "),
    # the type checker; pinned so every machine reports the same errors; `make test` runs it
    "mypy": ("scripts/test", ".venv/bin/mypy"),
    "types-pyyaml": ("pyproject.toml", "[tool.mypy]"),
    "types-requests": ("pyproject.toml", "[tool.mypy]"),
    "types-jsonschema": ("pyproject.toml", "[tool.mypy]"),
}

TEST_AREAS = ("tests", "benchmarks", "scripts")
_SNIPPET = re.compile(r"""python3?\s+-c\s+(?:'([^']*)'|"([^"]*)")""")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Use:
    module: str  # top-level import name
    where: str  # path:line


def normalise(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_of(module: str) -> str:
    return normalise(IMPORT_TO_DIST.get(module, module))


def requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = _NAME.match(requirement)
        assert match, f"unreadable requirement {requirement!r} in pyproject.toml"
        names.add(normalise(match.group(1)))
    return names


def imports_in_source(text: str, where: str) -> Iterator[Use]:
    tree = ast.parse(text, where)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Use(alias.name.split(".")[0], f"{where}:{node.lineno}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Use(node.module.split(".")[0], f"{where}:{node.lineno}")
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            name = node.args[0].value  # type: ignore[attr-defined]
            yield Use(str(name).split(".")[0], f"{where}:{node.lineno}")


def _dynamic_import(node: ast.Call) -> bool:
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return (
        called in ("import_module", "importorskip")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def python_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.py")):
        if "node_modules" not in path.parts and ".venv" not in path.parts:
            yield path


@functools.cache
def imports_under(folder: Path) -> list[Use]:
    uses: list[Use] = []
    for path in python_files(folder):
        uses.extend(imports_in_source(path.read_text(encoding="utf-8"), rel(path)))
    return uses


def script_imports() -> list[Use]:
    """Imports of the Python that scripts/ run: *.py files and `python -c '...'` snippets."""
    uses = list(imports_under(ROOT / "scripts"))
    for path in sorted((ROOT / "scripts").iterdir()):
        if path.suffix == ".py" or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _SNIPPET.finditer(line):
                code = match.group(1) or match.group(2)
                uses.extend(imports_in_source(code, f"{rel(path)}:{number}"))
    return uses


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Distribution:
    """A pyproject.toml of this repository and the code it ships."""

    folder: Path
    name: str
    core: set[str]
    extras: dict[str, set[str]]

    @property
    def src(self) -> Path:
        return self.folder / "src"

    def packages(self) -> set[str]:
        if not self.src.is_dir():
            return set()
        return {
            p.stem if p.suffix == ".py" else p.name
            for p in self.src.iterdir()
            if p.suffix == ".py" or (p / "__init__.py").is_file()
        }


def load(folder: Path) -> Distribution:
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = {
        extra: requirement_names(reqs)
        for extra, reqs in project.get("optional-dependencies", {}).items()
    }
    return Distribution(
        folder,
        normalise(project["name"]),
        requirement_names(project.get("dependencies", [])),
        extras,
    )


@functools.cache
def distributions() -> list[Distribution]:
    folders = [ROOT] + [p.parent for p in sorted(ROOT.glob("packages/*/pyproject.toml"))]
    return [load(folder) for folder in folders]


@functools.cache
def repo_packages() -> dict[str, str]:
    """Import name -> distribution name for every package this repository ships."""
    return {package: dist.name for dist in distributions() for package in dist.packages()}


def local_modules() -> set[str]:
    """Modules the tests and benchmarks import from their own folders (conftest's sys.path)."""
    names = {"benchmarks"}
    for folder in (ROOT / "tests", ROOT / "benchmarks"):
        names |= {p.stem for p in folder.glob("*.py")}
        names |= {p.parent.name for p in folder.glob("*/__init__.py")}
    return names


def declared_as(module: str) -> str:
    """The distribution a module comes from: one of this repository's, or dist_of's answer."""
    return normalise(repo_packages().get(module) or dist_of(module))


def third_party(uses: list[Use], local: set[str]) -> list[Use]:
    return [
        use for use in uses if use.module not in sys.stdlib_module_names and use.module not in local
    ]


def src_problems(dist: Distribution) -> list[str]:
    """A distribution's own code imports only its core dependencies, and uses all of them."""
    own = dist.packages()
    uses = third_party(imports_under(dist.src), own)
    problems = [
        f"{use.where} imports {use.module}: declare `{declared_as(use.module)}`"
        f" in [project].dependencies of {rel(dist.folder / 'pyproject.toml')}"
        for use in uses
        if declared_as(use.module) not in dist.core
    ]
    imported = {declared_as(use.module) for use in uses}
    problems += [
        f"{rel(dist.folder / 'pyproject.toml')} declares `{name}` in "
        f"[project].dependencies but nothing under {rel(dist.src)} imports it"
        for name in sorted(dist.core - imported)
    ]
    return problems


@functools.cache
def area_uses() -> list[Use]:
    uses = imports_under(ROOT / "tests") + imports_under(ROOT / "benchmarks") + script_imports()
    return third_party(uses, local_modules() | set(repo_packages()))


def area_problems(root: Distribution, uses: list[Use]) -> list[str]:
    """Tests, benchmarks and scripts import only core or test-extra packages."""
    allowed = root.core | root.extras.get("test", set())
    return [
        f"{use.where} imports {use.module}: declare `{dist_of(use.module)}` in the test extra"
        for use in uses
        if dist_of(use.module) not in allowed
    ]


def repo_uses() -> set[str]:
    """This repository's own distributions (the emulator) the tests import."""
    uses = imports_under(ROOT / "tests") + imports_under(ROOT / "benchmarks")
    return {normalise(repo_packages()[use.module]) for use in uses if use.module in repo_packages()}


def unused_test_extra(root: Distribution, uses: list[Use]) -> list[str]:
    imported = {dist_of(use.module) for use in uses} | repo_uses()
    problems = []
    for name in sorted(root.extras.get("test", set()) - imported):
        tool = TOOLS.get(name)
        if tool is None:
            problems.append(
                f"the test extra declares `{name}` but nothing under "
                f"{', '.join(TEST_AREAS)} imports it (nor is it in TOOLS)"
            )
        elif tool[1] not in (ROOT / tool[0]).read_text(encoding="utf-8"):
            problems.append(f"`{name}` is in TOOLS as used by {tool[0]}, which no longer uses it")
    return problems


@pytest.mark.parametrize("dist", distributions(), ids=lambda d: d.name)
def test_src_imports_match_core_dependencies(dist: Distribution) -> None:
    problems = src_problems(dist)
    assert not problems, "\n".join(problems)


def test_tests_benchmarks_and_scripts_import_only_declared_packages() -> None:
    problems = area_problems(distributions()[0], area_uses())
    assert not problems, "\n".join(problems)


def test_every_test_extra_dependency_is_used() -> None:
    problems = unused_test_extra(distributions()[0], area_uses())
    assert not problems, "\n".join(problems)


def test_import_names_map_to_the_installed_distributions() -> None:
    """IMPORT_TO_DIST is right for every imported module that is installed here."""
    installed = importlib.metadata.packages_distributions()
    local = local_modules() | set(repo_packages())
    uses = third_party(
        area_uses() + [u for d in distributions() for u in imports_under(d.src)], local
    )
    wrong = sorted(
        {
            f"{use.module} -> {dist_of(use.module)}, installed as {sorted(installed[use.module])}"
            for use in uses
            if use.module in installed
            and dist_of(use.module) not in {normalise(d) for d in installed[use.module]}
        }
    )
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_an_undeclared_and_a_misplaced_import() -> None:
    """The scanner sees lazy and dynamic imports, and names the declaration a stray one needs."""
    code = "def f():\n    import requests\n    importlib.import_module('deepdiff.diff')\n"
    assert [u.module for u in imports_in_source(code, "x.py")] == ["requests", "deepdiff"]
    dist = Distribution(ROOT, "example", {"pyyaml"}, {"test": {"pytest"}})
    assert area_problems(dist, [Use("left_pad", "tests/x.py:1")]) == [
        "tests/x.py:1 imports left_pad: declare `left-pad` in the test extra"
    ]
