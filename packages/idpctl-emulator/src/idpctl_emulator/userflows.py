"""User flows and the identity providers they offer, per tenant kind (docs/userflows.md).

One collection per tenant kind, each addressed as in the Graph docs:

    b2c        /identity/b2cUserFlows/{id}/userFlowIdentityProviders[/{idp}]/$ref    (beta)
    workforce  /identity/b2xUserFlows/{id}/userFlowIdentityProviders[/{idp}]/$ref    (beta)
    external   /identity/authenticationEventsFlows/{id}/<EVENTS>/identityProviders[/{idp}]/$ref
               with <EVENTS> = microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/
               onAuthenticationMethodLoadStart/
               microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp

A link is added with `POST .../$ref {"@odata.id": "<this service>/<version>/identity/
identityProviders/{idp}"}` and removed with `DELETE .../{idp}/$ref`; PATCH on a `$ref` is 405
MethodNotAllowed (docs issue microsoft-graph-docs-contrib#9069), any other verb the BadRequest
of GRAPH.md 4.7. Query options: only the documented `$expand=identityProviders` on the B2C
and B2X flow lists; every other option (`$expand` of anything else, `$filter`, `$top`, ...)
is 400, as the emulator does not know them to work (docs/userflows.md 6).
`UserFlows.required_roles` names the permissions a request needs; the server checks them.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from idpctl_emulator import wire
from idpctl_emulator.graphvalues import GraphFault

__all__ = ["COLLECTIONS", "UserFlows", "roles_for"]

COLLECTIONS = {
    "b2c": "b2cUserFlows",
    "workforce": "b2xUserFlows",
    "external": "authenticationEventsFlows",
}
_EVENTS = (
    "microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/"
    "onAuthenticationMethodLoadStart/"
    "microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp/"
    "identityProviders"
)
_LINKS = {
    "b2cUserFlows": "userFlowIdentityProviders",
    "b2xUserFlows": "userFlowIdentityProviders",
    "authenticationEventsFlows": _EVENTS,
}
_FLOW_TYPES = {
    "b2cUserFlows": "#microsoft.graph.b2cIdentityUserFlow",
    "b2xUserFlows": "#microsoft.graph.b2xIdentityUserFlow",
    "authenticationEventsFlows": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
}
_PATH = re.compile(
    r"^/identity/(?P<coll>b2cUserFlows|b2xUserFlows|authenticationEventsFlows)"
    r"(?:/(?P<flow>[^/]+)(?P<rest>/.*)?)?$",
    re.IGNORECASE,
)
_ODATA_ID = re.compile(r"/identityProviders/(?P<id>[^/?#]+)$")
_WRONG_VERB = "The request is currently not supported on the targeted entity set"
_DEFAULT_LINKS = {"b2c": (), "workforce": (), "external": ("EmailPassword-OAUTH",)}


def roles_for(tenant_kind: str, *, write: bool) -> frozenset[str]:
    """The application permissions that allow a user-flow request (docs/userflows.md 3):
    `EventListener.*` for External ID's authentication events flows, `IdentityUserFlow.*`
    for B2C and B2X user flows."""
    family = "EventListener" if tenant_kind == "external" else "IdentityUserFlow"
    return (
        frozenset({f"{family}.ReadWrite.All"})
        if write
        else frozenset({f"{family}.Read.All", f"{family}.ReadWrite.All"})
    )


class UserFlows:
    """The user flows of one emulated tenant and their provider links. Thread-safe."""

    def __init__(
        self,
        *,
        tenant_kind: str,
        provider: Callable[[str], dict],
        base_url: Callable[[], str] = lambda: "https://graph.microsoft.com",
    ) -> None:
        self.tenant_kind = tenant_kind
        self._base_url = base_url  # this service's root: the host an @odata.id must name
        self.collection = COLLECTIONS[tenant_kind]
        self._provider = provider  # provider id -> its GET rendering; raises 404 GraphFault
        self._lock = threading.RLock()
        self._flows: dict[str, dict[str, Any]] = {}

    # ---- routing --------------------------------------------------------------------------

    @staticmethod
    def owns(sub: str) -> bool:
        return _PATH.match(sub) is not None

    def required_roles(self, request: wire.Request, sub: str) -> frozenset[str]:
        write = request.method != "GET"
        match = _PATH.match(sub)
        rest = (match.group("rest") or "") if match else ""
        if rest and not write and self.tenant_kind != "external":
            # the per-flow list page names only ReadWrite (b2cidentityuserflow-list-...)
            return roles_for(self.tenant_kind, write=True)
        return roles_for(self.tenant_kind, write=write)

    def handle(self, request: wire.Request, version: str, sub: str) -> wire.Response:
        match = _PATH.match(sub)
        assert match is not None
        coll = match.group("coll")
        if coll.lower() != self.collection.lower():
            raise GraphFault(
                400, "BadRequest", f"'{coll}' is not available in a {self.tenant_kind} tenant."
            )
        if version != "beta" and coll.lower() != "authenticationeventsflows":
            raise _segment(coll)
        flow_id = unquote(match.group("flow") or "")
        rest = match.group("rest") or ""
        if not flow_id:
            _require(request.method, ("GET",))
            return self._list(request)
        flow = self._find(flow_id)
        if not rest:
            _require(request.method, ("GET",))
            _no_query(request)
            return wire.json_response(200, self._render(flow, expand=False))
        return self._links(request, flow, rest)

    def _links(self, request: wire.Request, flow: dict[str, Any], rest: str) -> wire.Response:
        prefix = "/" + _LINKS[self.collection]
        if not rest.lower().startswith(prefix.lower()):
            raise _segment(rest.strip("/").split("/")[0])
        tail = rest[len(prefix) :].rstrip("/")
        if tail == "":
            _require(request.method, ("GET",))
            _no_query(request)
            return wire.json_response(200, {"value": self._providers(flow)})
        if tail.endswith("/$ref"):
            _no_patch_on_ref(request)
        if tail == "/$ref":
            if request.method != "POST":
                raise GraphFault(400, "BadRequest", _WRONG_VERB)
            self._attach(flow, self._referenced_id(request))
            return wire.Response(204)
        match = re.fullmatch(r"/([^/]+)/\$ref", tail)
        if match is None:
            raise _segment(tail.strip("/").split("/")[-1])
        if request.method != "DELETE":
            raise GraphFault(400, "BadRequest", _WRONG_VERB)
        self._detach(flow, unquote(match.group(1)))
        return wire.Response(204)

    # ---- Graph operations -----------------------------------------------------------------

    def _list(self, request: wire.Request) -> wire.Response:
        expand = self._expand(request)
        with self._lock:
            flows = [self._render(f, expand=expand) for f in self._flows.values()]
        return wire.json_response(200, {"value": flows})

    def _attach(self, flow: dict[str, Any], provider_id: str) -> None:
        self._provider(provider_id)  # 404 when the provider does not exist
        with self._lock:
            links = flow["links"]
            if any(p.lower() == provider_id.lower() for p in links):
                raise GraphFault(
                    400,
                    "BadRequest",
                    "One or more added object references "
                    "already exist for the following modified properties: "
                    f"'{_LINKS[self.collection].rsplit('/', 1)[-1]}'.",
                )
            links.append(provider_id)

    def _detach(self, flow: dict[str, Any], provider_id: str) -> None:
        with self._lock:
            links = flow["links"]
            found = [p for p in links if p.lower() == provider_id.lower()]
            if not found:
                raise GraphFault(
                    404,
                    "itemNotFound",
                    f"Identity provider '{provider_id}' is not linked to user flow '{flow['id']}'.",
                )
            if self.tenant_kind == "external" and len(links) == 1:
                raise GraphFault(
                    400,
                    "BadRequest",
                    "At least one identity provider must be "
                    f"specified for user flow '{flow['id']}'.",
                )
            links.remove(found[0])

    def _providers(self, flow: dict[str, Any]) -> list[dict]:
        out = []
        for provider_id in list(flow["links"]):
            try:
                out.append(self._provider(provider_id))
            except GraphFault:
                continue  # deleted behind the flow's back (only the admin API can do that)
        return out

    def _render(self, flow: dict[str, Any], *, expand: bool) -> dict[str, Any]:
        body = {k: copy.deepcopy(v) for k, v in flow.items() if k != "links"}
        if self.collection == "authenticationEventsFlows":
            body["onAuthenticationMethodLoadStart"] = {
                "@odata.type": "#microsoft.graph."
                "onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp",
                "identityProviders": self._providers(flow),
            }
        elif expand:
            body["identityProviders"] = [_legacy(p) for p in self._providers(flow)]
        return body

    def _expand(self, request: wire.Request) -> bool:
        """The list's query: none, or (B2C, B2X) the documented `$expand=identityProviders`
        (MGD api-reference/beta/api/identitycontainer-list-b2cuserflows.md and
        identitycontainer-list-b2xuserflows.md, example 2). Anything else is 400: the
        emulator does not know it to work (`$expand=userFlowIdentityProviders` is on no docs
        page; the External ID list's `$filter`, `$expand`, `$top` are documented, but what
        they return is not shown for every form, so they are refused: an assumption)."""
        for name, values in request.query.items():
            if name.lower() != "$expand" or self.collection == "authenticationEventsFlows":
                raise GraphFault(
                    400, "BadRequest", f"Query option '{name}' is not supported on this resource."
                )
            for value in values:
                if value.strip() != "identityProviders":
                    raise GraphFault(
                        400, "BadRequest", f"Could not find a property named '{value}' to expand."
                    )
        return bool(request.query)

    def _referenced_id(self, request: wire.Request) -> str:
        """The provider id an `@odata.id` names. **Assumption** (the docs show only
        graph.microsoft.com): the reference names the service the request went to, as a
        national cloud's Graph would; another host is 400."""
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            raise GraphFault(400, "BadRequest", "The request body is not valid JSON.") from None
        ref = body.get("@odata.id") if isinstance(body, dict) else None
        match = _ODATA_ID.search(ref) if isinstance(ref, str) else None
        base = urlsplit(self._base_url())
        if match is None or urlsplit(ref).netloc.lower() != base.netloc.lower():
            raise GraphFault(
                400,
                "BadRequest",
                'The request body must be {"@odata.id": '
                f'"{self._base_url().rstrip("/")}/beta/identity/'
                "identityProviders/{id}\"} on this service's host.",
            )
        return unquote(match.group("id"))

    def _find(self, flow_id: str) -> dict[str, Any]:
        with self._lock:
            for key, flow in self._flows.items():
                if key.lower() == flow_id.lower():
                    return flow
        raise GraphFault(404, "itemNotFound", f"User flow '{flow_id}' was not found.")

    # ---- admin API and the provider delete guard -----------------------------------------

    def referencing(self, provider_id: str) -> list[str]:
        """Names of the flows that offer `provider_id` (displayName, else id)."""
        with self._lock:
            return [
                str(f.get("displayName") or f["id"])
                for f in self._flows.values()
                if any(p.lower() == provider_id.lower() for p in f["links"])
            ]

    def guard_delete(self, provider_id: str) -> None:
        """GRAPH.md 7.10, the stricter choice: a provider a flow still offers is not deleted."""
        names = self.referencing(provider_id)
        if names:
            raise GraphFault(
                409,
                "Conflict",
                f"Identity provider '{provider_id}' is still used "
                f"by user flow(s) {', '.join(repr(n) for n in names)}; remove it "
                "from them first.",
            )

    def seed(self, body: Any) -> dict[str, Any]:
        """Add a flow as if made in the portal: `{id?, displayName?, identityProviders?: [ids],
        ...}`. B2C ids get the `B2C_1_` prefix Graph gives them (B2X: `B2X_1_`)."""
        if not isinstance(body, dict):
            raise GraphFault(400, "BadRequest", "The request body must be a JSON object.")
        links = body.get("identityProviders", list(_DEFAULT_LINKS[self.tenant_kind]))
        if not isinstance(links, list) or not all(isinstance(p, str) for p in links):
            raise GraphFault(400, "BadRequest", "identityProviders: a list of provider ids")
        flow = {k: copy.deepcopy(v) for k, v in body.items() if k != "identityProviders"}
        flow["id"] = self._new_id(flow)
        flow.setdefault("@odata.type", _FLOW_TYPES[self.collection])
        if self.collection == "authenticationEventsFlows" and not flow.get("displayName"):
            raise GraphFault(400, "BadRequest", "displayName is required.")
        with self._lock:
            if any(k.lower() == flow["id"].lower() for k in self._flows):
                raise GraphFault(
                    409, "nameAlreadyExists", f"A user flow with id '{flow['id']}' already exists."
                )
            self._flows[flow["id"]] = {**flow, "links": list(dict.fromkeys(links))}
            return self.describe(flow["id"])

    def set_links(self, flow_id: str, body: Any) -> dict[str, Any]:
        """Replace a flow's links, unchecked (a portal edit): `{"identityProviders": [ids]}`."""
        links = body.get("identityProviders") if isinstance(body, dict) else None
        if not isinstance(links, list) or not all(isinstance(p, str) for p in links):
            raise GraphFault(400, "BadRequest", 'send {"identityProviders": [ids]}')
        with self._lock:
            self._find(flow_id)["links"] = list(dict.fromkeys(links))
            return self.describe(self._find(flow_id)["id"])

    def describe(self, flow_id: str) -> dict[str, Any]:
        with self._lock:
            flow = self._find(flow_id)
            return {
                **{k: copy.deepcopy(v) for k, v in flow.items() if k != "links"},
                "identityProviders": list(flow["links"]),
            }

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {"userFlows": [self.describe(k) for k in self._flows]}

    def reset(self) -> None:
        with self._lock:
            self._flows.clear()

    def _new_id(self, flow: dict[str, Any]) -> str:
        if self.collection == "authenticationEventsFlows":
            return str(flow.get("id") or uuid.uuid4())
        given = str(flow.get("id") or flow.get("displayName") or "")
        if not given:
            raise GraphFault(400, "BadRequest", "id (the flow name) is required.")
        prefix = "B2C_1_" if self.collection == "b2cUserFlows" else "B2X_1_"
        return given if given.upper().startswith(prefix) else prefix + given


