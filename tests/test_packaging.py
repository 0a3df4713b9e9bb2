"""What the wheel ships: every package folder of src/idpctl, the schemas and the example
workflows as data (mapped in by package-dir, never through a symlink)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]


def test_declared_packages_are_the_folders_under_src() -> None:
    on_disk = {
        ".".join(p.parent.relative_to(ROOT / "src").parts)
        for p in (ROOT / "src" / "idpctl").rglob("__init__.py")
    }
    data = {name for name in SETUPTOOLS["package-dir"] if name}
    assert set(SETUPTOOLS["packages"]) == on_disk | data


def test_data_packages_map_to_the_files_people_read() -> None:
    assert SETUPTOOLS["package-dir"] == {
        "": "src",
        "idpctl.schemas": "schemas",
        "idpctl.workflows": "examples/workflows",
    }
    assert any((ROOT / "schemas").glob("*.schema.json"))
    assert any((ROOT / "examples" / "workflows").glob("*.yml"))


def test_no_symlink_in_the_package_sources() -> None:
    for top in (ROOT / "src", ROOT / "packages", ROOT / "schemas", ROOT / "examples"):
        links = [p for p in top.rglob("*") if p.is_symlink()]
        assert not links, links
