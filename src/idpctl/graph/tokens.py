"""Access tokens for one signed-in identity: `TokenProvider` (a `net.bearer.TokenSource`),
msal's failure answer as one line, and a token's claims read without verifying.

Every token handed out is registered with `redact` first; msal's error text is scrubbed of
the credential it was given. Which credential and which msal application a mode uses is
`credentials.py`'s and `apps.py`'s; choosing the mode is `auth.py`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from idpctl import redact
from idpctl.errors import AuthError

__all__ = ["GRAPH_RESOURCE", "TokenProvider", "decode_claims", "describe_failure"]

GRAPH_RESOURCE = "https://graph.microsoft.com"


class TokenProvider:
    """Access tokens for one signed-in identity, cached by msal. Thread-safe."""

    def __init__(
        self,
        *,
        mode: str,
        detail: str,
        client_id: str | None,
        tenant: str,
        make_app: Callable[[], Any],
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.mode = mode
        self.detail = detail
        self.client_id = client_id
        self.tenant = tenant
        self._make_app = make_app
        # msal's ConfidentialClientApplication or ManagedIdentityClient, apps.AzureCli or
        # apps.DeviceCode: no common type (msal ships none), hence Any
        self._app: Any = None
        self._secrets = secrets
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenProvider(mode={self.mode!r}, client_id={self.client_id!r})"

    def token(self, resource: str = GRAPH_RESOURCE) -> str:
        """A bearer token for `resource` (e.g. https://graph.microsoft.com)."""
        with self._lock:
            try:
                if self._app is None:
                    self._app = self._make_app()
                result = self._acquire(resource.rstrip("/"))
            except AuthError:
                raise
            except Exception as error:  # msal and requests raise many kinds
                raise AuthError(
                    self._scrub(f"sign-in failed ({self.mode}): {type(error).__name__}: {error}")
                ) from None
        if isinstance(result, dict) and result.get("access_token"):
            token = str(result["access_token"])
            redact.register(token)
            return token
        raise AuthError(
            self._scrub(
                f"sign-in failed ({self.mode}, client "
                f"{self.client_id or 'managed identity'}): "
                f"{describe_failure(result)}"
            )
        )

    def claims(self, token: str | None = None) -> dict[str, Any]:
        """The claims of `token` (default: a fresh Graph token), decoded WITHOUT verifying."""
        return decode_claims(token if token is not None else self.token())

    def _acquire(self, resource: str) -> Any:
        if self.mode in ("azureCli", "deviceCode"):
            return self._app.acquire(resource)
        if self.mode == "managedIdentity":
            return self._app.acquire_token_for_client(resource=resource)
        return self._app.acquire_token_for_client(scopes=[f"{resource}/.default"])

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            redact.register(secret)
        return redact.shorten(text, 500)


def describe_failure(result: Any) -> str:
    """msal's error answer as one line: `AADSTS7000215: Invalid client secret provided.`"""
    if not isinstance(result, Mapping):
        return "no token in the answer"
    text = redact.scrub(str(result.get("error_description") or result.get("error") or "no token"))
    first = text.strip().splitlines()[0] if text.strip() else "no token"
    codes = result.get("error_codes") or []
    if codes and "AADSTS" not in first:
        first = f"AADSTS{codes[0]}: {first}"
    for marker in (" Trace ID:", " Trace ID"):
        first = first.split(marker)[0]
    return first.strip()


def decode_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, not verified (for whoami and permission checks only)."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise AuthError(f"the access token is not a readable JWT ({error})") from None
    return dict(claims)
