"""The `/_emulator/` admin API (loopback only, no token) and the request log it serves.

Every endpoint takes and returns JSON; errors use Graph's error shape. docs/emulator.md lists
each request and response shape.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import re
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from idpctl_emulator import wire
from idpctl_emulator.faults import RuleError
from idpctl_emulator.readings import Readings
from idpctl_emulator.throttle import budget_for

if TYPE_CHECKING:
    from idpctl_emulator.server import Emulator

__all__ = ["AdminApi", "RequestLog", "read_json_file", "write_json_atomic"]

logger = logging.getLogger(__name__)

LOG_LIMIT = 10_000
# credential-bearing keys of the non-Graph bodies the log also sees (Key Vault's secret
# `value`, OAuth grants); the store's redaction covers Graph's write-only properties
_EXTRA_SECRET_KEYS = frozenset(
    {
        "value",
        "assertion",
        "password",
        "refresh_token",
        "secret",
        "client_secret",
        "client_assertion",
        "access_token",
        "token",
    }
)


def _scrub(value: Any) -> Any:
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: {"sha256": hashlib.sha256(item.encode("utf-8")).hexdigest()}
        if key in _EXTRA_SECRET_KEYS and isinstance(item, str)
        else _scrub(item)
        for key, item in value.items()
    }


class RequestLog:
    """The last `LOG_LIMIT` Graph, token and other non-admin requests, bodies redacted."""

    def __init__(self, *, redact: Callable[[Any], Any], limit: int = LOG_LIMIT) -> None:
        self._redact = redact
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)

    def record(
        self, request: wire.Request, response: wire.Response, *, batch: str | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "status": response.status if not response.action else None,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "body": _scrub(self._redact(request.body)) if request.body else None,
            "requestId": request.request_id,
        }
        if request.query:
            entry["query"] = {k: v[0] if len(v) == 1 else v for k, v in request.query.items()}
        if response.action:
            entry["action"] = response.action
        if batch:
            entry["batch"] = batch
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _body(request: wire.Request) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise _AdminError(400, "BadRequest", "The request body is not valid JSON.") from None


def _object(request: wire.Request) -> dict[str, Any]:
    body = _body(request)
    if not isinstance(body, dict):
        raise _AdminError(400, "BadRequest", "The request body must be a JSON object.")
    return body


class AdminApi:
    """Routes `/_emulator/...` for one `Emulator`."""

    def __init__(self, app: Emulator) -> None:
        self.app = app
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., wire.Response]]] = [
            ("POST", re.compile(r"/_emulator/reset"), self._reset),
            ("POST", re.compile(r"/_emulator/providers"), self._seed),
            ("PATCH", re.compile(r"/_emulator/providers/(?P<id>[^/]+)"), self._drift),
            ("GET", re.compile(r"/_emulator/store"), self._store),
            ("GET", re.compile(r"/_emulator/requests"), self._requests),
            ("DELETE", re.compile(r"/_emulator/requests"), self._clear_requests),
            ("GET", re.compile(r"/_emulator/faults"), self._faults),
            ("POST", re.compile(r"/_emulator/faults"), self._add_fault),
            ("DELETE", re.compile(r"/_emulator/faults"), self._clear_faults),
            ("GET", re.compile(r"/_emulator/readings"), self._readings),
            ("PUT", re.compile(r"/_emulator/readings"), self._set_readings),
            ("GET", re.compile(r"/_emulator/latency"), self._latency),
            ("PUT", re.compile(r"/_emulator/latency"), self._set_latency),
            ("GET", re.compile(r"/_emulator/rate-limit"), self._rate_limit),
            ("PUT", re.compile(r"/_emulator/rate-limit"), self._set_rate_limit),
            ("POST", re.compile(r"/_emulator/rate-limit/spend"), self._spend),
            ("GET", re.compile(r"/_emulator/clients"), self._clients),
            ("POST", re.compile(r"/_emulator/clients"), self._register),
            ("GET", re.compile(r"/_emulator/info"), self._info),
            ("GET", re.compile(r"/_emulator/userflows"), self._flows),
            ("POST", re.compile(r"/_emulator/userflows"), self._seed_flow),
            ("PATCH", re.compile(r"/_emulator/userflows/(?P<id>[^/]+)"), self._flow_links),
        ]

    def handle(self, request: wire.Request) -> wire.Response:
        if not _loopback(request.client_host):
            return self._error(
                request, 403, "accessDenied", "The admin API answers loopback clients only."
            )
        path_known = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path.rstrip("/"))
            if not match:
                continue
            path_known = True
            if method == request.method:
                try:
                    return handler(request, **match.groupdict())
                except _AdminError as error:
                    return self._error(request, error.status, error.code, error.message)
                except Exception as error:  # the store's GraphFault and ValueErrors
                    return self._from_exception(request, error)
        if path_known:
            return self._error(request, 405, "notAllowed", "Method not allowed here.")
        # the identity side's own admin endpoints (GitHub, managed identity, Key Vault)
        identity_admin = getattr(self.app.identity, "handle_admin", None)
        response = identity_admin(request) if identity_admin else None
        if response is not None:
            return response
        return self._error(request, 404, "UnknownPath", f"No admin endpoint {request.path}.")

    def _from_exception(self, request: wire.Request, error: Exception) -> wire.Response:
        status = getattr(error, "status", None)
        if isinstance(status, int):
            return self._error(
                request,
                status,
                getattr(error, "code", "BadRequest"),
                getattr(error, "message", str(error)),
            )
        if isinstance(error, ValueError):
            return self._error(request, 400, "BadRequest", str(error))
        raise error

    @staticmethod
    def _error(request: wire.Request, status: int, code: str, message: str) -> wire.Response:
        return wire.graph_error(status, code, message, request_id=request.request_id)

    def _changed(self, status: int, payload: Any) -> wire.Response:
        self.app.save_state()
        return wire.json_response(status, payload)

    # -- endpoints ------------------------------------------------------------------------

    def _reset(self, request: wire.Request) -> wire.Response:
        app = self.app
        app.store.reset()
        app.userflows.reset()
        app.faults.clear()
        app.log.clear()
        app.throttle.reset()
        app.latency_ms = 0
        return self._changed(200, {"reset": True})

    def _seed(self, request: wire.Request) -> wire.Response:
        return self._changed(201, self.app.store.seed(_object(request)))

    def _drift(self, request: wire.Request, id: str) -> wire.Response:
        return self._changed(200, self.app.store.drift(unquote(id), _object(request)))

    def _flows(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, self.app.userflows.dump())

    def _seed_flow(self, request: wire.Request) -> wire.Response:
        return wire.json_response(201, self.app.userflows.seed(_object(request)))

    def _flow_links(self, request: wire.Request, id: str) -> wire.Response:
        return wire.json_response(200, self.app.userflows.set_links(unquote(id), _object(request)))

    def _store(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, self.app.store.dump())

    def _requests(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, {"requests": self.app.log.entries()})

    def _clear_requests(self, request: wire.Request) -> wire.Response:
        self.app.log.clear()
        return wire.json_response(200, {"requests": []})

    def _faults(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, {"faults": self.app.faults.describe()})

    def _add_fault(self, request: wire.Request) -> wire.Response:
        try:
            rule = self.app.faults.add(_body(request))
        except RuleError as error:
            raise _AdminError(400, "BadRequest", str(error)) from None
        return wire.json_response(201, rule.to_json())

    def _clear_faults(self, request: wire.Request) -> wire.Response:
        self.app.faults.clear()
        return wire.json_response(200, {"faults": []})

    def _readings(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, self.app.store.readings.to_data())

    def _set_readings(self, request: wire.Request) -> wire.Response:
        """`{"patch": "replace", ...}`: switches named are set, the others go to their
        default (docs/emulator-graph.md, "Assumptions and their switches")."""
        try:
            self.app.store.readings = Readings.from_data(_object(request))
        except (TypeError, ValueError) as error:
            raise _AdminError(400, "BadRequest", str(error)) from None
        return wire.json_response(200, self.app.store.readings.to_data())

    def _latency(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, {"ms": self.app.latency_ms})

    def _set_latency(self, request: wire.Request) -> wire.Response:
        ms = _object(request).get("ms")
        if isinstance(ms, bool) or not isinstance(ms, int | float) or ms < 0:
            raise _AdminError(400, "BadRequest", 'latency is {"ms": N} with N >= 0')
        self.app.latency_ms = int(ms)
        return wire.json_response(200, {"ms": self.app.latency_ms})

    def _rate_limit(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, rate_limit_json(self.app))

    def _set_rate_limit(self, request: wire.Request) -> wire.Response:
        body = _object(request)
        if body.get("off") is True:
            self.app.throttle.configure(budget_for(None))
            return wire.json_response(200, rate_limit_json(self.app))
        per_minute, per_app = body.get("perMinute"), body.get("perApp")
        window = body.get("windowSeconds", 60)
        for name, value in (("perMinute", per_minute), ("perApp", per_app)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise _AdminError(400, "BadRequest", f"{name} must be a positive integer")
        if per_minute is None:
            raise _AdminError(400, "BadRequest", 'send {"perMinute": N} or {"off": true}')
        if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
            raise _AdminError(400, "BadRequest", "windowSeconds must be a positive number")
        self.app.throttle.configure(budget_for(per_minute, per_app=per_app, window=window))
        return wire.json_response(200, rate_limit_json(self.app))

    def _spend(self, request: wire.Request) -> wire.Response:
        body = _object(request)
        app_id, count = body.get("appId"), body.get("count")
        if not isinstance(app_id, str) or not app_id:
            raise _AdminError(400, "BadRequest", "appId must be a non-empty string")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 100_000:
            raise _AdminError(400, "BadRequest", "count must be a positive integer")
        self.app.throttle.spend(app_id, count)
        return wire.json_response(200, {"appId": app_id, "count": count})

    def _clients(self, request: wire.Request) -> wire.Response:
        return wire.json_response(200, {"clients": self.app.registry.all()})

    def _register(self, request: wire.Request) -> wire.Response:
        return wire.json_response(201, self.app.registry.register(_object(request)))

    def _info(self, request: wire.Request) -> wire.Response:
        store = self.app.store
        return wire.json_response(
            200,
            {
                "baseUrl": self.app.base_url_fn(),
                "tenant": store.tenant_id,
                "kind": store.tenant_kind,
            },
        )


def rate_limit_json(app: Emulator) -> dict[str, Any]:
    budget = app.throttle.budget
    if budget.off:
        return {"off": True}
    return {
        "perMinute": budget.per_tenant,
        "perApp": budget.per_app,
        "windowSeconds": budget.window,
    }


def read_json_file(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON next to `path` and rename it into place, so a crash leaves old or new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
