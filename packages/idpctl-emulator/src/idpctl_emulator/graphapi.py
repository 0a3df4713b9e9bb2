"""The Graph routes of the emulator: `/v1.0/...` and `/beta/...` (identity providers, the
retired `/identityProviders` API, `$batch`), from one `wire.Request` to one `wire.Response`.

The `Emulator` (server.py) sends a Graph request here after the token check; query options,
paging and Graph's error shapes are handled here, the data by the `Store`.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from idpctl_emulator import batch, wire
from idpctl_emulator.graphvalues import GraphFault as GraphFaultError
from idpctl_emulator.records import retired_api

if TYPE_CHECKING:
    from idpctl_emulator.server import Emulator

__all__ = ["GraphApi"]

_GRAPH_PATH = re.compile(r"^/(v1\.0|beta)(/.*)?$")
_PROVIDERS = "/identity/identityProviders"
_KEY_FORM = re.compile(r"^\('(?P<id>[^']*)'\)$")
# the reading `errors=generic` (the default): the docs publish no per-API texts (GRAPH.md
# 4.7, 7.13), so every text is one a client must not lean on, except the ones seen from Graph
GENERIC_MESSAGE = "The request could not be completed."
_DOCUMENTED_TEXTS = (
    # microsoft-graph-docs-contrib#3602: the wrong verb on a user-flow $ref
    re.compile(r"^The request is currently not supported on the targeted entity set$"),
    # microsoft-graph-docs-contrib#5507: a provider id not in the tenant
    re.compile(r"^IdentityProvider with 'id': '[^']*' cannot be found in the directory "),
)
_UNSUPPORTED_QUERY = ("$filter", "$top", "$orderby", "$expand", "$search", "$count", "$skip")


class GraphApi:
    """Routes `/v1.0/...` and `/beta/...`: identity providers, the retired API, `$batch`."""

    def __init__(self, app: Emulator, *, page_size: int) -> None:
        self.app = app
        self.page_size = page_size

    @staticmethod
    def owns(path: str) -> bool:
        return _GRAPH_PATH.match(path) is not None

    def handle(self, request: wire.Request) -> wire.Response:
        version, sub = _split(request.path)
        if sub == "/$batch":
            denied = self.app.identity.authorize(request, write=False)
            if denied is not None:
                return denied
            rule = self.app.faults.fire(request.method, [request.path])
            return self.app.with_fault(rule, request, lambda: self._batch(request, version))
        return self.execute(request, version, sub, [request.path])

    def execute(
        self, request: wire.Request, version: str, sub: str, paths: list[str]
    ) -> wire.Response:
        """One Graph request (or batch item): token, throttle, fault, then the store."""
        flows = self.app.userflows
        roles = flows.required_roles(request, sub) if flows.owns(sub.rstrip("/")) else None
        denied = self.app.identity.authorize(request, write=request.method != "GET", roles=roles)
        if denied is not None:
            return denied
        throttled = self.app.throttled(request)
        if throttled is not None:
            return throttled
        rule = self.app.faults.fire(request.method, paths)
        return self.app.with_fault(rule, request, lambda: self._route(request, version, sub))

    def _route(self, request: wire.Request, version: str, sub: str) -> wire.Response:
        try:
            return self._dispatch(request, version, sub)
        except GraphFaultError as fault:
            message = fault.message
            if self.app.store.readings.errors == "generic" and not _documented(message):
                message = GENERIC_MESSAGE  # reading errors=generic: no text to lean on
            return wire.graph_error(
                fault.status,
                fault.code,
                message,
                request_id=request.request_id,
                client_request_id=request.headers.get("client-request-id"),
                headers=fault.headers,
            )

    def _dispatch(self, request: wire.Request, version: str, sub: str) -> wire.Response:
        method = request.method
        sub = sub.rstrip("/") or sub
        if self.app.userflows.owns(sub):
            return self.app.userflows.handle(request, version, sub)
        if sub == _PROVIDERS or sub.startswith(_PROVIDERS + "("):
            key = _KEY_FORM.match(sub[len(_PROVIDERS) :])
            if key:
                return self._one(request, version, unquote(key.group("id")))
            return self._collection(request, version)
        if sub.startswith(_PROVIDERS + "/"):
            rest = unquote(sub[len(_PROVIDERS) + 1 :])
            if rest in ("availableProviderTypes", "availableProviderTypes()"):
                _require(method, ("GET",))
                types = self.app.store.available_provider_types(version)
                context = f"{self._base()}/{version}/$metadata#Collection(Edm.String)"
                return wire.json_response(200, {"@odata.context": context, "value": types})
            if "/" in rest or not rest:
                raise _segment_not_found(rest.split("/")[-1])
            return self._one(request, version, rest)
        if sub == "/identityProviders" or sub.startswith("/identityProviders/"):
            status, payload = retired_api(version, method, with_id=sub != "/identityProviders")
            if "error" in payload:
                raise GraphFaultError(status, payload["error"]["code"], payload["error"]["message"])
            return wire.json_response(status, payload)
        raise _segment_not_found(sub.strip("/").split("/")[0] or version)

    def _collection(self, request: wire.Request, version: str) -> wire.Response:
        _require(request.method, ("GET", "POST"))
        store = self.app.store
        if request.method == "POST":
            created = store.create(version, _json_body(request))
            body = {
                "@odata.context": store.context_url(version, self._base(), entity=True),
                **created,
            }
            location = f"{self._base()}/{version}{_PROVIDERS}/{quote(created['id'], safe='')}"
            return wire.json_response(201, body, {"Location": location})
        _refuse_query_options(request)
        select = _select(request)
        offset = _decode_skiptoken(request.query_one("$skiptoken"))
        items, more = store.page(version, offset=offset, size=self.page_size, select=select)
        body = {
            "@odata.context": store.context_url(version, self._base(), select=select),
            "value": items,
        }
        if more:
            body["@odata.nextLink"] = self._next_link(version, select, offset + self.page_size)
        return wire.json_response(200, body)

    def _one(self, request: wire.Request, version: str, provider_id: str) -> wire.Response:
        _require(request.method, ("GET", "PATCH", "DELETE"))
        store = self.app.store
        if request.method == "GET":
            _refuse_query_options(request)
            select = _select(request)
            item = store.get(version, provider_id, select=select)
            context = store.context_url(version, self._base(), select=select, entity=True)
            return wire.json_response(200, {"@odata.context": context, **item})
        if request.method == "PATCH":
            store.update(version, provider_id, _json_body(request))
        else:
            self.app.userflows.guard_delete(provider_id)
            store.delete(version, provider_id)
        return wire.Response(204)

    def _next_link(self, version: str, select: list[str] | None, offset: int) -> str:
        token = base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")
        query = f"$select={quote(','.join(select), safe=',')}&" if select else ""
        return f"{self._base()}/{version}{_PROVIDERS}?{query}$skiptoken={token}"

    def _base(self) -> str:
        return self.app.base_url_fn().rstrip("/")

    def _batch(self, request: wire.Request, version: str) -> wire.Response:
        return batch.respond(
            request,
            version,
            finish=wire.finish,
            execute=lambda inner, sub, paths: self.execute(inner, version, sub, paths),
            record=lambda inner, response: self.app.log.record(
                inner, response, batch=request.request_id
            ),
        )


def _split(path: str) -> tuple[str, str]:
    match = _GRAPH_PATH.match(path)
    assert match is not None
    return match.group(1), match.group(2) or ""


def _documented(message: str) -> bool:
    return any(text.match(message) for text in _DOCUMENTED_TEXTS)


def _segment_not_found(segment: str) -> Exception:
    return GraphFaultError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def _require(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise GraphFaultError(
            405, "notAllowed", "Specified HTTP method is not allowed for the request uri."
        )


def _json_body(request: wire.Request) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise GraphFaultError(400, "BadRequest", "The request body is not valid JSON.") from None


def _select(request: wire.Request) -> list[str] | None:
    raw = request.query_one("$select")
    return [name.strip() for name in raw.split(",")] if raw else None


def _refuse_query_options(request: wire.Request) -> None:
    """GRAPH.md 5.5: only `$select` is documented (and `$skiptoken` from our own nextLink)."""
    for name in request.query:
        if name.lower() in _UNSUPPORTED_QUERY:
            raise GraphFaultError(
                400, "BadRequest", f"Query option '{name}' is not supported on this resource."
            )


def _decode_skiptoken(token: str | None) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if text.startswith("o:") and int(text[2:]) >= 0:
            return int(text[2:])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise GraphFaultError(400, "BadRequest", "The $skiptoken is not valid.")
