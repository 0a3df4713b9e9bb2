"""The planner: a pure diff of desired providers against live Graph and the state, into a Plan.

`build` does no I/O, reads no clock and draws no randomness, so
every rule is testable as a plain call on values. Rules, in brief (docs/plan-format.md has
the long form):

- desired and live meet by natural key `KIND/KEY`; a provider is managed when the state has
  it (matched to live by the state's Graph id first, then by key);
- only top-level fields the user set are compared; a complex value is compared whole, members
  the user left out counting as absent; a masked read-back (`UNKNOWN`) is never a difference;
- secrets are compared by keyed fingerprint against the state, never by read-back;
- an immutable field or a `clientAuthentication` subtype change means replace (`-/+`);
- `moved: {from: KIND/OLD}` whose old address the state still has: the record is read under
  the new address, so the rename is an in-place update of the same Graph object (a
  state-only `address` field tells apply to move the record); applied, it is a no-op;
- a secret written `{keep: live}` is never sent nor compared: a create, a replace or a
  change of a rebinding field (which re-sends the secret) is refused, naming what to write;
- every change carries typed `reasons` (model.Reason) saying why; `notes` only add what a
  reason cannot say (which field, which ids, which flows);
- changes are ordered adopt, update, create, replace, delete; within each by kind then key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from idpctl.errors import PlanError
from idpctl.model import Change, Kind, LiveProvider, Plan, Provider, Reason, State, in_apply_order
from idpctl.plan.basis import basis_differences, compute_basis
from idpctl.plan.changes import Context, plan_one, rebind
from idpctl.plan.keeplive import kept_paths, refuse_kept
from idpctl.plan.matching import REPLICATION_GRACE, Matcher, replicating
from idpctl.plan.moves import (
    MOVED_FIELD,
    moved_from,
    moved_state,
    pending_moves,
    split_address,
    with_move,
)
from idpctl.plan.planfile import from_data, to_data
from idpctl.plan.safety import check_safety
from idpctl.plan.secretfields import secret_paths

# the planner's surface, wherever each part lives in this package
__all__ = [
    "MOVED_FIELD",
    "basis_differences",
    "build",
    "check_safety",
    "from_data",
    "kept_paths",
    "moved_from",
    "pending_moves",
    "split_address",
    "to_data",
]

log = logging.getLogger(__name__)


def build(
    desired: Sequence[Provider],
    live: Sequence[LiveProvider],
    state: State,
    *,
    kinds: Mapping[str, Kind],
    targets: Sequence[str] = (),
    rotate: Sequence[str] = (),
    tenant: str | None = None,
    now: datetime | None = None,
    replication_grace: float = REPLICATION_GRACE,
) -> Plan:
    """Compute the plan. Pure: the same inputs always give the same Plan.

    `now` (the caller's clock) enables the replication guard: a managed provider missing from
    the live list less than `replication_grace` seconds after idpctl created it is taken as
    not yet replicated, not as lost, so it is neither created twice nor forgotten."""
    wanted = _index_desired(desired, kinds)
    for address in (*targets, *rotate):
        split_address(address)
    moves = pending_moves(wanted, state, live, kinds)
    planned = moved_state(state, moves)
    matcher = Matcher(live, planned, kinds)
    addresses = sorted(set(wanted) | set(planned.providers))
    matched = {a: matcher.match(a, a in planned.providers) for a in addresses}
    targeted = set(targets)
    chosen = [a for a in addresses if not targeted or a in targeted]
    ctx = Context(
        kinds=kinds,
        state=planned,
        rotate=frozenset(rotate),
        now=now,
        grace=timedelta(seconds=replication_grace),
        moves=moves,
    )
    changes, unchanged, waiting = _plan_all(chosen, wanted, matched, ctx)
    warnings = [*matcher.warnings, *waiting, *_rotate_warnings(rotate, wanted)]
    if targets:
        warnings.append(
            f"--target: planned {len(chosen)} address(es) only; "
            f"{len(addresses) - len(chosen)} other(s) left out of this plan"
        )
    log.debug("planned %s change(s), %s unchanged", len(changes), len(unchanged))
    return Plan(
        changes=tuple(changes),
        unchanged=tuple(unchanged),
        unmanaged=matcher.unmanaged(kinds),
        warnings=tuple(warnings),
        basis=compute_basis(desired, live, state),
        tenant=tenant,
    )


def _plan_all(
    addresses: Sequence[str],
    wanted: Mapping[str, Provider],
    matched: Mapping[str, LiveProvider | None],
    ctx: Context,
) -> tuple[list[Change], list[str], list[str]]:
    changes: list[Change] = []
    unchanged: list[str] = []
    waiting: list[str] = []
    for address in addresses:
        record, lp = ctx.state.providers.get(address), matched[address]
        if record is not None and lp is None and replicating(record, ctx.now, ctx.grace):
            waiting.append(
                f"{address} (id {record.id}) was created at {record.created_at} and "
                "is not listed yet: Graph replicates new providers with a delay; "
                "left as it is, plan again shortly"
            )
            unchanged.append(address)
            continue
        change = plan_one(wanted.get(address), record, lp, ctx)
        if address in ctx.moves and record is not None:
            change = with_move(change, wanted[address], ctx.moves[address], record, lp)
        if change is not None and change.desired is not None:
            change = refuse_kept(change)
        moved = (
            record is not None
            and lp is not None
            and record.id != lp.id
            and f"matched by key: its Graph id changed outside idpctl ({record.id} -> {lp.id})"
        )
        provider = wanted.get(address)
        if change is None and moved and provider and record and lp:
            change = rebind(provider, record.id, lp)  # else the state keeps a dead id
        if change is None:
            unchanged.append(address)
            continue
        if moved:
            change = change.because(Reason.STATE_ONLY_GRAPH_ID_CHANGED, notes=(moved,))
        changes.append(change)
    return in_apply_order(changes), unchanged, waiting


def _index_desired(desired: Iterable[Provider], kinds: Mapping[str, Kind]) -> dict[str, Provider]:
    out: dict[str, Provider] = {}
    for provider in desired:
        kind = kinds.get(provider.kind)
        if kind is None:
            raise PlanError(f"{provider.address}: unknown provider kind {provider.kind!r}")
        if not kind.managed:
            raise PlanError(
                f"{provider.address}: idpctl never creates, changes or deletes a {provider.kind}"
            )
        if provider.address in out:
            raise PlanError(f"{provider.address}: declared twice")
        out[provider.address] = provider
    return out


def _rotate_warnings(rotate: Sequence[str], wanted: Mapping[str, Provider]) -> list[str]:
    out = []
    for address in rotate:
        provider = wanted.get(address)
        if provider is None or provider.absent:
            out.append(f"--rotate {address}: not in the configuration; nothing to rotate")
        elif kept_paths(provider.fields):
            out.append(
                f"--rotate {address}: its secret says {{keep: live}}; write a reference "
                "in its place to rotate it"
            )
        elif not secret_paths(provider.fields):
            out.append(f"--rotate {address}: has no secret to re-send")
    return out
