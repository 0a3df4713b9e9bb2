"""Secret sources that need a network: HashiCorp Vault / OpenBao KV v2 and Azure Key Vault,
and the contract every source keeps.

Each source is given a `SecretContext` and returns `(value, version)` or raises `SourceError`
with a value-free reason; `idpctl.secrets.context.Resolver`, above the sources, names the
reference and where it is used. Nothing here imports `idpctl.secrets.context` or
`idpctl.graph.auth`: a source that needs a token gets it from `SecretContext.keyvault_token`,
which the caller fills in. Their reads retry with `idpctl.net.retry.read_with_retries` and
trust what `idpctl.net.tls.verify` builds, like every other HTTP caller.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from idpctl.net import tls
from idpctl.net.endpoints import Allowance

__all__ = ["SecretContext", "SourceError", "json_object", "settings_verify"]


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
    return tls.bundle_verify(ca)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; {} for anything else (an error page, a list, no body)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
