"""The one retry policy for every HTTP caller: how long to wait before trying again.

Graph (`graph`, `batching`), Azure Blob state, Key Vault, Vault and GitHub Actions' OIDC
token service all wait with `Backoff` and read a server's `Retry-After` with
`parse_retry_after`. Which answers are worth another try is each caller's call (a write is
not re-sent where it may have run); how long to wait is decided here.

- `parse_retry_after`: delta-seconds (possibly fractional) or an HTTP-date (RFC 9110
  section 10.2.3); None when absent or unreadable.
- `Backoff`: exponential from `base`, each wait capped at `cap` and all waits together at
  `max_total`; full jitter by default, so clients that failed together do not retry together.
  A server's `Retry-After` is taken as given: an early retry is counted against the client.
- `read_with_retries`: the loop for a plain read that is safe to repeat (secret sources and
  the OIDC token fetch).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx

__all__ = ["READ_ATTEMPTS", "RETRY_STATUSES", "Backoff", "parse_retry_after", "read_with_retries"]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # answers a read may try again
READ_ATTEMPTS = 3  # a read's tries in all: a run never stalls long on one secret
READ_FIRST_WAIT = 0.5
READ_MAX_WAIT = 5.0  # also the cap on a read's Retry-After


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
    """Exponential backoff, each wait capped at `cap` and all waits together at `max_total`.
    With `jitter` (the default) each wait is drawn uniformly below the exponential step (full
    jitter). `next_wait` returns None once the total would be exceeded."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 30.0,
        max_total: float = 120.0,
        jitter: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self.max_total = max_total
        self.jitter = jitter
        self.spent = 0.0
        self._attempt = 0
        self._rng = rng or random.Random()

    def next_wait(self, retry_after: float | None = None) -> float | None:
        """The wait before the next try: `retry_after` when the server gave one, else the
        next step of the backoff."""
        if retry_after is not None:
            wait = retry_after  # never earlier than the server asked: an early retry counts too
        else:
            step = min(self.cap, self.base * (2**self._attempt))
            wait = self._rng.uniform(0, step) if self.jitter else step
        self._attempt += 1
        if self.spent + wait > self.max_total:
            return None
        self.spent += wait
        return wait


def read_with_retries(
    send: Callable[[], httpx.Response], *, what: str, sleep: Callable[[float], None] = time.sleep
) -> httpx.Response:
    """Send a read, retrying `RETRY_STATUSES` answers and timeouts up to `READ_ATTEMPTS`.

    A read is safe to repeat. Waits honour a positive `Retry-After` (seconds or an HTTP-date),
    capped at `READ_MAX_WAIT`; a zero is not taken literally (OpenBao rounds sub-second waits
    down to 0), so then and without one the wait doubles from `READ_FIRST_WAIT`, each capped
    at `READ_MAX_WAIT`, without jitter. A refused connection or TLS failure is raised at once:
    it does not heal within a run. The last answer is returned whatever its status; the last
    transport error is raised."""
    backoff = Backoff(
        base=READ_FIRST_WAIT,
        cap=READ_MAX_WAIT,
        max_total=READ_MAX_WAIT * READ_ATTEMPTS,
        jitter=False,
    )
    for attempt in range(1, READ_ATTEMPTS + 1):
        after: float | None = None
        try:
            response = send()
        except httpx.TransportError as error:
            if attempt == READ_ATTEMPTS or isinstance(error, httpx.ConnectError):
                raise
        else:
            if response.status_code not in RETRY_STATUSES or attempt == READ_ATTEMPTS:
                return response
            after = parse_retry_after(response.headers)
        wait = backoff.next_wait(min(after, READ_MAX_WAIT) if after else None)
        assert wait is not None  # READ_ATTEMPTS waits of at most READ_MAX_WAIT fit max_total
        log.debug("%s: attempt %s failed, retrying in %.1fs", what, attempt, wait)
        sleep(wait)
    raise AssertionError("unreachable")
