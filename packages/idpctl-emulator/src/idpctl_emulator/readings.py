"""Reading switches: where the Graph docs are silent, the emulator can behave each plausible way.

A `Readings` value picks one reading per silent place. The default of each is the strictest
(the reading most likely to break a client that leans on the other one); the scenario suite
runs under the default and under each other reading once (tests/test_scenarios.py).
docs/emulator-graph.md ("Assumptions and their switches") lists each with its sources.

    readings = Readings.parse(["patch=replace", "secret=absent"])
    readings.patch         # "replace"

| switch    | values (default first) | docs silent on                                      |
|-----------|------------------------|-----------------------------------------------------|
| patch     | merge, replace         | PATCH of a complex property: merged or replaced     |
| secret    | mask, null, absent     | read-back shape of a write-only value               |
| errors    | generic, detailed      | error message texts (no per-API texts documented)   |
| immutable | refuse, same-ok        | a read-only property sent unchanged in a PATCH      |
| replication | instant, delayed     | how long a new item stays invisible to reads        |

`replication=delayed` hides each created provider from GET and list for DELAYED_SECONDS (or the
longer `--replication-delay SECONDS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["CHOICES", "DEFAULT", "Readings", "non_default"]

# every switch and its values, the default (strictest) first
CHOICES: Mapping[str, tuple[str, ...]] = {
    "patch": ("merge", "replace"),
    "secret": ("mask", "null", "absent"),
    "errors": ("generic", "detailed"),
    "immutable": ("refuse", "same-ok"),
    "replication": ("instant", "delayed"),
}
# what `replication=delayed` hides a created provider for (seconds), unless the emulator was
# started with a longer --replication-delay
DELAYED_SECONDS = 0.5


@dataclass(frozen=True)
class Readings:
    """One reading per silent place (see the module table)."""

    patch: str = "merge"
    secret: str = "mask"
    errors: str = "generic"
    immutable: str = "refuse"
    replication: str = "instant"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"reading {name}={getattr(self, name)}: expected one of {', '.join(allowed)}"
                )

    @classmethod
    def parse(cls, items: Iterable[str]) -> Readings:
        """`["patch=replace", ...]` (the CLI's repeated `--reading`) -> Readings."""
        values: dict[str, str] = {}
        for item in items:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or name not in CHOICES:
                raise ValueError(
                    f"--reading {item!r}: write NAME=VALUE with NAME one of {', '.join(CHOICES)}"
                )
            values[name] = value.strip()
        return cls(**values)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Readings:
        unknown = set(data) - set(CHOICES)
        if unknown:
            raise ValueError(f"unknown readings: {', '.join(sorted(unknown))}")
        return cls(**{k: str(v) for k, v in data.items()})

    def to_data(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def args(self) -> list[str]:
        """The `--reading` arguments that give this value (non-defaults only)."""
        return [f"--reading={k}={v}" for k, v in self.to_data().items() if v != CHOICES[k][0]]

    def label(self) -> str:
        changed = [f"{k}={v}" for k, v in self.to_data().items() if v != CHOICES[k][0]]
        return ",".join(changed) or "default"


DEFAULT = Readings()


def non_default() -> list[Readings]:
    """Each non-default reading alone (the rest at their defaults)."""
    return [
        replace(DEFAULT, **{name: value})
        for name, values in CHOICES.items()
        for value in values[1:]
    ]
