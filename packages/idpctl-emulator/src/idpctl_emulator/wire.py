"""The emulator's request and response values and Graph's error shape, shared by every handler."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Request", "Response", "finish", "graph_error", "json_response"]


@dataclass
class Request:
    method: str  # upper case
    path: str  # as received, without the query string, e.g. /beta/identity/identityProviders
    query: dict[str, list[str]]  # parsed, values unquoted
    headers: dict[str, str]  # keys lower-cased
    body: bytes = b""
    client_host: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def query_one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # set by a fault: drop the connection, or hang until the client gives up
    action: str | None = None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    out = {"Content-Type": "application/json; odata.metadata=minimal"}
    out.update(headers or {})
    return Response(status, json.dumps(payload).encode("utf-8"), out)


def graph_error(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str,
    client_request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Graph's error body: {"error": {"code", "message", "innerError": {date, request-id, ...}}}."""
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
    }
    out = {"request-id": request_id, "client-request-id": client_request_id or request_id}
    out.update(headers or {})
    return json_response(
        status, {"error": {"code": code, "message": message, "innerError": inner}}, out
    )


def finish(request: Request, response: Response) -> Response:
    """The response with the request-id and client-request-id headers Graph always sends."""
    response.headers.setdefault("request-id", request.request_id)
    response.headers.setdefault(
        "client-request-id", request.headers.get("client-request-id") or request.request_id
    )
    return response
