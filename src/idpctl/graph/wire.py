"""One Graph exchange on the wire: a request body encoded (the one caller of
`Secret.reveal()` for Graph), an answer read (capped in size) and parsed, and Graph's error
body turned into one `GraphError` line. No retries and no HTTP client here: `client.py` owns
those.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from idpctl import redact
from idpctl.errors import AuthError, GraphError, ThrottledError
from idpctl.model import UNKNOWN, Secret
from idpctl.net.retry import parse_retry_after

__all__ = [
    "MAX_RESPONSE_BYTES",
    "Reply",
    "encode",
    "error_for",
    "expect_object",
    "parse",
    "read_capped",
    "url_path",
]

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """A successful answer: status, lower-cased headers, parsed JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def encode(body: Any) -> bytes:
    """The request body as compact UTF-8 JSON, every `Secret` revealed."""
    text = json.dumps(_reveal(body), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def parse(raw: bytes, headers: Mapping[str, str], status: int) -> Any:
    """Graph's answer as data, never scrubbed: a secret equal to a display name or a
    `$batch` id must not change what idpctl reasons on. Error text is scrubbed where it
    becomes a message (`error_for`), and everything printed passes `idpctl.output`."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        if status >= 400:
            return None
        kind = headers.get("content-type", "no content type")
        raise GraphError(
            f"Graph answered {status} with a body that is not JSON ({kind})",
            status=status,
            request_id=headers.get("request-id"),
        ) from None


def error_for(status: int, headers: Mapping[str, str], body: Any, *, hint: str) -> GraphError:
    """Graph's error answer as one line: `AuthError` (with `hint`, what to grant) for 401
    and 403, `ThrottledError` for 429, else `GraphError`; code, request id and
    `Retry-After` kept as attributes."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    inner = error.get("innerError") or error.get("innererror")
    request_id = (inner.get("request-id") if isinstance(inner, dict) else None) or headers.get(
        "request-id"
    )
    message = redact.shorten(message or "no error details")
    text = f"Graph {status} {code or 'error'}: {message}"
    if request_id:
        text += f" (request-id {request_id})"
    retry_after = parse_retry_after(headers)
    if status in (401, 403):
        return AuthError(
            f"{text}; {hint}",
            status=status,
            code=code,
            request_id=request_id,
            retry_after=retry_after,
        )
    kind = ThrottledError if status == 429 else GraphError
    return kind(text, status=status, code=code, request_id=request_id, retry_after=retry_after)


def read_capped(response: httpx.Response) -> bytes:
    """The body, refused past `MAX_RESPONSE_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise GraphError(
                f"Graph's answer exceeded {MAX_RESPONSE_BYTES} bytes: refused",
                status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def expect_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise GraphError(f"Graph answered the {what} without a JSON object")
    return body


def url_path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def _reveal(value: Any) -> Any:
    """The JSON-ready form of a body: the one caller of `Secret.reveal()` (every Secret
    registered its value with `redact` when it was made)."""
    if isinstance(value, Secret):
        return value.reveal()
    if value is UNKNOWN:
        raise GraphError("refusing to send a masked (unknown) value to Graph")
    if isinstance(value, Mapping):
        return {str(k): _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value
