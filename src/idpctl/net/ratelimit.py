"""Politeness towards Graph: the request budget idpctl spends.

The waits between retries and the `Retry-After` parser are `idpctl.net.retry`, shared by
every HTTP caller.

Graph throttles identity-provider requests in a sliding window: 300 a minute per tenant and
200 a minute per app per tenant, every `$batch` item counted on its own, throttled requests
included (GRAPH.md 1.5 and 5.2; MGD `includes/throttling-cpim.md`, `concepts/throttling.md`).
`Budget` is that model, seen from one app: it admits requests in bursts as long as the last
window's spend plus the new cost stays under the smaller limit less a safety margin, and
otherwise waits until enough of the window has expired. It adapts to what Graph says:

- `x-ms-throttle-limit-percentage` above what idpctl's own spend explains means another
  client shares the tenant: the ceiling drops by the difference (`ease`).
- a 429 (on the envelope or on `$batch` items) pauses every thread until its `Retry-After`
  and lowers the ceiling to what was in the window when Graph said no (`throttled`).
- the ceiling climbs back by a twentieth of the limit per window (one more `$batch` of 20
  every two windows at Graph's limits), so a neighbour that stays is not probed every window.

A throttled create is not re-sent here: that is the applier's outcome-unknown path (re-read,
then plan again), which this module only paces.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from idpctl.errors import GraphError

__all__ = ["Budget", "BudgetSpec", "parse_budget"]

GRAPH_PER_TENANT = 300  # identity-provider requests per window per tenant (GRAPH.md 1.5)
GRAPH_PER_APP = 200  # ... per app per tenant (GRAPH.md 1.5)
GRAPH_WINDOW = 60.0  # "per minute" (MGD includes/throttling-cpim.md)
# 5% of the count and 2% of the window held back: room for a second run of the same app
# (a plan in a pull request while an apply runs) and for a request counted by Graph on
# arrival a little later than idpctl counted it on sending. See docs/performance.md.
DEFAULT_MARGIN = 0.05
DEFAULT_WINDOW_PAD = 0.02
_RECOVERY = 0.05  # the share of the limit the ceiling climbs back per window
_SELF_SLACK = 0.1
# the ceiling never drops below a tenth of the limit: a 429 when idpctl spent little is a
# busy neighbour or a fault, and Retry-After (not our own old requests) says when to resume
_FLOOR = 0.1  # Graph's percentage within this of our own share is our own spend


@dataclass(frozen=True)
class BudgetSpec:
    """The limits to stay under; `None` limits (both) turn the budget off."""

    per_app: int | None = GRAPH_PER_APP
    per_tenant: int | None = GRAPH_PER_TENANT
    window: float = GRAPH_WINDOW
    margin: float = DEFAULT_MARGIN

    @property
    def off(self) -> bool:
        return self.per_app is None and self.per_tenant is None

    @property
    def limit(self) -> int:
        """The requests one app may send per window: the smaller limit, as its own requests
        count against both."""
        limits = [v for v in (self.per_app, self.per_tenant) if v is not None]
        return min(limits) if limits else 0

    @property
    def allowed(self) -> int:
        """`limit` less the margin, at least 1."""
        return max(1, math.floor(self.limit * (1.0 - self.margin)))

    @property
    def span(self) -> float:
        """How long idpctl counts a request: the window plus a small pad for latency."""
        return self.window * (1.0 + DEFAULT_WINDOW_PAD)


OFF = BudgetSpec(per_app=None, per_tenant=None)


class Budget:
    """Graph's sliding window as one app sees it; thread-safe. See the module docstring."""

    def __init__(
        self,
        spec: BudgetSpec | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec or BudgetSpec()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[list[float]] = deque()  # [when, items] inside the span
        self._used = 0
        self._ceiling = float(self.spec.allowed)
        self._ceiling_at = clock()
        self._paused_until = 0.0
        self._blocked_until = 0.0  # when the longest-waiting `acquire` expects to go
        self.throttled_items = 0  # items Graph answered 429 (for progress and benchmarks)

    @property
    def rate(self) -> float | None:
        """Requests a minute at the configured limits (None when off)."""
        if self.spec.off:
            return None
        return self.spec.allowed * 60.0 / self.spec.span

    def acquire(self, cost: int = 1) -> list[float]:
        """Take `cost` items of the window, waiting until they fit. Returns the ticket to
        hand to `answered` once the reply is in."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_for(cost, now)
                if wait <= 0:
                    ticket = [now, float(cost)]
                    self._sent.append(ticket)
                    self._used += cost
                    return ticket
                self._blocked_until = max(self._blocked_until, now + wait)
            self._sleep(wait)

    def answered(self, ticket: list[float]) -> None:
        """The request of `ticket` has its answer: count it from now. Graph counted it on
        arrival, somewhere between sending and now, so counting from the answer keeps
        idpctl's window behind Graph's however long the request took."""
        with self._lock:
            ticket[0] = max(ticket[0], self._clock())

    def resume_in(self) -> float:
        """Seconds until a waiting request (or else one more item) will be admitted."""
        with self._lock:
            now = self._clock()
            return max(0.0, self._blocked_until - now, self._wait_for(1, now))

    def pause(self, seconds: float) -> None:
        """Hold every caller of `acquire` for `seconds` from now (a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def throttled(self, seconds: float | None, *, items: int = 1) -> None:
        """Graph answered 429 to `items` requests: pause for `seconds` (when given) and lower
        the ceiling to what this app had in the window, which is what Graph let through."""
        with self._lock:
            now = self._clock()
            self.throttled_items += items
            if seconds is not None:
                self._paused_until = max(self._paused_until, now + seconds)
            if not self.spec.off:
                self._expire(now)
                floor = max(1.0, self.spec.allowed * _FLOOR)
                self._set_ceiling(max(floor, min(self._current(now), self._used - items)), now)

    def ease(self, percentage: float) -> None:
        """Graph's `x-ms-throttle-limit-percentage` (1.0 = the limit): when it is above what
        this app's own spend explains, lower the ceiling by the difference."""
        if self.spec.off or math.isnan(percentage):
            return
        with self._lock:
            now = self._clock()
            self._expire(now)
            ours = self._used / self.spec.limit
            if percentage <= ours + _SELF_SLACK:
                return
            others = (percentage - ours) * self.spec.limit
            floor = max(1.0, self.spec.allowed * _FLOOR)
            self._set_ceiling(max(floor, min(self._current(now), self.spec.allowed - others)), now)

    # -- inside the lock -----------------------------------------------------------------------

    def _wait_for(self, cost: int, now: float) -> float:
        pause = self._paused_until - now
        if pause > 0:
            return pause
        if self.spec.off:
            return 0.0
        self._expire(now)
        room = self._current(now)
        if self._used + cost <= room or not self._sent:
            return 0.0  # within the window, or an oversized request into an empty one
        excess = self._used + cost - room
        latest = 0.0  # tickets re-stamped on answer may be out of order: wait for the latest
        for when, items in self._sent:
            latest = max(latest, when)
            excess -= items
            if excess <= 0:
                break
        return max(1e-3, latest + self.spec.span - now)

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now - self.spec.span:
            self._used -= int(self._sent.popleft()[1])

    def _current(self, now: float) -> float:
        """The ceiling now: where it was set, plus its recovery since, up to `allowed`."""
        allowed = float(self.spec.allowed)
        climbed = (now - self._ceiling_at) / self.spec.span * _RECOVERY * allowed
        return min(allowed, self._ceiling + max(0.0, climbed))

    def _set_ceiling(self, value: float, now: float) -> None:
        self._ceiling, self._ceiling_at = value, now


_BUDGET_KEYS = {
    "perApp": "per_app",
    "perTenant": "per_tenant",
    "windowSeconds": "window",
    "margin": "margin",
}


def parse_budget(budget: Any = None, *, rate_limit: Any = None) -> BudgetSpec:
    """The budget from `graph.budget` (a mapping of `perApp`, `perTenant`, `windowSeconds`,
    `margin`, each defaulting to Graph's documented value, or "off") and the older
    `graph.rateLimit` (requests a minute per app, "default" or "off"). GraphError names the
    setting on nonsense; the schema normally catches it first."""
    if _is_off(budget) or _is_off(rate_limit):
        return OFF
    values: dict[str, Any] = {}
    if rate_limit is not None and not (
        isinstance(rate_limit, str) and rate_limit.strip().lower() == "default"
    ):
        values["per_app"] = _positive(rate_limit, "graph.rateLimit", whole=False)
    if isinstance(budget, Mapping):
        for key, value in budget.items():
            if key not in _BUDGET_KEYS:
                raise GraphError(
                    f"graph.budget.{key} is not a budget setting ({', '.join(_BUDGET_KEYS)})"
                )
            values[_BUDGET_KEYS[key]] = _budget_value(key, value)
    elif budget is not None:
        raise GraphError(f"graph.budget {budget!r} is not a mapping or 'off'")
    if "per_app" in values:
        values["per_app"] = max(1, math.floor(values["per_app"]))
    return BudgetSpec(**values)


def _is_off(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "off"


def _budget_value(key: str, value: Any) -> float:
    if key == "margin":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise GraphError(f"graph.budget.margin {value!r} is not a fraction in [0, 1)")
        return float(value)
    return _positive(value, f"graph.budget.{key}", whole=key != "windowSeconds")


def _positive(value: Any, name: str, *, whole: bool) -> Any:
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or (whole and number != int(number)):
        kind = "a positive whole number" if whole else "a positive number"
        raise GraphError(f"{name} {value!r} is not {kind} (or 'off')")
    return int(number) if whole else number
