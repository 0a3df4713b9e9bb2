"""`moved: {from: KIND/OLD}`: renames planned in place. The state is read with each pending
move's record under its new address, and the change carries a state-only `address` field
telling apply to move the record; applied, a move is a no-op."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from idpctl.config.moves import move_problems
from idpctl.errors import PlanError
from idpctl.model import (
    Action,
    Change,
    FieldChange,
    Kind,
    LiveProvider,
    ManagedRecord,
    Provider,
    Reason,
    State,
)

__all__ = [
    "MOVED_FIELD",
    "moved_from",
    "moved_state",
    "pending_moves",
    "split_address",
    "with_move",
]


def split_address(address: str) -> tuple[str, str]:
    """`KIND/KEY` split at the first `/`; the key may itself hold `/`."""
    kind, sep, key = address.partition("/")
    if not sep or not kind or not key:
        raise PlanError(f"{address!r} is not an address: write KIND/KEY")
    return kind, key


MOVED_FIELD = "address"  # the state-only field of a rename: before the old address, after new


def moved_from(change: Change) -> str | None:
    """The old address a change renames from (apply moves the state record), or None."""
    for f in change.fields:
        if f.name == MOVED_FIELD and f.state_only and isinstance(f.before, str):
            return f.before
    return None


def pending_moves(
    wanted: Mapping[str, Provider],
    state: State,
    live: Sequence[LiveProvider],
    kinds: Mapping[str, Kind],
) -> dict[str, str]:
    """New address -> old address of each `moved: {from: ...}` not applied yet (the state
    still has the old address, not the new one). An applied move, or one from an address
    idpctl never managed, is a no-op. Conflicts are PlanErrors located at the file."""
    problems: list[str] = []
    for provider, problem in move_problems(wanted, kinds):
        where = f"{provider.location}: " if provider.location else ""
        problems.append(f"{where}{provider.address} moved.from {provider.moved_from}: {problem}")
    claims = {p.moved_from: p for p in wanted.values() if p.moved_from} if not problems else {}
    moves = {}
    for old, provider in sorted(claims.items()):
        record = state.providers.get(old)
        if provider.address in state.providers or record is None:
            continue
        taken = [
            lp
            for lp in live
            if lp.address == provider.address
            and lp.id != record.id
            and (kinds.get(lp.kind or "") is not None)
        ]
        if taken:
            where = f"{provider.location}: " if provider.location else ""
            problems.append(
                f"{where}{provider.address} moved.from {old}: the tenant already "
                f"has a provider {provider.address} (id {taken[0].id}); a rename "
                "cannot land on a live key: rename or remove that one first"
            )
            continue
        moves[provider.address] = old
    if problems:
        error = PlanError(
            problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
        )
        # PlanError declares no `problems`; cli.main reads every line of it with getattr
        error.problems = tuple(problems)  # type: ignore[attr-defined]
        raise error
    return moves


def moved_state(state: State, moves: Mapping[str, str]) -> State:
    """The state as the planner reads it: each pending move's record under its new address."""
    if not moves:
        return state
    providers = {a: r for a, r in state.providers.items() if a not in moves.values()}
    for new, old in moves.items():
        providers[new] = replace(state.providers[old], key=split_address(new)[1])
    return replace(state, providers=providers)


def with_move(
    change: Change | None,
    provider: Provider,
    old: str,
    record: ManagedRecord,
    lp: LiveProvider | None,
) -> Change:
    """The change that renames `old` to the provider's address, in place."""
    moved = FieldChange(
        MOVED_FIELD,
        before=old,
        after=provider.address,
        state_only=True,
        note=f"moved from {old}: the same Graph object, renamed in place",
    )
    if change is None:
        graph_id = lp.id if lp is not None else record.id
        return Change(
            action=Action.UPDATE,
            kind=provider.kind,
            key=provider.key,
            graph_id=graph_id,
            fields=(moved,),
            body=None,
            desired=provider,
            reasons=(Reason.STATE_ONLY_MOVED,),
        )
    if change.action is Action.DELETE:
        return change
    return replace(change, fields=(moved, *change.fields)).because(Reason.STATE_ONLY_MOVED)
