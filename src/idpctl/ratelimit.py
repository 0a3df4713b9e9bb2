"""Politeness towards Graph: a client-side request budget and the waits between retries.

Graph allows 300 identity-provider requests a minute per tenant, shared with everything else
the tenant runs (GRAPH.md 1.5). `TokenBucket` keeps idpctl inside a configured share of that,
counting each `$batch` item as one request as Graph does. A 429 pauses every thread of the
client (`pause`), not only the one that saw it, so a throttling storm is not made worse.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from idpctl.errors import GraphError

__all__ = ["Backoff", "TokenBucket", "parse_rate_limit", "parse_retry_after"]


class TokenBucket:
    """A token bucket of `rate` requests per minute; `rate=None` turns it off.

    Taking more tokens than are left runs the bucket into debt and waits it off, so a batch
    of 20 items is admitted whole while the long-run rate still holds. Thread-safe.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate limit must be positive (requests per minute) or None")
        self.rate = rate
        self._per_second = (rate or 0.0) / 60.0
        self._capacity = burst if burst is not None else max(1.0, min(20.0, (rate or 0) / 10))
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self, cost: float = 1.0) -> float:
        """Take `cost` tokens, waiting as long as needed; returns the seconds waited."""
        waited = 0.0
        with self._lock:
            now = self._clock()
            pause = max(0.0, self._paused_until - now)
            if self.rate is not None:
                self._refill(now)
                self._tokens -= cost
                debt = max(0.0, -self._tokens) / self._per_second
                pause = max(pause, debt)
        if pause > 0:
            self._sleep(pause)
            waited = pause
        return waited

    def pause(self, seconds: float) -> None:
        """Hold every caller of `acquire` for `seconds` from now (a 429's Retry-After)."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + seconds)
            if self.rate is not None:
                self._refill(now)
                self._tokens = min(self._tokens, 0.0)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self._capacity, self._tokens + elapsed * self._per_second)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds, possibly fractional, or an
    HTTP-date); None when absent or unreadable."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class Backoff:
    """Exponential backoff with full jitter, each jittered wait capped at `cap` and all waits
    together at `max_total`. `next_wait` returns None once the budget would be exceeded."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 30.0,
        max_total: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self.max_total = max_total
        self.spent = 0.0
        self._attempt = 0
        self._rng = rng or random.Random()

    def next_wait(self, retry_after: float | None = None) -> float | None:
        """The wait before the next try: `retry_after` when Graph gave one, else jittered."""
        if retry_after is not None:
            wait = retry_after  # never earlier than Graph asked: an early retry counts too
        else:
            wait = self._rng.uniform(0, min(self.cap, self.base * (2**self._attempt)))
        self._attempt += 1
        if self.spent + wait > self.max_total:
            return None
        self.spent += wait
        return wait


def parse_rate_limit(value: float | str | None, *, default: float) -> float | None:
    """Requests a minute from `graph.rateLimit`: a number, "off"/None (no budget), or
    "default" (`default`). Anything else is a GraphError naming the setting."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    if isinstance(value, str) and value.strip().lower() == "default":
        return default
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise GraphError(f"graph.rateLimit {value!r} is not a number of requests a minute, "
                         "'default' or 'off'") from None
    if not rate > 0:
        raise GraphError("graph.rateLimit must be positive (or 'off')")
    return rate