def _legacy(provider: dict[str, Any]) -> dict[str, Any]:
    """A provider in the shape the list pages' `$expand=identityProviders` example shows
    (the retired `identityProvider` type: id, type, name, clientId, clientSecret masked)."""
    return {
        "id": provider.get("id"),
        "type": provider.get("identityProviderType") or "OpenIDConnect",
        "name": provider.get("displayName"),
        "clientId": provider.get("clientId"),
        "clientSecret": "*******" if provider.get("clientId") else None,
    }


def _no_query(request: wire.Request) -> None:
    for name in request.query:
        raise GraphFault(
            400, "BadRequest", f"Query option '{name}' is not supported on this resource."
        )


def _no_patch_on_ref(request: wire.Request) -> None:
    """docs issue microsoft-graph-docs-contrib#9069: Graph answers a PATCH on a `$ref` with
    405 MethodNotAllowed "Only GET, POST, PUT, DELETE are allowed for $ref requests"."""
    if request.method == "PATCH":
        raise GraphFault(
            405,
            "MethodNotAllowed",
            "Only GET, POST, PUT, DELETE are allowed for $ref requests, but received: | PATCH",
        )


def _require(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise GraphFault(
            405, "notAllowed", "Specified HTTP method is not allowed for the request uri."
        )


def _segment(segment: str) -> GraphFault:
    return GraphFault(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
