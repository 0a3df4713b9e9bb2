"""User flows: which flows offer each provider, read from Graph and planned as links.

A provider's `userFlows: [...]` names the flows that must offer it; absent means "not
managed", `[]` means "in no flow". The read side (`read`) goes through documented endpoints
only: the tenant kind's flow collection, then (B2C, B2X) each flow's
`userFlowIdentityProviders` list, sent as parallel `$batch` GETs; External ID lists its
providers inline. It is made only when `needed`: some provider sets `userFlows`, the plan
deletes or replaces a provider (a flow may still offer it: it is detached first), or the state
keeps flows to re-attach (`relink`: a replace deleted the old object and failed to create the
new one). A plan with none of these costs no request. `plan_links` is pure: it takes the
flows read and adds to a Plan a `userFlows` field change and the `FlowLink`s apply executes
(detach before a delete, attach after a create). Endpoints, request counts and
permissions: docs/userflows.md.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from idpctl.errors import AuthError, GraphError, PlanError
from idpctl.model import (
    Action,
    Change,
    FieldChange,
    FlowLink,
    LiveProvider,
    Plan,
    Provider,
    Reason,
    State,
    in_apply_order,
)

__all__ = ["FIELD", "Flow", "Flows", "link_items", "link_permissions", "needed", "permission",
           "plan_links", "read", "settled"]

log = logging.getLogger(__name__)

FIELD = "userFlows"
COLLECTIONS = {"b2c": "/identity/b2cUserFlows", "workforce": "/identity/b2xUserFlows",
               "external": "/identity/authenticationEventsFlows"}
_EVENTS = ("microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/"
           "onAuthenticationMethodLoadStart/"
           "microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp/"
           "identityProviders")
_PREFIX = {"b2c": "B2C_1_", "workforce": "B2X_1_"}
_PROVIDERS = "/identity/identityProviders/"
MAX_PAGES = 100


def permission(tenant_kind: str, *, write: bool) -> str:
    """The least-privileged application permission for user-flow links (docs/userflows.md 3).
    Reading the links of B2C and B2X flows goes through each flow's
    `userFlowIdentityProviders` list, whose pages name only `IdentityUserFlow.ReadWrite.All`
    (MGD api-reference/beta/api/b2cidentityuserflow-list-userflowidentityproviders.md)."""
    family = "EventListener" if tenant_kind == "external" else "IdentityUserFlow"
    writes = write or tenant_kind != "external"
    return f"{family}.{'ReadWrite' if writes else 'Read'}.All"


def link_permissions(plan: Plan) -> dict[str, str]:
    """{permission: why} for the plan's user-flow link changes (a checks.PERMISSION_RULES
    rule); the tenant kind shows in the links' paths."""
    linked = [c for c in plan.changes if c.links]
    if not linked:
        return {}
    external = linked[0].links[0].path.startswith(COLLECTIONS["external"])
    why = (f"to change the user flows of {linked[0].address}"
           + (f" and {len(linked) - 1} more" if len(linked) > 1 else ""))
    return {permission("external" if external else "b2c", write=True): why}


@dataclass(frozen=True)
class Flow:
    id: str
    name: str  # displayName, else the id (B2C and B2X flows are named by their id)
    providers: tuple[str, ...]  # Graph ids of the providers it offers
    path: str  # its provider-links collection, relative to the version root


@dataclass(frozen=True)
class Flows:
    """The tenant's user flows and their links, as read once."""

    tenant_kind: str
    flows: tuple[Flow, ...]

    def find(self, name: str) -> Flow | None:
        """By id or display name: exact first, then case-insensitive, then (B2C, B2X) with
        the `B2C_1_`/`B2X_1_` prefix Graph adds."""
        wanted = [name, _PREFIX.get(self.tenant_kind, "") + name]
        for candidate in wanted:
            for flow in self.flows:
                if candidate in (flow.id, flow.name):
                    return flow
            for flow in self.flows:
                if candidate.casefold() in (flow.id.casefold(), flow.name.casefold()):
                    return flow
        return None

    def offering(self, provider_id: str) -> tuple[Flow, ...]:
        return tuple(f for f in self.flows
                     if any(p.casefold() == provider_id.casefold() for p in f.providers))


def read(graph: Any, tenant_kind: str) -> Flows:
    """Every flow of the tenant kind with the providers it offers. External ID: one GET of
    `authenticationEventsFlows` (plus pages), providers inline (MGD api-reference/v1.0/api/
    identitycontainer-list-authenticationeventsflows.md, example 1). B2C and B2X: one GET of
    the flow list (plus pages), then each flow's `userFlowIdentityProviders` list, 20 GETs a
    `$batch` (MGD .../b2cidentityuserflow-list-userflowidentityproviders.md,
    .../b2xidentityuserflow-list-userflowidentityproviders.md): 1 + ceil(flows / 20)."""
    items = _pages(graph, COLLECTIONS[tenant_kind], tenant_kind)
    flows = [_flow(item, tenant_kind) for item in items]
    if tenant_kind != "external" and flows:
        flows = _with_linked(graph, flows, tenant_kind)
    return Flows(tenant_kind, tuple(flows))


