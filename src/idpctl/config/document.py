"""A YAML document as plain values with the location of every key and value, and the small
helpers every config module uses to walk one and to report a problem at a place in it.

`yamlload` makes `Document`s; everything else in `config` reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idpctl.errors import Problem
from idpctl.model import Location

__all__ = [
    "Document",
    "KeyPath",
    "Locations",
    "base_dir",
    "display_path",
    "lookup",
    "pack",
    "problem_at",
    "unique_problems",
    "unpack",
    "value_at",
]

KeyPath = tuple[str | int, ...]  # mapping keys (str) and list indexes (int) from the root
_COLUMNS = 1 << 32  # a packed location is line * _COLUMNS + column


def pack(line: int, column: int) -> int:
    """A location as one int (see `Locations`)."""
    return line * _COLUMNS + column


def unpack(packed: int) -> tuple[int, int]:
    """(line, column) of a `pack`ed location."""
    line, column = divmod(packed, _COLUMNS)
    return line, column


def display_path(path: Path | str) -> str:
    """The path as the user should see it: relative to the working directory when inside it."""
    try:
        cwd = os.getcwd()
        absolute = os.path.abspath(path)
        if absolute.startswith(cwd.rstrip(os.sep) + os.sep):  # the common case, no syscalls
            return os.path.relpath(absolute, cwd)
        # through a symbolic link, a path may still lie inside the working directory
        return str(Path(path).resolve().relative_to(Path(cwd).resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symbolic link loop
        return str(path)


def problem_at(loc: Location, message: str) -> Problem:
    """A problem reported at `loc`."""
    return Problem(loc.file, loc.line, loc.column, message)


def unique_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Each problem once, in file, line, column, message order."""
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.column, p.message))


def value_at(data: Any, at: KeyPath) -> Any:
    """The value at `at` in `data`; the path must exist (KeyError, IndexError otherwise)."""
    for part in at:
        data = data[part]
    return data


def lookup(data: Any, key: Sequence[str]) -> Any:
    """The value at `key` in nested mappings, or None where one is missing or not a mapping."""
    for part in key:
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


def base_dir(doc: Document, path: KeyPath) -> Path:
    """The folder of the file that set the value at `path`: what a relative path in it is
    relative to (an overlay's values come from the overlay's file)."""
    return Path(doc.locate(path).file).resolve().parent


class Locations(Mapping[KeyPath, Location]):
    """Path -> Location, stored packed (one int a node, not a Location object) so that
    thousands of loaded files stay small; a Location is made when one is asked for."""

    __slots__ = ("_file", "_packed")

    def __init__(self, file: str, packed: dict[KeyPath, int]) -> None:
        self._file = file
        self._packed = packed

    def __getitem__(self, path: KeyPath) -> Location:
        line, column = unpack(self._packed[path])
        return Location(self._file, line, column)

    def __contains__(self, path: object) -> bool:
        return path in self._packed

    def __iter__(self) -> Iterator[KeyPath]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)


@dataclass(frozen=True)
class Document:
    """One YAML document as plain Python values, with the location of each key and value.

    Paths are tuples of mapping keys (str) and list indexes (int) from the root.
    """

    file: str  # as shown to the user
    path: Path | None
    data: Any
    locations: Mapping[KeyPath, Location] = field(repr=False)
    key_locations: Mapping[KeyPath, Location] = field(repr=False)

    def locate(self, path: Sequence[str | int] = (), *, key: bool = False) -> Location:
        """Where the value at `path` (or its key, with `key=True`) is; the nearest ancestor's
        location when the path does not exist (a missing field is reported at its parent)."""
        path = tuple(path)
        if key and path in self.key_locations:
            return self.key_locations[path]
        while path:
            if path in self.locations:
                return self.locations[path]
            path = path[:-1]
        return self.locations.get((), Location(self.file, 1, 1))
