"""Signing in to Graph through msal, the way pipelines do it.

Modes (`auth.mode` in idpctl.yaml; `auto` takes the first configured, in this order):

    federated        an OIDC token as client assertion: read fresh from a file
                     (AZURE_FEDERATED_TOKEN_FILE, auth.federatedToken.file) or fetched from
                     GitHub Actions' token service (ACTIONS_ID_TOKEN_REQUEST_URL, or
                     auth.federatedToken.github), re-fetched when it nears expiry
    certificate      PEM (key + certificate) or PFX, sent as a signed assertion
    secret           a client secret (a reference, like every secret)
    managedIdentity  msal's managed identity client (IDENTITY_ENDPOINT or MSI_ENDPOINT set)
    azureCli         a person's Azure CLI login: `az account get-access-token --scope
                     <resource>/.default --tenant <tenant>`, as azure-identity's
                     AzureCliCredential runs it (`auto` takes it last, when `az` is on PATH)
    deviceCode       a person signs in with msal's device-code flow (a code to enter in a
                     browser anywhere), tokens kept in msal's cache file (auth.tokenCache,
                     default ~/.idpctl/msal-token-cache.json, mode 0600)

Settings default to the environment variables Azure tooling uses. This module chooses the
mode and builds the `tokens.TokenProvider`; each mode's credential is `credentials.py`'s, the
msal application (and a person's sign-in) `apps.py`'s.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from idpctl.errors import AuthError
from idpctl.graph.apps import az_path, make_app
from idpctl.graph.credentials import credential_for, setting_text
from idpctl.graph.tokens import TokenProvider
from idpctl.model import SecretRef
from idpctl.net.endpoints import Allowance
from idpctl.secrets.context import SecretContext, context_for
from idpctl.secrets.sources import settings_verify

__all__ = ["MODES", "choose_mode", "secret_context", "token_provider"]

log = logging.getLogger(__name__)

MODES = ("auto", "secret", "certificate", "federated", "managedIdentity", "azureCli", "deviceCode")
# a person's sign-in with no app registration of their own: azure-identity's default
# (DEVELOPER_SIGN_ON_CLIENT_ID, the Azure CLI's public client)
DEVELOPER_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def token_provider(
    settings_auth: Mapping[str, Any] | None,
    *,
    tenant: str,
    authority_root: str,
    verify: str | bool = True,
    env: Mapping[str, str] | None = None,
    secret_context: SecretContext | None = None,
    allowance: Allowance | None = None,
) -> TokenProvider:
    """A TokenProvider for the `auth:` block of idpctl.yaml (None: environment only).
    `secret_context` (a `secrets.SecretContext`) resolves `{vault: ...}`/`{keyVault: ...}`
    references; env/file ones need none. Nothing is sent until the first `token()`.
    `allowance` (default: the process environment's) lets a non-https OIDC request URL
    through."""
    env = os.environ if env is None else env
    allowance = allowance if allowance is not None else Allowance.from_sources()
    if secret_context is None:
        secret_context = SecretContext(env=env)
    auth = dict(settings_auth or {})
    tenant = tenant or env.get("AZURE_TENANT_ID", "")
    if not tenant:
        raise AuthError("no tenant: set `tenant` in idpctl.yaml or AZURE_TENANT_ID")
    mode = choose_mode(auth, env)
    client_id = setting_text(auth.get("clientId"), "auth.clientId", secret_context) or env.get(
        "AZURE_CLIENT_ID"
    )
    if mode == "managedIdentity":
        client_id = setting_text(
            auth.get("managedIdentityClientId"), "auth.managedIdentityClientId", secret_context
        )
    elif mode == "azureCli":
        client_id = None  # the CLI's own sign-in
    elif mode == "deviceCode":
        client_id = client_id or DEVELOPER_CLIENT_ID
    elif not client_id:
        raise AuthError("no client id: set auth.clientId in idpctl.yaml or AZURE_CLIENT_ID")
    cred = credential_for(mode, auth, env, verify=verify, ctx=secret_context, allowance=allowance)
    authority = f"{authority_root.rstrip('/')}/{tenant}"
    log.debug(
        "signing in: mode=%s (%s) client=%s authority=%s", mode, cred.detail, client_id, authority
    )
    return TokenProvider(
        mode=mode,
        detail=cred.detail,
        client_id=client_id,
        tenant=tenant,
        secrets=cred.secrets,
        make_app=lambda: make_app(
            cred, client_id=client_id, authority=authority, verify=verify, env=env
        ),
    )


def choose_mode(auth: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The mode asked for, or for `auto` the first one configured (see the module doc)."""
    mode = auth.get("mode") or "auto"
    if mode not in MODES:
        raise AuthError(f"auth.mode {mode!r} is not one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    federated = auth.get("federatedToken") or {}
    if env.get("AZURE_FEDERATED_TOKEN_FILE") or _get(federated, "file"):
        return "federated"
    if env.get("ACTIONS_ID_TOKEN_REQUEST_URL") or _get(federated, "github"):
        return "federated"
    if env.get("AZURE_CLIENT_CERTIFICATE_PATH") or _configured(auth.get("certificate"), env):
        return "certificate"
    if env.get("AZURE_CLIENT_SECRET") or _configured(auth.get("clientSecret"), env):
        return "secret"
    if env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT"):
        return "managedIdentity"
    if az_path(env):  # a person at a terminal: the Azure CLI login, after every pipeline one
        return "azureCli"
    raise AuthError(
        "no sign-in configured: set auth in idpctl.yaml, or AZURE_CLIENT_ID with one of "
        "AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_SECRET "
        "(or run in GitHub Actions with id-token: write, or with a managed identity, or sign "
        "in with `az login`)"
    )


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _configured(value: Any, env: Mapping[str, str]) -> bool:
    """Set in the file; an `{env: NAME}` reference counts only when NAME is set, so the
    default `clientSecret: {env: AZURE_CLIENT_SECRET}` does not shadow later modes."""
    if value is None or value == "" or value == {}:
        return False
    if isinstance(value, SecretRef) and value.scheme == "env":
        return bool(env.get(str(value.spec)))
    return True


def secret_context(settings: Any, *, env: Mapping[str, str] | None = None) -> SecretContext:
    """The `SecretContext` for loaded settings whose Key Vault tokens come from signing in as
    `settings.auth` says, on first use only (a run without `{keyVault:}` references never
    signs in for them). Settings without a tenant and authority get no Key Vault sign-in."""
    if not getattr(settings, "tenant", None) or not getattr(settings, "authority", None):
        return context_for(settings, env=env)
    return context_for(settings, env=env, tokens=_FirstUse(settings, env=env))


class _FirstUse:
    """A `secrets.TokenProvider` made from `settings.auth` at its first `token()` call."""

    def __init__(self, settings: Any, *, env: Mapping[str, str] | None) -> None:
        self._settings = settings
        self._env = env
        self._provider: TokenProvider | None = None

    def token(self, resource: str) -> str:
        if self._provider is None:
            settings = self._settings
            self._provider = token_provider(
                getattr(settings, "auth", None),
                tenant=settings.tenant,
                authority_root=settings.authority,
                verify=settings_verify(settings),
                env=self._env,
            )
        return self._provider.token(resource)
