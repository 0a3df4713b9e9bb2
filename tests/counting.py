"""Strings that count the comparisons made on them: a test of "linear, not quadratic" that
counts work instead of timing it (a pairwise check of n items makes about n*n/2 comparisons,
a set or a sort at most a few times n log n).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Counted", "strings"]


class Counted(str):
    """A str whose ==, != and ordering add one to `Counted.calls` (hashing is free)."""

    calls = 0

    def __hash__(self) -> int:
        return str.__hash__(self)

    def __eq__(self, other: Any) -> bool:
        Counted.calls += 1
        return str.__eq__(self, other)

    def __ne__(self, other: Any) -> bool:
        Counted.calls += 1
        return str.__ne__(self, other)

    def __lt__(self, other: Any) -> bool:
        Counted.calls += 1
        return str.__lt__(self, other)

    def __gt__(self, other: Any) -> bool:
        Counted.calls += 1
        return str.__gt__(self, other)


def strings(count: int, prefix: str = "s") -> list[Counted]:
    """`count` distinct counted strings, with the counter reset."""
    Counted.calls = 0
    return [Counted(f"{prefix}{i}") for i in range(count)]
