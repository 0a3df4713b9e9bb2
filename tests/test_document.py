"""config.document: the located document and the helpers every config module walks it with."""

from __future__ import annotations

from pathlib import Path

import pytest

from idpctl.config.document import (
    base_dir,
    display_path,
    lookup,
    pack,
    problem_at,
    unpack,
    value_at,
)
from idpctl.config.yamlload import load_text
from idpctl.errors import Problem
from idpctl.model import Location


@pytest.mark.parametrize(("line", "column"), [(1, 1), (7, 42), (1_000_000, (1 << 32) - 1)])
def test_a_packed_location_unpacks_to_itself(line: int, column: int) -> None:
    assert unpack(pack(line, column)) == (line, column)


def test_lookup_is_none_where_a_level_is_missing_or_not_a_mapping() -> None:
    data = {"graph": {"url": "https://x"}, "state": "local", "auth": None}
    assert lookup(data, ("graph", "url")) == "https://x"
    assert lookup(data, ("graph", "caBundle")) is None
    assert lookup(data, ("state", "path")) is None  # a string, not a mapping
    assert lookup(data, ("auth", "tokenCache")) is None
    assert lookup(data, ()) is data


def test_value_at_walks_keys_and_indexes_and_refuses_a_missing_one() -> None:
    data = {"providers": [{"kind": "a"}, {"kind": "b"}]}
    assert value_at(data, ("providers", 1, "kind")) == "b"
    with pytest.raises(KeyError):
        value_at(data, ("missing",))


def test_a_problem_is_reported_where_the_value_is() -> None:
    doc = load_text("a:\n  b: 1\n", file="f.yaml")
    assert problem_at(doc.locate(("a", "b")), "bad") == Problem("f.yaml", 2, 6, "bad")
    assert problem_at(Location("g.yaml", 3, 4), "m").severity == "error"


def test_base_dir_is_the_folder_of_the_file_that_set_the_value(tmp_path: Path) -> None:
    doc = load_text("a: 1\n", file=str(tmp_path / "sub" / "idpctl.yaml"))
    assert base_dir(doc, ("a",)) == (tmp_path / "sub").resolve()


def test_display_path_is_relative_inside_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "providers" / "a.yaml") == str(Path("providers/a.yaml"))
    outside = tmp_path.parent / "elsewhere.yaml"
    assert display_path(outside) == str(outside)
