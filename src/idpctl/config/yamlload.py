"""Safe YAML loading that remembers where every key and value came from.

The files idpctl reads are written by people and sometimes by attackers, so the loader:
refuses files over 1 MiB and invalid UTF-8 (a UTF-8 BOM is accepted), limits nesting depth
and alias expansion (no "billion laughs"), refuses duplicate keys and unknown tags, refuses
values no setting or provider field can take (a NUL character, a string longer than
`MAX_SCALAR_CHARS`, `.inf`, `.nan`), and turns every parser complaint into a located
`Problem`. Scalars follow YAML 1.2's core schema: only `true`/`false` are booleans (`on`,
`no`, `yes` stay strings) and dates stay strings.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.resolver import BaseResolver

try:
    from yaml._yaml import CParser  # what yaml.cyaml builds its loaders on
except ImportError:  # PyYAML built without libyaml: the pure-Python loader does it all
    _LIBYAML = False
else:
    _LIBYAML = True

from idpctl.config.document import (
    Document,
    KeyPath,
    Locations,
    display_path,
    pack,
    problem_at,
    unpack,
)
from idpctl.errors import ConfigError, Problem
from idpctl.model import Location
from idpctl.net.endpoints import read_regular

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_SCALAR_CHARS",
    "DocumentProblems",
    "load_file",
    "load_text",
]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000  # values produced by expanding aliases, in one document
# Longest key or value, in characters. Graph documents no limit for clientId, issuer, scope or
# the other strings idpctl sends (api-reference/beta/resources/oidcidentityprovider.md: "String";
# displayName's 256 is in the schemas); an assumption: nothing
# legitimate comes near 16 KiB, and a 900,000-character clientId must not reach Graph.
MAX_SCALAR_CHARS = 16 * 1024

_TAG = "tag:yaml.org,2002:"
_MAPPING, _SEQUENCE = f"{_TAG}map", f"{_TAG}seq"
_INT = re.compile(r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _DepthLimit:
    """A composer mix-in: refuse nesting deeper than MAX_DEPTH while composing."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise yaml.MarkedYAMLError(
                    problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=mark
                )
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _Loader(_DepthLimit, yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars and a nesting limit while composing."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regex, _first in (
    ("bool", _BOOL, "tTfF"),
    ("int", _INT, "-+0123456789"),
    ("float", _FLOAT, "-+.0123456789"),
    ("null", _NULL, ["~", "n", "N", ""]),
    ("merge", re.compile(r"^<<$"), "<"),
):
    _Loader.add_implicit_resolver(f"{_TAG}{_tag}", _regex, list(_first))

if _LIBYAML:

    class _CLoader(_DepthLimit, Composer, CParser, BaseResolver):
        """libyaml's parser (C) under PyYAML's composer: the same nodes, marks and limits as
        `_Loader` at about a sixth of the cost. Composing stays in Python on purpose: the C
        composer recurses without limit and crashes the process on deeply nested input."""

        yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            BaseResolver.__init__(self)
            Composer.__init__(self)


class _Builder:
    """Turns composed nodes into plain values, recording locations and problems."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.locations: dict[KeyPath, int] = {}  # packed: see Locations
        self.key_locations: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []
        self._seen: set[int] = set()
        self._alias_nodes = 0
        self._in_alias = 0

    def loc(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def packed(self, node: yaml.Node) -> int:
        mark = node.start_mark
        return pack(mark.line + 1, mark.column + 1)

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(problem_at(self.loc(node), message))

    def build(self, node: yaml.Node, path: KeyPath = ()) -> Any:
        if len(path) > MAX_DEPTH:
            raise self._fatal(node, f"nested deeper than {MAX_DEPTH} levels (recursive alias?)")
        repeated = id(node) in self._seen
        self._seen.add(id(node))
        self._in_alias += repeated
        try:
            if self._in_alias:
                self._alias_nodes += 1
                if self._alias_nodes > MAX_ALIAS_NODES:
                    raise self._fatal(
                        node, f"aliases expand to more than {MAX_ALIAS_NODES} values (alias bomb?)"
                    )
            self.locations.setdefault(path, self.packed(node))
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQUENCE:
                    self.problem(node, f"unsupported YAML tag {_short(node.tag)!r}")
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.ScalarNode):
                return self._scalar(node)
            raise self._fatal(node, f"unsupported YAML node {type(node).__name__}")
        finally:
            self._in_alias -= repeated

    def _surrogates(self, node: yaml.ScalarNode) -> str:
        try:
            return _join_surrogates(node.value)
        except UnicodeDecodeError:
            self.problem(node, "an escape names half of a UTF-16 surrogate pair")
            return ""

    def _fatal(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError([problem_at(self.loc(node), message)])

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        if node.tag != _MAPPING:
            self.problem(node, f"unsupported YAML tag {_short(node.tag)!r}")
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                merged.update(self._merge(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "":
                self.problem(key_node, "a mapping key must be a plain, non-empty string")
                continue
            key = str(key_node.value)
            if _SURROGATE.search(key):
                key = self._surrogates(key_node)
            if key in result:
                first, _ = unpack(self.key_locations[(*path, key)])
                self.problem(key_node, f"duplicate key {key!r} (first at line {first})")
                continue
            self.key_locations[(*path, key)] = self.packed(key_node)
            result[key] = self.build(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge(self, node: yaml.Node, path: KeyPath) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                self.problem(source, "a merge key ('<<') takes a mapping or a list of mappings")
                continue
            merged.update(self._mapping(source, path))
        return merged

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value, tag = node.value, node.tag
        if _SURROGATE.search(value):
            value = self._surrogates(node)
        if len(value) > MAX_SCALAR_CHARS:
            self.problem(
                node, f"value is {len(value):,} characters long (at most {MAX_SCALAR_CHARS:,})"
            )
            return value
        if "\0" in value:
            self.problem(node, "a NUL character (\\0) is not allowed in a value")
            return value
        try:
            if tag == f"{_TAG}str":
                return value
            if tag == f"{_TAG}null" and _NULL.match(value):
                return None
            if tag == f"{_TAG}bool" and _BOOL.match(value):
                return value.lower() == "true"
            if tag == f"{_TAG}int" and _INT.match(value):
                return _to_int(value)
            if tag == f"{_TAG}float" and (_FLOAT.match(value) or _INT.match(value)):
                return self._finite(node, _to_float(value))
        except ValueError:
            self.problem(node, "number out of range")
            return value
        self.problem(node, f"unsupported YAML tag {_short(tag)!r}")
        return value

    def _finite(self, node: yaml.ScalarNode, number: float) -> float:
        if not math.isfinite(number):
            self.problem(
                node, "not a finite number (.inf, .nan and numbers past 1e308 are not allowed)"
            )
        return number


class DocumentProblems(ConfigError):
    """Problems in a file that still parsed (a duplicate key, a NUL, `.nan`, an unknown tag):
    `document` is what was read, for callers that report more problems (validate) and never
    for using the values."""

    def __init__(self, problems: Sequence[Problem], document: Document) -> None:
        super().__init__(problems)
        self.document = document


def _join_surrogates(value: str) -> str:
    """YAML's `\\uD83D\\uDE00` escapes arrive as two surrogates: join them (JSON does)."""
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _to_int(value: str) -> int:
    if value.startswith(("0o", "0x")):
        return int(value[2:], 8 if value[1] == "o" else 16)
    if len(value) > 100:
        raise ValueError("too long")
    return int(value)


