"""GitHub Actions' OIDC token service: the one fetch, for Entra federated sign-in and Vault JWT.

A job with `permissions: id-token: write` gets ACTIONS_ID_TOKEN_REQUEST_URL and
ACTIONS_ID_TOKEN_REQUEST_TOKEN; a GET of the URL (plus `&audience=...`) with the request token
as bearer answers `{"value": "<jwt>"}`.

The request token is a credential: `request_from_env` registers it for redaction before
anything else and refuses a URL that is not https (or explicitly allowed, `endpoints`), before
any byte is sent. The token fetched is registered too. Errors are `TokenServiceError`, whose
message never holds either token; `auth` and the Vault source re-raise it as their own error.
The GET is a read: it is retried with `net.retry.read_with_retries`.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from idpctl import redact
from idpctl.net import tls
from idpctl.net.endpoints import Allowance, https_or_allowed
from idpctl.net.retry import read_with_retries

__all__ = ["TokenRequest", "TokenServiceError", "fetch_token", "request_from_env"]

URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
TOKEN_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"


class TokenServiceError(Exception):
    """The token service cannot be used or did not give a token; the message is value-free."""


@dataclass(frozen=True)
class TokenRequest:
    """Where to ask and with what bearer; the bearer is never in the repr."""

    url: str
    bearer: str = field(repr=False)

    def __post_init__(self) -> None:
        redact.register(self.bearer)


def request_from_env(env: Mapping[str, str], *, allowance: Allowance) -> TokenRequest | None:
    """The token request GitHub Actions offers this job; None when either variable is unset.
    TokenServiceError when the URL is not https and not allowed (nothing is sent then)."""
    url, bearer = env.get(URL_ENV), env.get(TOKEN_ENV)
    if not url or not bearer:
        return None
    redact.register(bearer)
    reason = https_or_allowed(url, what=URL_ENV, allowance=allowance)
    if reason:
        raise TokenServiceError(reason)  # the request token never goes over plain http
    return TokenRequest(url, bearer)


def fetch_token(
    request: TokenRequest,
    *,
    audience: str | None = None,
    verify: bool | str | Path | ssl.SSLContext = True,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """A fresh token for `audience` (GitHub's default when None), registered for redaction."""
    url = request.url
    if audience:
        url += ("&" if "?" in url else "?") + urlencode({"audience": audience})
    headers = {"Authorization": f"Bearer {request.bearer}"}
    try:
        with httpx.Client(verify=tls.verify(verify), timeout=timeout) as client:
            response = read_with_retries(
                lambda: client.get(url, headers=headers),
                what="GitHub Actions OIDC token service",
                sleep=sleep,
            )
    except httpx.TransportError as error:
        raise TokenServiceError(
            f"GitHub Actions OIDC token service unreachable ({type(error).__name__})"
        ) from None
    except (OSError, ValueError) as error:  # a bad CA bundle path
        raise TokenServiceError(
            f"cannot reach the GitHub Actions OIDC token service ({type(error).__name__})"
        ) from None
    if response.status_code != 200:
        raise TokenServiceError(
            f"GitHub Actions OIDC token request answered {response.status_code} "
            "(does the workflow have `permissions: id-token: write`?)"
        )
    try:
        token = response.json().get("value")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise TokenServiceError("GitHub Actions OIDC token service answered no token")
    redact.register(token)
    return token
