"""What the Graph client shows of an exchange: the `--debug` trace lines and the exchange
handed to a fixture recorder (`recording.FixtureRecorder`).

Neither ever carries a header's value (no token) or a secret: secret-named fields are masked
whatever they hold (`redact_sensitive`), and a recorded body is also scrubbed of every value
registered with `redact` (`scrubbed`), which includes every value the client revealed.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from idpctl import redact

__all__ = ["Recorder", "record", "redact_sensitive", "request_line", "response_line", "scrubbed"]

log = logging.getLogger(__name__)

Recorder = Callable[[dict[str, Any]], None]

_SENSITIVE_KEYS = frozenset({"clientsecret", "certificatedata"})


def request_line(method: str, url: str, content: bytes | None) -> None:
    """`-> METHOD url` with the body, secret-named fields masked (at DEBUG only)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    body = redact_sensitive(json.loads(content)) if content else None
    log.debug(
        "-> %s %s Authorization: Bearer (redacted) body=%s",
        method,
        url,
        json.dumps(body) if body is not None else "-",
    )


def response_line(status: int, headers: Mapping[str, str], body: Any) -> None:
    """`<- STATUS` with Graph's request id, throttling and location headers (at DEBUG only)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    keep = {
        k: v
        for k, v in headers.items()
        if k in ("request-id", "retry-after", "location") or k.startswith("x-ms-")
    }
    log.debug(
        "<- %s %s body=%s",
        status,
        json.dumps(keep),
        json.dumps(redact_sensitive(body)) if body is not None else "-",
    )


def record(
    recorder: Recorder, method: str, url: str, sent: bytes | None, status: int, body: Any
) -> None:
    """One exchange for the recorder: path and query, bodies with every secret-named value
    and every registered secret masked; never a header (no token)."""
    parts = urllib.parse.urlsplit(url)
    request = scrubbed(redact_sensitive(json.loads(sent))) if sent else None
    recorder(
        {
            "request": {
                "method": method,
                "path": parts.path + (f"?{parts.query}" if parts.query else ""),
                "body": request,
            },
            "response": {"status": status, "body": scrubbed(redact_sensitive(body))},
        }
    )


def scrubbed(value: Any) -> Any:
    """A recorded body (a file idpctl writes): every string scrubbed of registered secrets."""
    if isinstance(value, str):
        return redact.scrub(value)
    if isinstance(value, dict):
        return {k: scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v) for v in value]
    return value


def redact_sensitive(value: Any) -> Any:
    """For the trace: secret-named string values masked, whatever they hold."""
    if isinstance(value, dict):
        return {
            k: "(sensitive)"
            if k.lower() in _SENSITIVE_KEYS and isinstance(v, str)
            else redact_sensitive(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_sensitive(v) for v in value]
    return value
