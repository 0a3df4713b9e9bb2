"""GitHub Actions' OIDC token service, as Vault's JWT login uses it.

A job with `permissions: id-token: write` gets ACTIONS_ID_TOKEN_REQUEST_URL and
ACTIONS_ID_TOKEN_REQUEST_TOKEN; a GET of the URL (plus `&audience=...`) with the request token
as bearer answers `{"value": "<jwt>"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

import httpx

from idpctl import redact
from idpctl.endpoints import Allowance, https_or_allowed
from idpctl.secret_sources import SourceError, tls_verify

__all__ = ["actions_token"]


def actions_token(
    env: Mapping[str, str],
    *,
    audience: str | None = None,
    timeout: float = 10.0,
    verify: bool | str = True,
    allowance: Allowance | None = None,
) -> str:
    """A fresh GitHub Actions OIDC token for `audience` (GitHub's default when None)."""
    url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise SourceError(
            "Vault jwt auth needs vault.auth.jwt or a GitHub Actions OIDC token "
            "(ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN are not set; grant id-token: write)"
        )
    redact.register(bearer)
    reason = https_or_allowed(url, what="ACTIONS_ID_TOKEN_REQUEST_URL",
                              allowance=allowance or Allowance.from_sources())
    if reason:
        raise SourceError(reason)
    if audience:
        url += ("&" if "?" in url else "?") + urlencode({"audience": audience})
    try:
        response = httpx.get(url, headers={"Authorization": f"Bearer {bearer}"},
                             timeout=timeout, verify=tls_verify(verify))
    except httpx.TransportError as error:
        raise SourceError(
            f"GitHub Actions OIDC token service unreachable ({type(error).__name__})"
        ) from None
    except (OSError, ValueError) as error:  # a bad CA bundle path
        raise SourceError(f"cannot reach the GitHub Actions OIDC token service "
                          f"({type(error).__name__})") from None
    if response.status_code != 200:
        raise SourceError(f"GitHub Actions OIDC token request answered {response.status_code}")
    try:
        token = response.json().get("value")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise SourceError("GitHub Actions OIDC token service answered no token")
    redact.register(token)
    return token
