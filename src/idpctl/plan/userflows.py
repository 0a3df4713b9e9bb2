"""User flows planned as links: which flows must offer each provider, from the flows read.

A provider's `userFlows: [...]` names the flows that must offer it; absent means "not
managed", `[]` means "in no flow". The flows are read before planning (`graph.userflows.read`,
in the pipeline) and only when `needed`: some provider sets `userFlows`, the plan deletes or
replaces a provider (a flow may still offer it: it is detached first), or the state keeps
flows to re-attach (`relink`: a replace deleted the old object and failed to create the new
one). A plan with none of these costs no request. `plan_links` is pure: it takes the flows
read and adds to a Plan a `userFlows` field change and the `FlowLink`s apply executes
(detach before a delete, attach after a create; the requests: `graph.userflows.link_items`).
Endpoints, request counts and permissions: docs/userflows.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from idpctl.errors import PlanError
from idpctl.model import (
    Action,
    Change,
    FieldChange,
    Flow,
    FlowLink,
    Flows,
    LiveProvider,
    Plan,
    Provider,
    Reason,
    State,
    in_apply_order,
)
from idpctl.model.flows import COLLECTIONS, permission

__all__ = ["FIELD", "link_permissions", "needed", "plan_links", "wanted"]

FIELD = "userFlows"


def link_permissions(plan: Plan) -> dict[str, str]:
    """{permission: why} for the plan's user-flow link changes (a checks.PERMISSION_RULES
    rule); the tenant kind shows in the links' paths."""
    linked = [c for c in plan.changes if c.links]
    if not linked:
        return {}
    external = linked[0].links[0].path.startswith(COLLECTIONS["external"])
    why = f"to change the user flows of {linked[0].address}" + (
        f" and {len(linked) - 1} more" if len(linked) > 1 else ""
    )
    return {permission("external" if external else "b2c", write=True): why}


# ---- planning (pure) ---------------------------------------------------------------------


def wanted(providers: Sequence[Provider]) -> bool:
    """True when some provider manages its user flows."""
    return any(p.user_flows is not None and not p.absent for p in providers)


def needed(plan: Plan, providers: Sequence[Provider], state: State | None = None) -> bool:
    """True when the flows must be read for `plan`: some provider manages its flows, the
    plan deletes or replaces a provider that exists in Graph (a flow may still offer it, and
    it must leave the flow first), or a desired provider's record keeps flows to re-attach."""
    pending = state is not None and any(
        state.providers[p.address].relink
        for p in providers
        if not p.absent and p.address in state.providers
    )
    return (
        wanted(providers)
        or pending
        or any(c.action.destructive and c.graph_id for c in plan.changes)
    )


def plan_links(
    plan: Plan,
    providers: Sequence[Provider],
    live: Sequence[LiveProvider],
    state: State,
    *,
    flows: Flows | None,
) -> Plan:
    """`plan` with user-flow links added, from the `flows` read (None: not read, `plan` as it
    is). A delete or replace of any provider a flow offers detaches it first, whether or not
    that provider sets `userFlows`; other links move only for providers that set it, or, for
    one that does not, to re-attach it to the flows its record keeps (`relink`). Pure."""
    if flows is None:
        return plan
    desired = {p.address: p for p in providers if not p.absent}
    ids = _live_ids(live, state)
    changes = {c.address: c for c in plan.changes}
    for address in [*changes, *plan.unchanged]:
        change = _linked(
            changes.get(address),
            desired.get(address),
            ids.get(address),
            flows,
            _pending(state, address, flows),
        )
        if change is not None:
            changes[address] = change
    return replace(
        plan,
        changes=tuple(in_apply_order(changes.values())),
        unchanged=tuple(a for a in plan.unchanged if a not in changes),
    )


def _live_ids(live: Sequence[LiveProvider], state: State) -> dict[str, str]:
    by_id = {lp.id for lp in live}
    out = {lp.address: lp.id for lp in live if lp.address}
    for address, record in state.providers.items():
        if record.id in by_id:
            out[address] = record.id
    return out


def _pending(state: State, address: str, flows: Flows) -> tuple[Flow, ...] | None:
    """The flows `address`'s record keeps to re-attach that still exist; None: it keeps none."""
    record = state.providers.get(address)
    if record is None or not record.relink:
        return None
    return tuple(f for flow_id in record.relink for f in flows.flows if f.id == flow_id)


