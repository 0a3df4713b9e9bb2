"""Secret sources that need a network: HashiCorp Vault / OpenBao KV v2 and Azure Key Vault,
and the contract every source keeps.

Each source is given a `SecretContext` and returns `(value, version)` or raises `SourceError`
with a value-free reason; `idpctl.secrets.Resolver`, above the sources, names the reference
and where it is used. Nothing here imports `idpctl.secrets` or `idpctl.auth`: a source that
needs a token gets it from `SecretContext.keyvault_token`, which the caller fills in.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from idpctl.endpoints import Allowance

__all__ = ["RETRY_STATUSES", "SecretContext", "SourceError", "json_object", "read_with_retries",
           "settings_verify", "tls_verify"]

log = logging.getLogger(__name__)

ATTEMPTS = 3
FIRST_DELAY = 0.5
MAX_DELAY = 5.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SourceError(Exception):
    """A value-free reason a source could not give a value; wrapped into `SecretError`."""


@dataclass(frozen=True)
class SecretContext:
    """What resolving needs besides the reference itself.

    `vault` is the `vault:` block of idpctl.yaml (or None: environment only);
    `keyvault_token(resource)` returns a bearer token for a Key Vault resource
    (`https://vault.azure.net`, or the vault's cloud's: `endpoints.keyvault_resource`);
    `verify` is the TLS verification for Key Vault (True, False or a CA bundle path).
    `cloud` names whose Key Vault hosts may receive its token; `allowance` is what the
    operator let through besides (None: the process environment's, read when used); `roots`, when
    set, are the folders `{file:}` references must lie in (or the allowance's paths).
    """

    env: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)
    vault: Mapping[str, Any] | None = None
    keyvault_token: Callable[[str], str] | None = field(default=None, repr=False)
    verify: bool | str | ssl.SSLContext = True
    timeout: float = 10.0
    cloud: str = "global"
    allowance: Allowance | None = None
    roots: tuple[Path, ...] = ()

    def allowed(self) -> Allowance:
        """The allowance in force: the one given, else the environment's."""
        return self.allowance if self.allowance is not None else Allowance.from_sources()

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        keyvault_token: Callable[[str], str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SecretContext:
        """A context from loaded `Settings` (its `vault` block and Graph CA bundle, if any).
        Without `keyvault_token` a `{keyVault:}` reference fails with a reason; the sign-in
        that supplies one is `auth.secret_context`'s."""
        return cls(
            env=os.environ if env is None else env,
            vault=getattr(settings, "vault", None),
            keyvault_token=keyvault_token,
            verify=settings_verify(settings),
            cloud=getattr(settings, "cloud", "global"),
            allowance=getattr(settings, "allowance", None),
            roots=tuple(getattr(settings, "roots", ())),
        )


def settings_verify(settings: Any) -> bool | str:
    """The TLS verification `settings` ask for: the Graph CA bundle's path, else True."""
    ca = getattr(settings, "ca_bundle", None)
    graph = getattr(settings, "graph", None)
    if ca is None and isinstance(graph, Mapping):
        ca = graph.get("caBundle")
    return str(ca) if ca else True


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
