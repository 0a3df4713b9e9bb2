"""Azure Key Vault secrets: `{keyVault: "https://<vault>.vault.azure.net/secrets/<name>[/<version>]"}`.

One GET of the secret's URL with `api-version=7.4` and a bearer token from
`SecretContext.keyvault_token` (the same sign-in as Graph), asked for the Key Vault resource of
the vault's cloud (`endpoints.keyvault_resource`: `https://vault.azure.net`,
`https://vault.usgovcloudapi.net`, `https://vault.azure.cn`, or a managed HSM's).
Only a Key Vault host of the configured cloud receives that token (endpoints.CLOUDS); a
stand-in (the emulator's) must be in the operator's allowance (IDPCTL_ALLOW_ENDPOINTS).
The version recorded is the last path segment of the returned `id`.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from idpctl import redact
from idpctl.errors import IdpctlError
from idpctl.net import tls
from idpctl.net.endpoints import check_keyvault_url, keyvault_resource
from idpctl.net.retry import read_with_retries
from idpctl.secrets.sources import (
    SecretContext,
    SourceError,
    json_object,
)

__all__ = ["API_VERSION", "parse_url", "read"]

log = logging.getLogger(__name__)

API_VERSION = "7.4"
_PATH = re.compile(r"/secrets/(?P<name>[0-9A-Za-z-]{1,127})(?:/(?P<version>[0-9A-Za-z]+))?/?")


def parse_url(spec: Any) -> tuple[str, str, str | None]:
    """`(origin, name, version)` of a Key Vault secret URL; SourceError when malformed."""
    if not isinstance(spec, str) or not spec:
        raise SourceError(
            "a keyVault reference is a URL: https://<vault>.vault.azure.net/"
            "secrets/<name>[/<version>]"
        )
    parts = urlsplit(spec)
    match = _PATH.fullmatch(parts.path)
    if (
        parts.scheme != "https"
        or not parts.netloc
        or match is None
        or parts.query
        or parts.fragment
    ):
        raise SourceError(
            "not a Key Vault secret URL: expected https://<vault>.vault.azure.net/"
            "secrets/<name>[/<version>]"
        )
    return f"https://{parts.netloc}", match["name"], match["version"]


def read(spec: Any, *, context: SecretContext) -> tuple[str, str | None]:
    """The secret's value and its version id."""
    origin, name, version = parse_url(spec)
    reason = check_keyvault_url(spec, cloud=context.cloud, allowance=context.allowed())
    if reason:
        raise SourceError(reason)  # before any token is asked for, let alone sent
    url = f"{origin}/secrets/{name}" + (f"/{version}" if version else "")
    token = _token(context, keyvault_resource(origin, cloud=context.cloud))
    response = _get(url, origin=origin, token=token, context=context)
    body = json_object(response)
    if response.status_code != 200:
        raise SourceError(_failure(response.status_code, body))
    value = body.get("value")
    if not isinstance(value, str):
        raise SourceError("Key Vault answered without a value")
    if value == "":
        raise SourceError("the secret is empty")
    secret_id = body.get("id")
    found = str(secret_id).rstrip("/").rsplit("/", 1)[-1] if secret_id else version
    log.debug("read Key Vault secret %s (version %s)", name, found)
    return value, found


def _get(url: str, *, origin: str, token: str, context: SecretContext) -> httpx.Response:
    def send() -> httpx.Response:
        return httpx.get(
            url,
            params={"api-version": API_VERSION},
            headers={"Authorization": f"Bearer {token}"},
            verify=tls.verify(context.verify),
            timeout=context.timeout,
        )

    try:
        return read_with_retries(send, what=f"Key Vault {origin}")
    except httpx.TransportError as error:
        raise SourceError(
            f"Key Vault at {origin} is unreachable ({type(error).__name__})"
        ) from None
    except (OSError, ValueError) as error:  # a bad CA bundle path
        raise SourceError(f"cannot reach Key Vault at {origin} ({type(error).__name__})") from None


def _token(context: SecretContext, resource: str) -> str:
    if context.keyvault_token is None:
        raise SourceError(
            "no Key Vault sign-in: idpctl needs its Graph sign-in (auth:) to get "
            f"a token for {resource}"
        )
    try:
        token = context.keyvault_token(resource)
    except IdpctlError as error:
        raise SourceError(f"cannot get a token for {resource}: {error}") from None
    if not token:
        raise SourceError(f"cannot get a token for {resource}")
    redact.register(token)
    return token


def _failure(status: int, body: dict[str, Any]) -> str:
    given = body.get("error")
    error: dict[str, Any] = given if isinstance(given, dict) else {}
    code = (error.get("innererror") or {}).get("code") or error.get("code") or ""
    message = redact.shorten(error.get("message") or "", 200)
    detail = f"{status} {code}".strip() + (f": {message}" if message else "")
    if status == 401:
        return f"Key Vault refused the token ({detail})"
    if status == 403:
        return f"permission denied ({detail})"
    if status == 404:
        return f"secret not found ({status} {code or 'SecretNotFound'})"
    return f"Key Vault answered {detail}"
