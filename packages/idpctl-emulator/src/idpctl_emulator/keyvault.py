"""Azure Key Vault's secrets read API, served at the emulator's root so that a URL of the shape
`https://<host>/secrets/<name>[/<version>]` works against it.

    GET /secrets/{name}[/{version}]?api-version=7.4     needs a token for https://vault.azure.net
    PUT /_emulator/keyvault/secrets/{name}  {"value", "contentType"?, "enabled"?}   (admin: seed)
    GET /_emulator/keyvault/secrets                     (admin: names, versions, value hashes)

Key Vault's order: the bearer challenge first, then the caller's data role (Azure RBAC
`Key Vault Secrets User`, `... Officer` or `Key Vault Administrator` in the token's roles),
then the secret.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from idpctl_emulator import wire
from idpctl_emulator.signing import InvalidToken

if TYPE_CHECKING:
    from idpctl_emulator.tokens import IdentityService

__all__ = ["VAULT_AUDIENCES", "VAULT_READ_ROLES", "KeyVault"]

VAULT_AUDIENCES = frozenset({"https://vault.azure.net", "https://vault.azure.net/"})
VAULT_READ_ROLES = frozenset(
    {"Key Vault Secrets User", "Key Vault Secrets Officer", "Key Vault Administrator"}
)
_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_VERSION = re.compile(r"[0-9a-f]{32}")
_ADMIN_PREFIX = "/_emulator/keyvault/secrets"


@dataclass(frozen=True)
class _Version:
    version: str
    value: str
    created: int
    content_type: str | None
    enabled: bool


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> wire.Response:
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return wire.Response(status, json.dumps(payload).encode("utf-8"), out)


def _kv_error(
    status: int,
    code: str,
    message: str,
    inner: str | None = None,
    headers: dict[str, str] | None = None,
) -> wire.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return _json(status, {"error": error}, headers)


class KeyVault:
    """An in-memory vault of versioned secrets; thread-safe."""

    def __init__(self, *, identity: IdentityService, clock: Callable[[], float]) -> None:
        self._identity = identity
        self._clock = clock
        self._lock = threading.Lock()
        self._secrets: dict[str, list[_Version]] = {}

    def reset(self) -> None:
        with self._lock:
            self._secrets.clear()

    def set_secret(
        self, name: str, value: str, *, content_type: str | None = None, enabled: bool = True
    ) -> dict[str, str]:
        """Add a new version (the new latest); returns {id, version}."""
        if not _NAME.fullmatch(name):
            raise ValueError("name: 1-127 letters, digits and dashes")
        version = _Version(uuid.uuid4().hex, value, int(self._clock()), content_type, enabled)
        with self._lock:
            self._secrets.setdefault(name.lower(), []).append(version)
        return {"id": self._secret_id(name, version.version), "version": version.version}

    def _secret_id(self, name: str, version: str) -> str:
        return f"{self._identity._base_url_fn().rstrip('/')}/secrets/{name}/{version}"

    # -- the data plane ------------------------------------------------------------------

    def handle(self, request: wire.Request) -> wire.Response | None:
        match = re.fullmatch(r"/secrets(?:/([^/]+)(?:/([^/]*))?)?/?", request.path)
        if match is None:
            return None
        denied = self._check_caller(request)
        if denied is not None:
            return denied
        if request.method != "GET":
            return _kv_error(
                405,
                "BadParameter",
                f"The method {request.method} is not "
                "supported by the emulator's Key Vault (reads only).",
            )
        if not request.query_one("api-version"):
            return _kv_error(400, "BadParameter", "The 'api-version' query parameter is required.")
        name, version = match.group(1), match.group(2) or None
        if not name or not _NAME.fullmatch(name):
            return _kv_error(
                400, "BadParameter", "The secret name is invalid: 1-127 letters, digits and dashes."
            )
        return self._read(name, version)

    def _check_caller(self, request: wire.Request) -> wire.Response | None:
        challenge = (
            f'Bearer authorization="{self._identity._base_url_fn().rstrip("/")}/'
            f'{self._identity.tenant_id}", resource="https://vault.azure.net"'
        )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _kv_error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                headers={"WWW-Authenticate": challenge},
            )
        try:
            claims = self._identity.verify_access_token(token.strip(), audiences=VAULT_AUDIENCES)
        except InvalidToken as exc:
            return _kv_error(
                401, "Unauthorized", _akv_reason(str(exc)), headers={"WWW-Authenticate": challenge}
            )
        if not set(claims.get("roles") or ()) & VAULT_READ_ROLES:
            return _kv_error(
                403,
                "Forbidden",
                "Caller is not authorized to perform action on resource.\r\nIf role assignments, "
                "deny assignments or role definitions were changed recently, please observe "
                f"propagation time.\r\nCaller: appid={claims.get('appid')};oid={claims.get('oid')}"
                "\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n"
                "Assignment: (not found)\r\nVault: emulator;location=local\r\n",
                inner="ForbiddenByRbac",
            )
        return None

    def _read(self, name: str, version: str | None) -> wire.Response:
        with self._lock:
            versions = list(self._secrets.get(name.lower(), ()))
        found = (
            versions[-1]
            if versions and version is None
            else next((v for v in versions if v.version == version), None)
        )
        if found is None:
            shown = f"{name}/{version}" if version else name
            return _kv_error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {shown} was not found in this key vault. If you "
                "recently deleted this secret you may be able to recover it using the correct "
                "recovery command. For help resolving this issue, please see "
                "https://go.microsoft.com/fwlink/?linkid=2125182",
            )
        if not found.enabled:
            return _kv_error(
                403,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
                inner="SecretDisabled",
            )
        body: dict[str, Any] = {
            "value": found.value,
            "id": self._secret_id(name, found.version),
            "attributes": {
                "enabled": True,
                "created": found.created,
                "updated": found.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": {},
        }
        if found.content_type:
            body["contentType"] = found.content_type
        return _json(200, body)

    # -- the admin API -------------------------------------------------------------------

    def handle_admin(self, request: wire.Request) -> wire.Response | None:
        """`PUT /_emulator/keyvault/secrets/{name}`, `GET /_emulator/keyvault/secrets`."""
        path = request.path.rstrip("/")
        if path == _ADMIN_PREFIX and request.method == "GET":
            return _json(200, {"secrets": self._listing()})
        if not path.startswith(_ADMIN_PREFIX + "/"):
            return None
        name = path[len(_ADMIN_PREFIX) + 1 :]
        if request.method != "PUT":
            return _json(405, {"error": "only PUT seeds a secret"})
        try:
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("value"), str):
                raise ValueError('body: {"value": string} is required')
            enabled = body.get("enabled", True)
            if not isinstance(enabled, bool):
                raise ValueError("enabled: a boolean is required")
            result = self.set_secret(
                name, body["value"], content_type=body.get("contentType"), enabled=enabled
            )
        except ValueError as exc:  # includes a JSON decode error
            return _json(400, {"error": str(exc).split("\n")[0]})
        return _json(200, result)

    def _listing(self) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self._secrets.items())
        return [
            {
                "name": name,
                "versions": [
                    {
                        "version": v.version,
                        "enabled": v.enabled,
                        "value": {"sha256": hashlib.sha256(v.value.encode("utf-8")).hexdigest()},
                    }
                    for v in versions
                ],
            }
            for name, versions in items
        ]


def _akv_reason(reason: str) -> str:
    if "audience" in reason:
        return "AKV10022: Invalid audience. Expected https://vault.azure.net."
    if "expired" in reason:
        return "AKV10032: Invalid token: the token is expired."
    if "issuer" in reason:
        return "AKV10032: Invalid issuer."
    return "AKV10032: Invalid token: the token's signature could not be validated."
