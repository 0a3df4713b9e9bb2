"""A fast yes/no answer to "is this value valid against that JSON Schema?".

`jsonschema` walks the schema anew for every value and builds validator objects at every
step; for 1,000 provider files that was most of `validate`'s time. `checker` turns a schema
once into nested closures that only answer yes or no. `schema.validate_document` asks it
first and runs jsonschema (for its located messages) only when the answer is no.

It knows the keywords idpctl's schemas use and nothing more: a schema with any other
keyword compiles to None and jsonschema does all the work. So the fast path can only agree
with jsonschema that a value is valid; `tests/test_schemafast.py` checks that it does.
`format` is an annotation here, as it is for the jsonschema validator idpctl builds.
"""

from __future__ import annotations

import functools
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sized
from typing import Any

__all__ = ["Check", "checker", "compile_check", "has_duplicates", "json_key"]

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "format",
        "writeOnly",
        "readOnly",
        "deprecated",
        "then",
        "else",  # then/else: under "if"
    }
)


_TYPE_NAMES = frozenset({"object", "array", "string", "boolean", "null", "number", "integer"})


class _Unsupported(Exception):
    """A keyword this module does not implement: leave the schema to jsonschema."""


@functools.lru_cache(maxsize=16)
def checker(kinds: Any, schema_name: str) -> Check | None:
    """The compiled check for one of `kinds.schemas`, or None when it cannot be compiled."""
    documents = {s["$id"]: s for s in kinds.schemas.values() if isinstance(s.get("$id"), str)}
    schema = kinds.schema(schema_name)
    return compile_check(schema, _Resolver(documents, schema.get("$id", "")))


def compile_check(schema: Any, resolver: Any) -> Check | None:
    try:
        return _Compiler().compile(schema, resolver)
    except _Unsupported:
        return None


class _Resolver:
    """`$ref` to a schema by `$id` (relative to the referring document) and a JSON pointer
    fragment; anything else (anchors, unknown documents) is left to jsonschema. Kept apart
    from `referencing` on purpose: importing it costs more than validating 1,000 files."""

    def __init__(self, documents: Mapping[str, Any], base: str) -> None:
        self.documents = documents
        self.base = base

    def lookup(self, ref: str) -> tuple[Any, _Resolver]:
        uri, _, fragment = urllib.parse.urljoin(self.base, ref).partition("#")
        document = self.documents.get(uri)
        if document is None or (fragment and not fragment.startswith("/")):
            raise _Unsupported(f"$ref {ref!r}")
        target = document
        for token in fragment.split("/")[1:]:
            token = urllib.parse.unquote(token).replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or token not in target:
                raise _Unsupported(f"$ref {ref!r}")
            target = target[token]
        return target, _Resolver(self.documents, uri)


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if name == "number":
        return True
    return isinstance(value, int) or (math.isfinite(value) and value.is_integer())


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema sees it: true is not 1, "1" is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return False
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def json_key(value: Any) -> Any:
    """A hashable stand-in for a JSON value: two values have equal keys exactly when
    `_equal` calls them equal (true is not 1, 1 is 1.0, NaN equals nothing). Linear in the
    value's size, so uniqueness is a set of keys, never a comparison of every pair."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value) if value == value else ("nan", object())
    if isinstance(value, str):
        return ("str", value)
    if value is None:
        return ("null",)
    if isinstance(value, list):
        return ("list", tuple(json_key(item) for item in value))
    if isinstance(value, dict):
        return ("dict", frozenset((k, json_key(v)) for k, v in value.items()))
    return ("other", object())  # not a JSON value: equal to nothing


def has_duplicates(values: list[Any]) -> bool:
    """Whether `values` holds two JSON-equal items (JSON Schema's uniqueItems), in O(n)."""
    seen: set[Any] = set()
    for value in values:
        key = json_key(value)
        if key in seen:
            return True
        seen.add(key)
    return False


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Compiler:
    def __init__(self) -> None:
        self._refs: dict[int, Check] = {}

    def compile(self, schema: Any, resolver: Any) -> Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, Mapping):
            raise _Unsupported("schema is not an object")
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in ANNOTATIONS or key.startswith("x-"):
                continue
            make = _KEYWORDS.get(key)
            if make is None:
                raise _Unsupported(key)
            checks.append(make(self, arg, schema, resolver))
        if len(checks) == 1:
            return checks[0]
        steps = tuple(checks)
        return lambda value: all(step(value) for step in steps)

    def ref(self, ref: str, schema: Mapping[str, Any], resolver: Any) -> Check:
        if resolver is None:
            raise _Unsupported(f"$ref {ref!r} without documents")
        contents, inner = resolver.lookup(ref)
        key = id(contents)
        if key not in self._refs:
            compiled: list[Check] = []
            self._refs[key] = lambda value: compiled[0](value)  # a recursive schema
            compiled.append(self.compile(contents, inner))
            self._refs[key] = compiled[0]
        target = self._refs[key]
        return lambda value: target(value)


