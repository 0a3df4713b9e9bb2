"""Secret sources that need a network: HashiCorp Vault / OpenBao KV v2 and Azure Key Vault.

Each source returns `(value, version)` or raises `idpctl.secrets.context.SourceError` with a
value-free reason; `idpctl.secrets.context.Resolver` names the reference and where it is used.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["RETRY_STATUSES", "json_object", "read_with_retries", "tls_verify"]

log = logging.getLogger(__name__)

ATTEMPTS = 3
FIRST_DELAY = 0.5
MAX_DELAY = 5.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def tls_verify(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx's `verify=` for True/False, an SSLContext, or a CA bundle path.

    Raises OSError or ssl.SSLError when the bundle cannot be read; sources turn that into a
    one-line reason."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def read_with_retries(send: Callable[[], httpx.Response], *, what: str,
                      sleep: Callable[[float], None] = time.sleep) -> httpx.Response:
    """Send a read, retrying 429/5xx answers and timeouts up to `ATTEMPTS` in all.

    A read is safe to repeat. Waits honour a positive `Retry-After`, else back off from
    `FIRST_DELAY`, each capped at `MAX_DELAY`, so a run never stalls on one secret. A refused
    connection or TLS failure is raised at once: it does not heal within a run. The last
    answer is returned whatever its status; the last transport error is raised."""
    delay = FIRST_DELAY
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = send()
        except httpx.TransportError as error:
            if attempt == ATTEMPTS or isinstance(error, httpx.ConnectError):
                raise
        else:
            if response.status_code not in RETRY_STATUSES or attempt == ATTEMPTS:
                return response
            delay = _retry_after(response, default=delay)
        log.debug("%s: attempt %s failed, retrying in %.1fs", what, attempt, delay)
        sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
    raise AssertionError("unreachable")


def _retry_after(response: httpx.Response, *, default: float) -> float:
    """A positive `Retry-After` (seconds), capped; otherwise our own backoff. A zero is not
    taken literally: OpenBao rounds sub-second waits down to 0."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return default
    return min(seconds, MAX_DELAY) if seconds > 0 else default


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; {} for anything else (an error page, a list, no body)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