def _pages(graph: Any, url: str | None, tenant_kind: str) -> list[Any]:
    items: list[Any] = []
    for _ in range(MAX_PAGES):
        if url is None:
            break
        try:
            page = graph.request("GET", url).body
        except AuthError as error:
            raise _refused(error, tenant_kind) from None
        if not isinstance(page, dict) or not isinstance(page.get("value"), list):
            raise GraphError("Graph answered a user-flow list without a 'value' array")
        items.extend(page["value"])
        url = _next(graph, page.get("@odata.nextLink"))
    return items


def _with_linked(graph: Any, flows: list[Flow], tenant_kind: str) -> list[Flow]:
    """The flows with the ids each one's `userFlowIdentityProviders` list holds."""
    from idpctl.graph.batch import BatchRequest

    requests = [BatchRequest(id=f"flow{n}", method="GET", url=flow.path)
                for n, flow in enumerate(flows)]
    results = graph.batch(requests)
    out = []
    for request, flow in zip(requests, flows, strict=True):
        result = results.get(request.id.lower()) or results.get(request.id)
        if result is not None and result.status in (401, 403):
            raise _refused(AuthError(f"Graph answered {result.status}", status=result.status),
                           tenant_kind)
        body = result.body if result is not None else None
        if result is None or not result.ok or not isinstance(body, dict) \
                or not isinstance(body.get("value"), list):
            status = "no answer" if result is None else f"status {result.status}"
            raise GraphError(f"Graph did not list the providers of user flow {flow.id!r} "
                             f"({status})")
        linked = list(body["value"])
        if body.get("@odata.nextLink") is not None:
            linked += _pages(graph, _next(graph, body["@odata.nextLink"]), tenant_kind)
        out.append(replace(flow, providers=_ids(linked)))
    return out


def _refused(error: AuthError, tenant_kind: str) -> AuthError:
    return AuthError(f"Graph refused to read the user flows ({error.status}): the app needs "
                     f"{permission(tenant_kind, write=False)} with admin consent (docs/"
                     "userflows.md 3)", status=error.status, code=error.code,
                     request_id=error.request_id)


def _next(graph: Any, link: Any) -> str | None:
    if link is None:
        return None
    if not isinstance(link, str) or not link.startswith(str(graph.base_url) + "/"):
        raise GraphError("Graph's user-flow @odata.nextLink points elsewhere: refused")
    return link


def _ids(linked: Any) -> tuple[str, ...]:
    return tuple(p["id"] for p in linked or () if isinstance(p, Mapping)
                 and isinstance(p.get("id"), str))


def _flow(item: Any, tenant_kind: str) -> Flow:
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise GraphError("Graph listed a user flow without an id")
    flow_id = item["id"]
    linked: Any = ()
    segment = "userFlowIdentityProviders"
    if tenant_kind == "external":
        handler = item.get("onAuthenticationMethodLoadStart") or {}
        linked = handler.get("identityProviders") if isinstance(handler, Mapping) else None
        segment = _EVENTS
    name = item.get("displayName") if isinstance(item.get("displayName"), str) else flow_id
    path = f"{COLLECTIONS[tenant_kind]}/{urllib.parse.quote(flow_id, safe='')}/{segment}"
    return Flow(id=flow_id, name=name or flow_id, providers=_ids(linked), path=path)


# ---- planning (pure) ---------------------------------------------------------------------


def wanted(providers: Sequence[Provider]) -> bool:
    """True when some provider manages its user flows."""
    return any(p.user_flows is not None and not p.absent for p in providers)


def needed(plan: Plan, providers: Sequence[Provider], state: State | None = None) -> bool:
    """True when the flows must be read for `plan`: some provider manages its flows, the
    plan deletes or replaces a provider that exists in Graph (a flow may still offer it, and
    it must leave the flow first), or a desired provider's record keeps flows to re-attach."""
    pending = state is not None and any(
        state.providers[p.address].relink for p in providers
        if not p.absent and p.address in state.providers)
    return wanted(providers) or pending or any(c.action.destructive and c.graph_id
                                               for c in plan.changes)


def plan_links(plan: Plan, providers: Sequence[Provider], live: Sequence[LiveProvider],
               state: State, *, flows: Flows | None) -> Plan:
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
        change = _linked(changes.get(address), desired.get(address), ids.get(address), flows,
                         _pending(state, address, flows))
        if change is not None:
            changes[address] = change
    return replace(plan, changes=tuple(in_apply_order(changes.values())),
                   unchanged=tuple(a for a in plan.unchanged if a not in changes))


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


