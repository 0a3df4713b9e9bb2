"""HashiCorp Vault / OpenBao KV v2 over httpx.

httpx rather than hvac: idpctl already speaks HTTP through httpx (Graph, Key Vault), so one
HTTP stack, one TLS/CA story and one trace redaction; the KV v2 read and three logins are a
few requests each, and hvac would add a dependency (and `requests`) for them.

Settings come from the `vault:` block of idpctl.yaml, each key falling back to the variables
the Vault CLI reads: `address` / VAULT_ADDR, `namespace` / VAULT_NAMESPACE, `caCert` /
VAULT_CACERT (VAULT_SKIP_VERIFY=true turns verification off), and `auth`:
`{method: token | approle | jwt, token, roleId, secretId, role, mount, jwt, audience}`.
Without `auth.method`, a token from `auth.token` or VAULT_TOKEN is used.

A `vault.address` written in idpctl.yaml is a file a pull request can change: it must be in
the operator's allowance (IDPCTL_ALLOW_ENDPOINTS / --allow-endpoint). VAULT_ADDR, set by
whoever runs idpctl, must be https unless the allowance names it with http://. Mounts and
paths are plain relative paths (no `..`, empty segment or leading slash).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from idpctl import redact
from idpctl.errors import SecretError
from idpctl.model import Secret, SecretRef
from idpctl.net import tls
from idpctl.net.endpoints import Allowance, check_url, check_vault_path, https_or_allowed
from idpctl.net.retry import read_with_retries
from idpctl.secrets.sources import (
    SecretContext,
    SourceError,
    json_object,
)

__all__ = ["VaultClient", "VaultSettings"]

log = logging.getLogger(__name__)

_METHODS = ("token", "approle", "jwt")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class VaultSettings:
    """Where Vault is and how to sign in. Credentials stay references until login."""

    address: str | None
    namespace: str | None = None
    verify: bool | str = True
    method: str = "token"
    mount: str | None = None  # the auth method's mount; defaults to the method's name
    role: str | None = None
    audience: str | None = None  # GitHub Actions OIDC audience for jwt login
    token: Any = field(default=None, repr=False)  # a SecretRef, or the env VAULT_TOKEN value
    role_id: Any = field(default=None, repr=False)
    secret_id: Any = field(default=None, repr=False)
    jwt: Any = field(default=None, repr=False)
    address_from_file: bool = False  # vault.address (a repository file), not VAULT_ADDR

    @classmethod
    def from_block(cls, block: Mapping[str, Any] | None, env: Mapping[str, str]) -> VaultSettings:
        block = block or {}
        auth = block.get("auth") or {}
        ca = block.get("caCert") or env.get("VAULT_CACERT")
        skip = str(env.get("VAULT_SKIP_VERIFY", "")).lower() in _TRUE
        token = auth.get("token")
        if token is None and env.get("VAULT_TOKEN"):
            token = SecretRef("env", "VAULT_TOKEN")
        return cls(
            address=block.get("address") or env.get("VAULT_ADDR"),
            namespace=block.get("namespace") or env.get("VAULT_NAMESPACE"),
            verify=False if skip else tls.bundle_verify(ca),
            method=str(auth.get("method") or "token"),
            mount=auth.get("mount"),
            role=auth.get("role"),
            audience=auth.get("audience"),
            token=token,
            role_id=auth.get("roleId"),
            secret_id=auth.get("secretId"),
            jwt=auth.get("jwt"),
            address_from_file=bool(block.get("address")),
        )


class VaultClient:
    """Reads KV v2 secrets; signs in once, on the first read."""

    def __init__(
        self,
        settings: VaultSettings,
        *,
        resolve: Callable[[SecretRef], Secret],
        env: Mapping[str, str],
        timeout: float = 10.0,
        actions_verify: bool | str | ssl.SSLContext = True,
        allowance: Allowance | None = None,
    ) -> None:
        self.settings = settings
        self._allowance = allowance if allowance is not None else Allowance.from_sources()
        self._actions_verify = actions_verify
        self._resolve = resolve
        self._env = env
        self._timeout = timeout
        self._token: str | SourceError | None = None

    @classmethod
    def from_context(
        cls, context: SecretContext, *, resolve: Callable[[SecretRef], Secret]
    ) -> VaultClient:
        settings = VaultSettings.from_block(context.vault, context.env)
        return cls(
            settings,
            resolve=resolve,
            env=context.env,
            timeout=context.timeout,
            actions_verify=context.verify,
            allowance=context.allowed(),
        )

    def __repr__(self) -> str:
        return f"VaultClient(address={self.settings.address!r}, method={self.settings.method!r})"

    # -- reading ---------------------------------------------------------------------------

    def read(self, spec: Any) -> tuple[str, str | None]:
        """The value at `spec` ({mount, path, key, version}) and its KV version."""
        mount, path, key, version = _parse_spec(spec)
        url = f"/v1/{_quote(mount)}/data/{_quote(path)}"
        params = {"version": str(version)} if version is not None else None
        response = self._request("GET", url, params=params, token=self._login())
        body = json_object(response)
        if response.status_code == 404:
            raise SourceError(_not_found(body, mount, path, version))
        if response.status_code != 200:
            raise SourceError(_status_reason(response, body))
        data = (body.get("data") or {}).get("data")
        found = str(((body.get("data") or {}).get("metadata") or {}).get("version") or "") or None
        if not isinstance(data, Mapping):
            raise SourceError(f"version {found or 'latest'} holds no data (deleted?)")
        if key not in data:
            names = ", ".join(sorted(str(k) for k in data)) or "none"
            raise SourceError(f"key {key!r} not found (keys present: {names})")
        value = data[key]
        if not isinstance(value, str):
            raise SourceError(f"key {key!r} holds a {type(value).__name__}, not a string")
        if value == "":
            raise SourceError(f"key {key!r} is empty")
        return value, found

    # -- signing in ------------------------------------------------------------------------

    def _login(self) -> str:
        if self._token is None:
            try:
                self._token = self._sign_in()
            except SourceError as error:
                self._token = error
        if isinstance(self._token, SourceError):
            raise self._token
        return self._token

    def _sign_in(self) -> str:
        s = self.settings
        if not s.address:
            raise SourceError("no Vault address: set VAULT_ADDR or vault.address in idpctl.yaml")
        reason = (
            check_url(s.address, what="vault.address", allowance=self._allowance)
            if s.address_from_file
            else https_or_allowed(s.address, what="VAULT_ADDR", allowance=self._allowance)
        )
        reason = reason or check_vault_path(s.mount, what="vault.auth.mount")
        if reason:
            raise SourceError(reason)  # before any credential is sent
        if s.method not in _METHODS:
            raise SourceError(f"unknown Vault auth method {s.method!r} (token, approle, jwt)")
        if s.method == "token":
            if s.token is None:
                raise SourceError("no Vault token: set VAULT_TOKEN or vault.auth in idpctl.yaml")
            return self._credential(s.token, "token")
        if s.method == "approle":
            body = {
                "role_id": self._credential(s.role_id, "roleId"),
                "secret_id": self._credential(s.secret_id, "secretId"),
            }
        else:
            body = {"jwt": self._jwt(), **({"role": s.role} if s.role else {})}
        mount = s.mount or s.method
        response = self._request("POST", f"/v1/auth/{_quote(mount)}/login", json=body)
        data = json_object(response)
        token = (data.get("auth") or {}).get("client_token")
        if response.status_code != 200 or not isinstance(token, str):
            raise SourceError(f"Vault {s.method} login failed: {_status_reason(response, data)}")
        redact.register(token)
        log.debug("signed in to Vault at %s with %s", s.address, s.method)
        return token

    def _credential(self, value: Any, name: str) -> str:
        if value is None:
            raise SourceError(f"Vault {self.settings.method} auth needs {name}")
        ref = _as_ref(value)
        if ref is None:
            if name in ("roleId",) and isinstance(value, str) and value:
                return value  # a role id is an identifier, not a secret
            raise SourceError(f"vault.auth.{name} must be a reference such as {{env: NAME}}")
        try:
            return self._resolve(ref).reveal()
        except SecretError as error:
            raise SourceError(f"vault.auth.{name}: {error}") from None

    def _jwt(self) -> str:
        if self.settings.jwt is not None:
            return self._credential(self.settings.jwt, "jwt")
        from idpctl.net import github_oidc

        try:
            request = github_oidc.request_from_env(self._env, allowance=self._allowance)
            if request is None:
                raise SourceError(
                    "Vault jwt auth needs vault.auth.jwt or a GitHub Actions OIDC token "
                    "(ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN are not set; grant id-token: write)"
                )
            return github_oidc.fetch_token(
                request,
                audience=self.settings.audience,
                verify=self._actions_verify,
                timeout=self._timeout,
            )
        except github_oidc.TokenServiceError as error:
            raise SourceError(str(error)) from None

    def _request(
        self, method: str, url: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One request; a GET is retried on 429/5xx and timeouts (logins are not: an AppRole
        secret id may be limited in uses)."""
        s = self.settings
        headers = {"X-Vault-Request": "true"}
        if token:
            headers["X-Vault-Token"] = token
        if s.namespace:
            headers["X-Vault-Namespace"] = s.namespace
        try:
            with httpx.Client(
                base_url=str(s.address), verify=tls.verify(s.verify), timeout=self._timeout
            ) as client:

                def send() -> httpx.Response:
                    return client.request(method, url, headers=headers, **kwargs)

                if method != "GET":
                    return send()
                return read_with_retries(send, what=f"Vault {s.address}")
        except httpx.TransportError as error:
            raise SourceError(
                f"Vault at {s.address} is unreachable ({type(error).__name__})"
            ) from None
        except (OSError, ValueError) as error:  # a bad CA file, a malformed address
            raise SourceError(
                f"cannot reach Vault at {s.address} ({type(error).__name__})"
            ) from None


