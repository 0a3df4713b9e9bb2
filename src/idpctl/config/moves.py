"""`moved: {from: ...}` declarations that are wrong whatever the state says: a rule of the
provider files, checked by validate and again by the planner before it renames a record."""

from __future__ import annotations

from collections.abc import Mapping

from idpctl.model import Kind, Provider

__all__ = ["move_problems"]


def move_problems(
    wanted: Mapping[str, Provider], kinds: Mapping[str, Kind]
) -> list[tuple[Provider, str]]:
    """The `moved:` declarations that are wrong whatever the state says (validate reports
    them too): another kind, a key that cannot change in place, the provider itself, two
    claims on one old address, an old address still declared, a chain."""
    out: list[tuple[Provider, str]] = []
    claims: dict[str, Provider] = {}
    for provider in wanted.values():
        old = provider.moved_from
        if old is None:
            continue
        problem = _move_problem(provider, old, wanted, claims, kinds[provider.kind])
        if problem:
            out.append((provider, problem))
        else:
            claims[old] = provider
    return out


def _move_problem(
    provider: Provider,
    old: str,
    wanted: Mapping[str, Provider],
    claims: Mapping[str, Provider],
    kind: Kind,
) -> str | None:
    name, sep, key = old.partition("/")
    if not sep or not key:
        return "not an address: write KIND/OLD KEY"
    if name != provider.kind:
        return f"a rename keeps the kind ({provider.kind}); {name} cannot become it"
    if kind.key_field is None or kind.key_field in kind.immutable:
        what = (
            "is a singleton"
            if kind.key_field is None
            else (f"is keyed by {kind.key_field}, which Graph cannot change in place")
        )
        return f"{provider.kind} {what}: it cannot be renamed"
    if old == provider.address:
        return "names the provider itself"
    if old in claims:
        other = claims[old]
        return f"also claimed by {other.address}" + (
            f" at {other.location}" if other.location else ""
        )
    source = wanted.get(old)
    if source is not None and not source.absent:
        if source.moved_from:
            return (
                f"{old} is itself moved (from {source.moved_from}): a chain; write "
                f"moved.from {source.moved_from} here and remove {old}"
            )
        return (
            f"{old} is still declared"
            + (f" at {source.location}" if source.location else "")
            + ": remove it (this file replaces it)"
        )
    return None