def _linked(change: Change | None, provider: Provider | None, live_id: str | None,
            flows: Flows, pending: tuple[Flow, ...] | None = None) -> Change | None:
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
    again = [f for f in attach if pending and f in pending and provider is not None
             and provider.user_flows is None]
    field = FieldChange(FIELD, before=[names[f.id] for f in current] if change is None
                        or change.action is not Action.CREATE else None,
                        after=[names[f.id] for f in target],
                        note=_note(detach, attach, names, replacing=replacing, again=again))
    links = tuple([FlowLink(f.id, names[f.id], f.path, attach=False) for f in detach]
                  + [FlowLink(f.id, names[f.id], f.path, attach=True) for f in attach])
    if change is None:
        assert provider is not None and old_id is not None
        return Change(action=Action.UPDATE, kind=provider.kind, key=provider.key,
                      graph_id=old_id, fields=(field,), desired=provider, links=links,
                      reasons=(Reason.UPDATE_USER_FLOWS,))
    notes = change.notes
    if again and not replacing:
        notes = (*notes, f"re-attaches to user flow(s) {', '.join(names[f.id] for f in again)}"
                 ": the old object left them in a replace that did not finish (kept in the "
                 "state)")
    if change.action.destructive and current:
        left = ", ".join(names[f.id] for f in current)
        notes = (*notes, f"leaves user flow(s) {left}" if not replacing else
                 f"the old object leaves user flow(s) {left}"
                 + (f"; the new one joins {', '.join(names[f.id] for f in attach)}"
                    if attach else ""))
    linked = replace(change, fields=(*change.fields, field), links=links, notes=notes)
    if change.action in (Action.UPDATE, Action.ADOPT):
        return linked.because(Reason.UPDATE_USER_FLOWS)
    return linked


def _cleared(provider: Provider | None, old_id: str | None,
             pending: tuple[Flow, ...] | None) -> Change | None:
    """A state-only update clearing a record's pending flows once nothing is left to attach
    (the provider is back in them, or they are gone from the tenant)."""
    if pending is None or provider is None or old_id is None:
        return None
    field = FieldChange("relink", before=[f.name for f in pending], after=[], state_only=True,
                        note="state only: nothing left to re-attach (already in these flows, "
                             "or they are gone); cleared")
    return Change(action=Action.UPDATE, kind=provider.kind, key=provider.key, graph_id=old_id,
                  fields=(field,), desired=provider, reasons=(Reason.STATE_ONLY_RELINK_CLEARED,))


def _target(provider: Provider | None, current: tuple[Flow, ...], flows: Flows,
            change: Change | None,
            pending: tuple[Flow, ...] | None = None) -> tuple[Flow, ...] | None:
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
            raise PlanError(f"{where}{provider.address}: userFlows: no user flow named "
                            f"{name!r} in the tenant (flows: {known})")
        if flow not in out:
            out.append(flow)
    return tuple(out)


def _spelled(provider: Provider | None, flows: Flows) -> dict[str, str]:
    """Flow id -> the name as the configuration writes it."""
    if provider is None or not provider.user_flows:
        return {}
    out = {}
    for name in provider.user_flows:
        flow = flows.find(name)
        if flow is not None:
            out.setdefault(flow.id, name)
    return out


def _note(detach: Sequence[Flow], attach: Sequence[Flow], names: Mapping[str, str], *,
          replacing: bool = False, again: Sequence[Flow] = ()) -> str:
    if replacing:
        return (("detach the old object from " + ", ".join(names[f.id] for f in detach)
                 if detach else "")
                + ("; " if detach and attach else "")
                + ("attach the new one to " + ", ".join(names[f.id] for f in attach)
                   if attach else ""))
    parts = []
    if detach:
        parts.append("detach from " + ", ".join(names[f.id] for f in detach))
    fresh = [f for f in attach if f not in again]
    if fresh:
        parts.append("attach to " + ", ".join(names[f.id] for f in fresh))
    if again:
        parts.append("re-attach to " + ", ".join(names[f.id] for f in again))
    return "; ".join(parts)


# ---- apply: batch items ------------------------------------------------------------------


def link_items(change: Change, provider_id: str, *, attach: bool,
               root: str) -> list[dict[str, Any]]:
    """Batch items (apply's item shape) adding or removing the change's links for
    `provider_id`; ids are `<address>#link:<flow>` / `<address>#unlink:<flow>`. `root` is the
    configured Graph version root (`https://graph.microsoft.us/beta` in a national cloud):
    the `@odata.id` names the provider on that host, never graph.microsoft.com."""
    items = []
    quoted = urllib.parse.quote(provider_id, safe="")
    for link in change.links:
        if link.attach != attach:
            continue
        if attach:
            items.append({"id": f"{change.address}#link:{link.flow_id}", "method": "POST",
                          "url": f"{link.path}/$ref", "depends_on": (),
                          "body": {"@odata.id": root.rstrip("/") + _PROVIDERS + quoted}})
        else:
            items.append({"id": f"{change.address}#unlink:{link.flow_id}", "method": "DELETE",
                          "url": f"{link.path}/{quoted}/$ref", "body": None, "depends_on": ()})
    return items


def settled(result: Any) -> Any:
    """A link answer that finds what it wanted counts as done: an unlink answered 404 (not
    linked any more) and a link answered 400 'already exist' (a retry after a lost answer)."""
    if result is None or not isinstance(getattr(result, "id", None), str):
        return result
    if "#unlink:" in result.id and result.status == 404:
        return replace(result, status=204)
    if "#link:" in result.id and result.status == 400 and "already exist" in str(result.body):
        return replace(result, status=204)
    return result
