"""What the emulator logs and keeps of a write-only value: its SHA-256, never the value.

`redact` is applied to every body the request log keeps; the `Store` seals each stored secret
with `sha256_of`, so a dump, a snapshot or an error cannot hold one in clear.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Any

__all__ = ["WRITE_ONLY_KEYS", "is_mask", "redact", "sha256_of"]

# keys whose string values are credentials wherever they appear in a logged body
WRITE_ONLY_KEYS = frozenset(
    {"clientSecret", "certificateData", "client_secret", "client_assertion"}
)


def sha256_of(value: str) -> dict[str, str]:
    return {"sha256": hashlib.sha256(value.encode("utf-8")).hexdigest()}


def is_mask(value: str) -> bool:
    return bool(value) and set(value) == {"*"}


def redact(body: Any) -> Any:
    """A copy of a request/response body with each write-only string as `{"sha256": hex}`.

    Masks (all asterisks) stay as they are. A str/bytes body is parsed as JSON, else as a form
    (token requests); what cannot be parsed comes back unchanged.
    """
    if not isinstance(body, bytes | str):
        return _redact(body)
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return _redact(json.loads(raw))
    except ValueError:
        pass
    if "=" in raw and not any(ch.isspace() for ch in raw):
        return _redact(dict(urllib.parse.parse_qsl(raw, keep_blank_values=True)))
    return body


def _redact(value: Any) -> Any:
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in WRITE_ONLY_KEYS and isinstance(item, str) and not is_mask(item):
            out[key] = sha256_of(item)
        else:
            out[key] = _redact(item)
    return out
