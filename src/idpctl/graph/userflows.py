"""User flows on Graph: the read of which flows offer each provider, and the `$batch` items
that add or remove a flow's link to a provider (docs/userflows.md).

The read (`read`) goes through documented endpoints only: the tenant kind's flow collection,
then (B2C, B2X) each flow's `userFlowIdentityProviders` list, sent as parallel `$batch` GETs;
External ID lists its providers inline. The pipeline makes it only when the draft plan needs
it (`plan.userflows.needed`), before planning: `plan.userflows.plan_links` gets the `Flows`
read, as data. `link_items` and `settled` are the link requests apply sends and how it reads
their answers. Endpoints, request counts and permissions: docs/userflows.md.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from idpctl.errors import AuthError, GraphError
from idpctl.graph.batch import BatchRequest, BatchResult
from idpctl.model import Change, Flow, Flows
from idpctl.model.flows import COLLECTIONS, permission

__all__ = ["MAX_PAGES", "FlowReader", "link_items", "read", "settled"]

_EVENTS = (
    "microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/"
    "onAuthenticationMethodLoadStart/"
    "microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp/"
    "identityProviders"
)
_PROVIDERS = "/identity/identityProviders/"
MAX_PAGES = 100


class _Answer(Protocol):
    @property
    def body(self) -> Any: ...


class FlowReader(Protocol):
    """What the read needs of a Graph client (`graph.client.GraphClient` is one)."""

    @property
    def base_url(self) -> str: ...

    def request(self, method: str, url: str) -> _Answer: ...

    def batch(self, requests: Sequence[BatchRequest]) -> Mapping[str, BatchResult]: ...


def read(graph: FlowReader, tenant_kind: str) -> Flows:
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


def _pages(graph: FlowReader, url: str | None, tenant_kind: str) -> list[Any]:
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


def _with_linked(graph: FlowReader, flows: list[Flow], tenant_kind: str) -> list[Flow]:
    """The flows with the ids each one's `userFlowIdentityProviders` list holds."""
    requests = [
        BatchRequest(id=f"flow{n}", method="GET", url=flow.path) for n, flow in enumerate(flows)
    ]
    results = graph.batch(requests)
    out = []
    for request, flow in zip(requests, flows, strict=True):
        result = results.get(request.id.lower()) or results.get(request.id)
        if result is not None and result.status in (401, 403):
            raise _refused(
                AuthError(f"Graph answered {result.status}", status=result.status), tenant_kind
            )
        body = result.body if result is not None else None
        if (
            result is None
            or not result.ok
            or not isinstance(body, dict)
            or not isinstance(body.get("value"), list)
        ):
            status = "no answer" if result is None else f"status {result.status}"
            raise GraphError(
                f"Graph did not list the providers of user flow {flow.id!r} ({status})"
            )
        linked = list(body["value"])
        if body.get("@odata.nextLink") is not None:
            linked += _pages(graph, _next(graph, body["@odata.nextLink"]), tenant_kind)
        out.append(replace(flow, providers=_ids(linked)))
    return out


def _refused(error: AuthError, tenant_kind: str) -> AuthError:
    return AuthError(
        f"Graph refused to read the user flows ({error.status}): the app needs "
        f"{permission(tenant_kind, write=False)} with admin consent (docs/"
        "userflows.md 3)",
        status=error.status,
        code=error.code,
        request_id=error.request_id,
    )


def _next(graph: FlowReader, link: Any) -> str | None:
    if link is None:
        return None
    if not isinstance(link, str) or not link.startswith(str(graph.base_url) + "/"):
        raise GraphError("Graph's user-flow @odata.nextLink points elsewhere: refused")
    return link


def _ids(linked: Any) -> tuple[str, ...]:
    return tuple(
        p["id"] for p in linked or () if isinstance(p, Mapping) and isinstance(p.get("id"), str)
    )


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


# ---- apply: batch items ------------------------------------------------------------------


def link_items(
    change: Change, provider_id: str, *, attach: bool, root: str
) -> list[dict[str, Any]]:
    """Batch items (apply's item shape) adding or removing the change's links for
    `provider_id`; ids are `<address>#link:<flow>` / `<address>#unlink:<flow>`. `root` is the
    configured Graph version root (`https://graph.microsoft.us/beta` in a national cloud):
    the `@odata.id` names the provider on that host, never graph.microsoft.com."""
    items: list[dict[str, Any]] = []
    quoted = urllib.parse.quote(provider_id, safe="")
    for link in change.links:
        if link.attach != attach:
            continue
        if attach:
            items.append(
                {
                    "id": f"{change.address}#link:{link.flow_id}",
                    "method": "POST",
                    "url": f"{link.path}/$ref",
                    "depends_on": (),
                    "body": {"@odata.id": root.rstrip("/") + _PROVIDERS + quoted},
                }
            )
        else:
            items.append(
                {
                    "id": f"{change.address}#unlink:{link.flow_id}",
                    "method": "DELETE",
                    "url": f"{link.path}/{quoted}/$ref",
                    "body": None,
                    "depends_on": (),
                }
            )
    return items


_Result = TypeVar("_Result", bound=BatchResult | None)


def settled(result: _Result) -> _Result:
    """A link answer that finds what it wanted counts as done: an unlink answered 404 (not
    linked any more) and a link answered 400 'already exist' (a retry after a lost answer)."""
    if result is None or not isinstance(getattr(result, "id", None), str):
        return result
    if "#unlink:" in result.id and result.status == 404:
        return replace(result, status=204)
    if "#link:" in result.id and result.status == 400 and "already exist" in str(result.body):
        return replace(result, status=204)
    return result
