"""The fast schema check agrees with jsonschema: every document the tests hold (corpus,
scenarios, examples), checked against every schema idpctl has, plus values picked for the
corners of JSON equality and types. A disagreement where jsonschema finds errors would let
an invalid file through, so every pair is compared."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from idpctl.config import schemafast
from idpctl.config.schema import _validator
from idpctl.config.yamlload import load_text
from idpctl.errors import ConfigError
from idpctl.kinds import load_kinds

ROOT = Path(__file__).resolve().parent.parent
KINDS = load_kinds()


@functools.cache
def _documents() -> tuple[Any, ...]:
    values: list[Any] = []
    for folder in ("tests", "providers", "examples"):
        for path in sorted((ROOT / folder).rglob("*.y*ml")):
            try:
                data = load_text(path.read_text(encoding="utf-8"), file=path.name).data
            except (ConfigError, UnicodeDecodeError):
                continue
            values.append(data)
            if isinstance(data, dict):  # each provider of a list file too
                values += [v for v in data.get("providers", []) or [] if isinstance(v, dict)]
    return tuple(values)


CORNERS: list[Any] = [
    None,
    True,
    1,
    1.0,
    2.5,
    "",
    "x",
    [],
    {},
    [1, True],
    [1, 1.0],
    {"kind": True},
    {"kind": "oidcIdentityProvider", "displayName": 1},
    {
        "kind": "socialIdentityProvider",
        "identityProviderType": "Google",
        "displayName": "G",
        "clientId": "c",
        "clientSecret": {"env": "X", "file": "y"},
    },
    {"tenant": "t", "tenantKind": "external", "graph": {"timeout": True}},
    {"tenant": "t", "tenantKind": "external", "graph": {"timeout": 0}},
    {"tenant": "t", "tenantKind": "external", "graph": {"rateLimit": 10.0}},
]


def test_every_schema_compiles() -> None:
    assert all(schemafast.checker(KINDS, name) is not None for name in KINDS.schemas)


@pytest.mark.parametrize("name", sorted(KINDS.schemas))
def test_fast_check_agrees_with_jsonschema(name: str) -> None:
    check = schemafast.checker(KINDS, name)
    validator = _validator(KINDS, name)
    values = [*_documents(), *CORNERS]
    assert len(values) > 100
    for value in values:
        expected = not any(True for _ in validator.iter_errors(value))
        assert check(value) is expected, (name, value)


def test_unknown_keyword_falls_back_to_jsonschema() -> None:
    assert schemafast.compile_check({"type": "object", "dependentRequired": {}}, None) is None
    assert schemafast.compile_check({"type": "decimal"}, None) is None


CORNERS = [
    True,
    False,
    1,
    1.0,
    0,
    0.0,
    "1",
    "",
    None,
    [],
    {},
    [1],
    [1.0],
    [True],
    {"a": 1},
    {"a": 1.0},
    {"a": True},
    {"b": 1},
    [[1, "x"]],
    [[1.0, "x"]],
    float("nan"),
    2**70,
]


@pytest.mark.parametrize("a", CORNERS, ids=repr)
def test_json_key_equals_exactly_when_json_equality_does(a: Any) -> None:
    """The linear uniqueItems (a set of json_key) agrees with pairwise JSON equality."""
    for b in CORNERS:
        assert (schemafast.json_key(a) == schemafast.json_key(b)) == schemafast._equal(a, b)
        assert schemafast.has_duplicates([a, b]) == schemafast._equal(a, b)
