"""Graph's identity-provider request budgets (GRAPH.md 1.5 and 5.2) as sliding windows.

Two budgets apply to every Graph request, each `$batch` item counting as one: `per_tenant`
requests a window for the tenant and `per_app` for each calling app. Throttled requests
count too ("throttled requests still count against usage", GRAPH.md 5.2), so a client that
retries at once only digs deeper; `Retry-After` says when the window has room again.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from idpctl_emulator import wire

__all__ = [
    "DEFAULT_PER_APP",
    "DEFAULT_PER_TENANT",
    "Budget",
    "Throttle",
    "Verdict",
    "budget_for",
    "retry_after_header",
    "throttled_response",
]

DEFAULT_PER_TENANT = 300
DEFAULT_PER_APP = 200


@dataclass(frozen=True)
class Budget:
    """Requests allowed per `window` seconds; `None` budgets mean throttling is off."""

    per_tenant: int | None = DEFAULT_PER_TENANT
    per_app: int | None = DEFAULT_PER_APP
    window: float = 60.0

    @property
    def off(self) -> bool:
        return self.per_tenant is None and self.per_app is None


def budget_for(
    per_minute: int | None, *, per_app: int | None = None, window: float = 60.0
) -> Budget:
    """The budget `--rate-limit N` means: N per tenant and, unless given, 2/3 of N per app
    (Graph's 300:200 ratio), at least 1. `None` turns throttling off."""
    if per_minute is None:
        return Budget(None, None, window)
    app = (
        per_app
        if per_app is not None
        else max(1, (per_minute * DEFAULT_PER_APP) // DEFAULT_PER_TENANT)
    )
    return Budget(per_minute, app, window)


@dataclass(frozen=True)
class Verdict:
    """A throttled request: which budget ran out and how long until it has room."""

    scope: str  # "tenant" or "app"
    retry_after: float  # seconds
    limit: int


class Throttle:
    """Thread-safe sliding-window counters for one tenant and its apps."""

    def __init__(
        self, budget: Budget | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._budget = budget or Budget()
        self._clock = clock
        self._lock = threading.Lock()
        self._tenant: deque[float] = deque()
        self._apps: dict[str, deque[float]] = {}

    @property
    def budget(self) -> Budget:
        return self._budget

    def configure(self, budget: Budget) -> None:
        with self._lock:
            self._budget = budget
            self._tenant.clear()
            self._apps.clear()

    def reset(self) -> None:
        """Forget every counted request; the budget stays."""
        self.configure(self._budget)

    def spend(self, app_id: str, count: int) -> None:
        """Count `count` requests of another app now, as if they had been served: what a
        neighbour sharing the tenant spends (tests of idpctl backing off)."""
        with self._lock:
            if self._budget.off:
                return
            now = self._clock()
            app_q = self._apps.setdefault(app_id, deque())
            for q in (self._tenant, app_q):
                q.extend([now] * count)

    def admit(self, app_id: str | None) -> Verdict | None:
        """Count one request; return None when it is within both budgets."""
        with self._lock:
            budget = self._budget
            if budget.off:
                return None
            now = self._clock()
            app_q = self._apps.setdefault(app_id or "-", deque())
            for q in (self._tenant, app_q):
                while q and q[0] <= now - budget.window:
                    q.popleft()
                q.append(now)
            for scope, q, limit in (
                ("tenant", self._tenant, budget.per_tenant),
                ("app", app_q, budget.per_app),
            ):
                if limit is not None and len(q) > limit:
                    # room again once all but `limit - 1` of the counted requests expire
                    oldest_needed = q[len(q) - limit]
                    wait = oldest_needed + budget.window - now
                    return Verdict(scope, max(0.001, wait), limit)
            return None


def retry_after_header(seconds: float) -> str:
    """Graph's sample gives a fractional Retry-After (`2.128`); we do too, rounded up to ms."""
    return f"{math.ceil(seconds * 1000) / 1000:.3f}"


def throttled_response(
    verdict: Verdict, request: wire.Request, *, app_id: str | None, tenant_id: str
) -> wire.Response:
    """Graph's 429 (GRAPH.md 5.2) with `Retry-After`, and `x-ms-throttle-scope` naming the
    budget that ran out as `<Scope>/<Limit>/<AppId>/<Tenant>`."""
    scope = "Tenant" if verdict.scope == "tenant" else "Tenant_Application"
    return wire.graph_error(
        429,
        "TooManyRequests",
        "Please retry again later.",
        request_id=request.request_id,
        client_request_id=request.headers.get("client-request-id"),
        headers={
            "Retry-After": retry_after_header(verdict.retry_after),
            "x-ms-throttle-scope": f"{scope}/{verdict.limit}/{app_id or '-'}/{tenant_id}",
            "x-ms-throttle-information": "RequestLimitExceeded",
        },
    )