def _to_float(value: str) -> float:
    lowered = value.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    if len(value) > 100:
        raise ValueError("too long")
    return float(value)


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _decode(raw: bytes, file: str) -> str:
    if len(raw) > MAX_BYTES:
        raise ConfigError([Problem(file, 1, 1, f"file is larger than 1 MiB ({len(raw)} bytes)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        prefix = raw[: error.start].decode("utf-8", errors="replace")
        line, col = _line_col(prefix, len(prefix))
        byte = raw[error.start]
        raise ConfigError(
            [
                Problem(
                    file,
                    line,
                    col,
                    f"not valid UTF-8 (byte 0x{byte:02x}); files idpctl reads must be UTF-8",
                )
            ]
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _syntax_problem(error: yaml.YAMLError, text: str, file: str) -> Problem:
    if isinstance(error, yaml.reader.ReaderError):
        line, col = _line_col(text, error.position)
        return Problem(
            file,
            line,
            col,
            f"character #x{error.character:04x} is not allowed in YAML (binary data?)",
        )
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = str(getattr(error, "problem", None) or "invalid YAML")
    if "'\\t'" in problem:
        message = (
            "a tab character is not allowed here: YAML indents with spaces (quote a "
            "value that holds a tab)"
        )
    else:
        context = getattr(error, "context", None)
        message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is None:
        return Problem(file, 1, 1, message)
    return Problem(file, mark.line + 1, mark.column + 1, " ".join(message.split()))


def load_text(text: str, *, file: str = "<string>", path: Path | None = None) -> Document:
    """Parse one YAML document from text. Raises ConfigError listing every located problem.

    The C parser reads it first; anything it finds wrong is read again by the pure-Python
    parser, so every message (and its line and column) is the same whichever parser ran."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if _LIBYAML:
        try:
            return _load(text, file, path, _CLoader)
        except ConfigError:
            pass
    return _load(text, file, path, _Loader)


def _load(text: str, file: str, path: Path | None, loader_class: type) -> Document:
    builder = _Builder(file)
    loader = None
    try:
        loader = loader_class(text)
        node = loader.get_single_node()
        data = builder.build(node) if node is not None else None
    except yaml.YAMLError as error:
        raise ConfigError([_syntax_problem(error, text, file)]) from None
    except RecursionError:
        raise ConfigError([Problem(file, 1, 1, "nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    document = Document(
        file, path, data, Locations(file, builder.locations), Locations(file, builder.key_locations)
    )
    if builder.problems:
        raise DocumentProblems(builder.problems, document)
    return document


def load_file(path: Path, *, file: str | None = None) -> Document:
    """Read and parse a YAML file (UTF-8, at most 1 MiB)."""
    shown = file or display_path(path)
    try:
        raw = read_regular(path, limit=MAX_BYTES)  # a FIFO or device is refused, not waited on
    except OSError as error:
        raise ConfigError([Problem(shown, 1, 1, f"cannot read: {error.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        size = os.path.getsize(path)
        raise ConfigError([Problem(shown, 1, 1, f"file is larger than 1 MiB ({size} bytes)")])
    return load_text(_decode(raw, shown), file=shown, path=path)