def _linked(
    change: Change | None,
    provider: Provider | None,
    live_id: str | None,
    flows: Flows,
    pending: tuple[Flow, ...] | None = None,
) -> Change | None:
    """The change with its links, a new link-only update, or None when nothing moves."""
    old_id = change.graph_id if change is not None else live_id
    if change is None and old_id is None:
        return None  # not listed yet (replicating): nothing to link
    current = flows.offering(old_id) if old_id else ()
    if change is not None and change.action is Action.CREATE:
        current = ()
    target = _target(provider, current, flows, change, pending)
    if target is None:
        return None
    detach = [f for f in current if f not in target]
    attach = [f for f in target if f not in current]
    if change is not None and change.action is Action.REPLACE:
        detach, attach = list(current), list(target)  # the new object is in no flow
    if not detach and not attach:
        return _cleared(provider, old_id, pending) if change is None else None
    names = {f.id: f.name for f in (*current, *(pending or ()))} | _spelled(provider, flows)
    replacing = change is not None and change.action is Action.REPLACE
    again = [
        f
        for f in attach
        if pending and f in pending and provider is not None and provider.user_flows is None
    ]
    field = FieldChange(
        FIELD,
        before=[names[f.id] for f in current]
        if change is None or change.action is not Action.CREATE
        else None,
        after=[names[f.id] for f in target],
        note=_note(detach, attach, names, replacing=replacing, again=again),
    )
    links = tuple(
        [FlowLink(f.id, names[f.id], f.path, attach=False) for f in detach]
        + [FlowLink(f.id, names[f.id], f.path, attach=True) for f in attach]
    )
    if change is None:
        assert provider is not None and old_id is not None
        return Change(
            action=Action.UPDATE,
            kind=provider.kind,
            key=provider.key,
            graph_id=old_id,
            fields=(field,),
            desired=provider,
            links=links,
            reasons=(Reason.UPDATE_USER_FLOWS,),
        )
    notes = change.notes
    if again and not replacing:
        notes = (
            *notes,
            f"re-attaches to user flow(s) {', '.join(names[f.id] for f in again)}"
            ": the old object left them in a replace that did not finish (kept in the "
            "state)",
        )
    if change.action.destructive and current:
        left = ", ".join(names[f.id] for f in current)
        notes = (
            *notes,
            f"leaves user flow(s) {left}"
            if not replacing
            else f"the old object leaves user flow(s) {left}"
            + (f"; the new one joins {', '.join(names[f.id] for f in attach)}" if attach else ""),
        )
    linked = replace(change, fields=(*change.fields, field), links=links, notes=notes)
    if change.action in (Action.UPDATE, Action.ADOPT):
        return linked.because(Reason.UPDATE_USER_FLOWS)
    return linked


def _cleared(
    provider: Provider | None, old_id: str | None, pending: tuple[Flow, ...] | None
) -> Change | None:
    """A state-only update clearing a record's pending flows once nothing is left to attach
    (the provider is back in them, or they are gone from the tenant)."""
    if pending is None or provider is None or old_id is None:
        return None
    field = FieldChange(
        "relink",
        before=[f.name for f in pending],
        after=[],
        state_only=True,
        note="state only: nothing left to re-attach (already in these flows, "
        "or they are gone); cleared",
    )
    return Change(
        action=Action.UPDATE,
        kind=provider.kind,
        key=provider.key,
        graph_id=old_id,
        fields=(field,),
        desired=provider,
        reasons=(Reason.STATE_ONLY_RELINK_CLEARED,),
    )


def _target(
    provider: Provider | None,
    current: tuple[Flow, ...],
    flows: Flows,
    change: Change | None,
    pending: tuple[Flow, ...] | None = None,
) -> tuple[Flow, ...] | None:
    if change is not None and change.action is Action.DELETE:
        return ()
    if provider is None or provider.user_flows is None:
        # not managed: a replace puts the new object back where the old one was, and the
        # flows a replace that did not finish left (kept in the state) are joined again
        if pending is None and (change is None or change.action is not Action.REPLACE):
            return None
        return tuple(dict.fromkeys((*current, *(pending or ()))))
    out: list[Flow] = []
    for name in provider.user_flows:
        flow = flows.find(name)
        if flow is None:
            where = f"{provider.location}: " if provider.location else ""
            known = ", ".join(sorted(f.name for f in flows.flows)) or "none"
            raise PlanError(
                f"{where}{provider.address}: userFlows: no user flow named "
                f"{name!r} in the tenant (flows: {known})"
            )
        if flow not in out:
            out.append(flow)
    return tuple(out)


def _spelled(provider: Provider | None, flows: Flows) -> dict[str, str]:
    """Flow id -> the name as the configuration writes it."""
    if provider is None or not provider.user_flows:
        return {}
    out: dict[str, str] = {}
    for name in provider.user_flows:
        flow = flows.find(name)
        if flow is not None:
            out.setdefault(flow.id, name)
    return out


def _note(
    detach: Sequence[Flow],
    attach: Sequence[Flow],
    names: Mapping[str, str],
    *,
    replacing: bool = False,
    again: Sequence[Flow] = (),
) -> str:
    if replacing:
        return (
            (
                "detach the old object from " + ", ".join(names[f.id] for f in detach)
                if detach
                else ""
            )
            + ("; " if detach and attach else "")
            + ("attach the new one to " + ", ".join(names[f.id] for f in attach) if attach else "")
        )
    parts = []
    if detach:
        parts.append("detach from " + ", ".join(names[f.id] for f in detach))
    fresh = [f for f in attach if f not in again]
    if fresh:
        parts.append("attach to " + ", ".join(names[f.id] for f in fresh))
    if again:
        parts.append("re-attach to " + ", ".join(names[f.id] for f in again))
    return "; ".join(parts)
