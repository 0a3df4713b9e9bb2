"""The located YAML loader: values, locations, and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from idpctl.config.document import display_path
from idpctl.config.yamlload import MAX_BYTES, DocumentProblems, load_file, load_text
from idpctl.errors import ConfigError
from idpctl.model import Location


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(text, file="f.yaml")
    return [str(p) for p in info.value.problems]


def test_values_and_locations() -> None:
    doc = load_text("a: 1\nb:\n  - x\n  - {c: d}\n", file="f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": "d"}]}
    assert doc.locate(("a",)) == Location("f.yaml", 1, 4)
    assert doc.locate(("a",), key=True) == Location("f.yaml", 1, 1)
    assert doc.locate(("b", 1, "c")) == Location("f.yaml", 4, 9)
    assert doc.locate(("b", 1, "c"), key=True) == Location("f.yaml", 4, 6)


def test_missing_path_is_located_at_nearest_ancestor() -> None:
    doc = load_text("a:\n  b: 1\n", file="f.yaml")
    assert doc.locate(("a", "nope", "deeper")) == doc.locate(("a",))
    assert load_text("", file="e.yaml").locate(("x",)) == Location("e.yaml", 1, 1)


def test_yaml_1_2_core_scalars() -> None:
    doc = load_text(
        "on: on\nno: no\nt: true\nf: False\nn: ~\ni: 0x1F\no: 0o17\n"
        "d: 2024-01-01\nx: '.inf'\ns: '1'\nv: 1.5\n"
    )
    assert doc.data == {
        "on": "on",
        "no": "no",
        "t": True,
        "f": False,
        "n": None,
        "i": 31,
        "o": 15,
        "d": "2024-01-01",
        "x": ".inf",
        "s": "1",
        "v": 1.5,
    }


def test_values_no_setting_or_field_can_take_are_located() -> None:
    """Non-finite numbers, a NUL and an absurd length are refused where they are, and the
    document read so far is kept for callers that report more (validate)."""
    text = (
        'a: .inf\nb: -.Inf\nc: .nan\nd: 1e999\ne: 1e308\nf: "x\\0y"\n'
        f"g: {'x' * 16_385}\nh: {'x' * 16_384}\n"
    )
    assert _problems(text) == [
        "f.yaml:1:4: not a finite number (.inf, .nan and numbers past 1e308 are not allowed)",
        "f.yaml:2:4: not a finite number (.inf, .nan and numbers past 1e308 are not allowed)",
        "f.yaml:3:4: not a finite number (.inf, .nan and numbers past 1e308 are not allowed)",
        "f.yaml:4:4: not a finite number (.inf, .nan and numbers past 1e308 are not allowed)",
        "f.yaml:6:4: a NUL character (\\0) is not allowed in a value",
        "f.yaml:7:4: value is 16,385 characters long (at most 16,384)",
    ]
    with pytest.raises(DocumentProblems) as info:
        load_text(text, file="f.yaml")
    assert info.value.document.data["e"] == 1e308 and len(info.value.document.data["h"]) == 16_384


def test_bom_is_accepted() -> None:
    doc = load_text("\ufeffa: 1\n", file="f.yaml")
    assert doc.data == {"a": 1}
    assert doc.locate(("a",)) == Location("f.yaml", 1, 4)


def test_duplicate_keys_are_all_reported() -> None:
    assert _problems("a: 1\nb: 2\na: 3\nb: 4\n") == [
        "f.yaml:3:1: duplicate key 'a' (first at line 1)",
        "f.yaml:4:1: duplicate key 'b' (first at line 2)",
    ]


def test_tab_indentation_is_located() -> None:
    assert _problems("a:\n\tb: 1\n") == [
        "f.yaml:2:1: a tab character is not allowed here: YAML indents with spaces (quote a "
        "value that holds a tab)"
    ]


def test_tab_inside_a_quoted_value_is_fine() -> None:
    assert load_text("a: \"x\\ty\"\nb: 'x\ty'\n").data == {"a": "x\ty", "b": "x\ty"}


def test_merge_keys_and_aliases() -> None:
    doc = load_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: *b\n")
    assert doc.data["c"] == {"x": 1, "y": 3}
    assert doc.data["d"] == {"x": 1, "y": 2}


def test_alias_bomb_stops_early() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for name, prev in zip("bcdefghij", "abcdefghi", strict=True):
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    (problem,) = _problems(text)
    assert "alias bomb" in problem


def test_recursive_alias_and_deep_nesting() -> None:
    assert "nested deeper" in _problems("a: &a [*a]\n")[0]
    assert "nested deeper than 64" in _problems("[" * 100 + "]" * 100)[0]
    assert load_text("[" * 60 + "]" * 60).data is not None


@pytest.mark.parametrize(
    "text",
    ["a: !!python/object:os.system x\n", "a: !vault x\n", "a: !!binary aGk=\n", "a: !!set {x}\n"],
)
def test_tags_beyond_plain_values_are_refused(text: str) -> None:
    assert "unsupported YAML tag" in _problems(text)[0]


def test_surrogate_escapes() -> None:
    assert load_text('a: "\\ud83d\\ude00"\n').data == {"a": "\U0001f600"}
    assert "surrogate" in _problems('a: "\\ud83d"\n')[0]


def test_control_characters_are_located() -> None:
    assert _problems("a: 1\nb: x\x00\n")[0].startswith("f.yaml:2:5: character #x0000")


def test_several_documents_are_refused() -> None:
    assert "single document" in _problems("a: 1\n---\nb: 2\n")[0]


def test_file_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * MAX_BYTES)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_file(big)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_file(bad)
    assert str(info.value).endswith(
        "bad.yaml:2:7: not valid UTF-8 (byte 0xe9); files idpctl reads must be UTF-8"
    )
    with pytest.raises(ConfigError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_file(tmp_path)


def test_display_path_is_relative_inside_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    assert display_path(tmp_path / "p" / "x.yaml") == "p/x.yaml"
    assert display_path("/elsewhere/x.yaml") == "/elsewhere/x.yaml"
