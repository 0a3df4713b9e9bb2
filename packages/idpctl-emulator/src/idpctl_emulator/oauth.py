"""The OAuth plumbing of the token endpoint: reading a token request and answering with
Entra's error body."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from idpctl_emulator import wire

__all__ = [
    "RESERVED_SCOPES",
    "TokenError",
    "aad_error",
    "basic_auth",
    "bearer",
    "form_fields",
    "missing",
    "plain_json",
    "resource_of",
]

RESERVED_SCOPES = {"openid", "profile", "offline_access"}


@dataclass
class TokenError(Exception):
    """A token endpoint failure in Entra's terms: HTTP status, OAuth error, AADSTS code."""

    status: int
    error: str
    code: int
    description: str

    def __str__(self) -> str:
        return f"AADSTS{self.code}: {self.description}"


def bearer(request: wire.Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def form_fields(request: wire.Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" not in ctype.lower():
        raise TokenError(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        )
    parsed = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def basic_auth(request: wire.Request) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return unquote(user) or None, unquote(password) or None


def resource_of(form: dict[str, str], *, v1: bool = False) -> str:
    """The resource a token is asked for: v2 `scope=<resource>/.default`, v1 `resource=`."""
    if v1:
        resource = form.get("resource", "").rstrip("/")
        if not resource:
            raise missing("resource")
        return resource
    scopes = [s for s in form.get("scope", "").split() if s not in RESERVED_SCOPES]
    if not scopes:
        raise missing("scope")
    if len(scopes) > 1 or not scopes[0].endswith("/.default"):
        raise TokenError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {' '.join(scopes)} is not valid. Client "
            "credential flows must have a scope value with /.default suffixed to "
            "the resource identifier (application ID URI).",
        )
    resource = scopes[0][: -len("/.default")].rstrip("/")
    if not resource:
        raise missing("scope")
    return resource


def missing(name: str) -> TokenError:
    return TokenError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def plain_json(status: int, payload: Any, headers: dict[str, str] | None = None) -> wire.Response:
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return wire.Response(status, json.dumps(payload).encode("utf-8"), out)


def aad_error(request: wire.Request, exc: TokenError) -> wire.Response:
    """Entra's token-endpoint error body."""
    trace_id = str(uuid.uuid4())
    correlation = request.headers.get("client-request-id") or str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    description = (
        f"AADSTS{exc.code}: {exc.description} Trace ID: {trace_id} "
        f"Correlation ID: {correlation} Timestamp: {stamp}"
    )
    body = {
        "error": exc.error,
        "error_description": description,
        "error_codes": [exc.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={exc.code}",
    }
    return plain_json(exc.status, body, {"x-ms-request-id": trace_id})