def _as_ref(value: Any) -> SecretRef | None:
    if isinstance(value, SecretRef):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((scheme, spec),) = value.items()
        if scheme in ("env", "file"):
            return SecretRef(scheme, spec)
    return None


def _parse_spec(spec: Any) -> tuple[str, str, str, int | None]:
    if not isinstance(spec, Mapping):
        raise SourceError("a vault reference needs {mount, path, key, version}")
    mount = spec.get("mount") or "secret"
    path, key, version = spec.get("path"), spec.get("key"), spec.get("version")
    if not isinstance(path, str) or not path.strip("/"):
        raise SourceError("a vault reference needs a path")
    if not isinstance(key, str) or not key:
        raise SourceError("a vault reference needs a key")
    if version is not None:
        if isinstance(version, bool) or not str(version).isdigit() or int(version) < 1:
            raise SourceError("version must be a positive integer")
        version = int(version)
    reason = check_vault_path(spec.get("mount"), what="mount") or check_vault_path(
        path, what="path"
    )
    if reason:
        raise SourceError(reason)
    return str(mount).strip("/"), path.strip("/"), key, version


def _quote(path: str) -> str:
    return "/".join(quote(part, safe="") for part in path.split("/"))


def _not_found(body: Mapping[str, Any], mount: str, path: str, version: int | None) -> str:
    metadata = (body.get("data") or {}).get("metadata") or {}
    which = f"version {metadata.get('version') or version or 'latest'}"
    if metadata.get("destroyed"):
        return f"{which} was destroyed"
    if metadata.get("deletion_time"):
        return f"{which} was deleted"
    errors = " ".join(str(e) for e in body.get("errors") or ())
    if "no handler for route" in errors:
        return f"mount {mount!r} not found (or not a KV v2 engine)"
    if version is not None:
        return f"secret {mount}/{path} version {version} not found"
    return f"secret {mount}/{path} not found"


def _status_reason(response: httpx.Response, body: Mapping[str, Any]) -> str:
    errors = [str(e) for e in body.get("errors") or () if e]
    detail = redact.shorten("; ".join(errors), 200) or response.reason_phrase
    if response.status_code == 403:
        return f"permission denied (403{': ' + detail if detail else ''})"
    return f"Vault answered {response.status_code}: {detail}"