def _type(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
    names = (arg,) if isinstance(arg, str) else tuple(arg)
    if not set(names) <= _TYPE_NAMES:
        raise _Unsupported(f"type {names!r}")
    return lambda value: any(_is_type(value, name) for name in names)


def _properties(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
    checks = tuple((name, c.compile(sub, resolver)) for name, sub in arg.items())
    return lambda value: (
        not isinstance(value, dict)
        or all(check(value[name]) for name, check in checks if name in value)
    )


def _additional(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
    if "patternProperties" in schema:
        raise _Unsupported("patternProperties")
    known = frozenset(schema.get("properties", {}))
    check = c.compile(arg, resolver)
    return lambda value: (
        not isinstance(value, dict)
        or all(check(value[name]) for name in value if name not in known)
    )


def _if(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
    test = c.compile(arg, resolver)
    then = c.compile(schema.get("then", True), resolver)
    other = c.compile(schema.get("else", True), resolver)
    return lambda value: then(value) if test(value) else other(value)


def _of(kind: str) -> Callable[..., Check]:
    def make(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
        checks = tuple(c.compile(sub, resolver) for sub in arg)
        if kind == "allOf":
            return lambda value: all(check(value) for check in checks)
        if kind == "anyOf":
            return lambda value: any(check(value) for check in checks)
        return lambda value: sum(1 for check in checks if check(value)) == 1

    return make


def _items(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
    if "prefixItems" in schema:
        raise _Unsupported("prefixItems")
    check = c.compile(arg, resolver)
    return lambda value: not isinstance(value, list) or all(check(item) for item in value)


def _unique(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
    if not arg:
        return lambda value: True
    return lambda value: not isinstance(value, list) or not has_duplicates(value)


def _pattern(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
    regex = re.compile(arg)
    return lambda value: not isinstance(value, str) or regex.search(value) is not None


def _sized(kind: type[Sized], compare: Callable[[int, Any], bool]) -> Callable[..., Check]:
    def make(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
        return lambda value: not isinstance(value, kind) or compare(len(value), arg)

    return make


def _bound(compare: Callable[[Any, Any], bool]) -> Callable[..., Check]:
    def make(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
        return lambda value: not _number(value) or compare(value, arg)

    return make


def _simple(test: Callable[[Any, Any], bool]) -> Callable[..., Check]:
    """A keyword checked with its argument alone."""

    def make(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
        return lambda value: test(value, arg)

    return make


def _sub(test: Callable[[Any, Check], bool]) -> Callable[..., Check]:
    """A keyword whose argument is a subschema, compiled once."""

    def make(c: _Compiler, arg: Any, schema: Mapping[str, Any], resolver: Any) -> Check:
        check = c.compile(arg, resolver)
        return lambda value: test(value, check)

    return make


_KEYWORDS: dict[str, Callable[..., Check]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _simple(lambda v, arg: not isinstance(v, dict) or all(k in v for k in arg)),
    "enum": _simple(lambda v, arg: any(_equal(v, e) for e in arg)),
    "const": _simple(lambda v, arg: _equal(v, arg)),
    "not": _sub(lambda v, check: not check(v)),
    "propertyNames": _sub(lambda v, check: not isinstance(v, dict) or all(check(k) for k in v)),
    "$ref": lambda c, arg, schema, resolver: c.ref(arg, schema, resolver),
    "if": _if,
    "allOf": _of("allOf"),
    "anyOf": _of("anyOf"),
    "oneOf": _of("oneOf"),
    "items": _items,
    "uniqueItems": _unique,
    "pattern": _pattern,
    "minLength": _sized(str, lambda n, arg: n >= arg),
    "maxLength": _sized(str, lambda n, arg: n <= arg),
    "minItems": _sized(list, lambda n, arg: n >= arg),
    "maxItems": _sized(list, lambda n, arg: n <= arg),
    "minProperties": _sized(dict, lambda n, arg: n >= arg),
    "maxProperties": _sized(dict, lambda n, arg: n <= arg),
    "minimum": _bound(lambda v, arg: v >= arg),
    "maximum": _bound(lambda v, arg: v <= arg),
    "exclusiveMinimum": _bound(lambda v, arg: v > arg),
    "exclusiveMaximum": _bound(lambda v, arg: v < arg),
}
