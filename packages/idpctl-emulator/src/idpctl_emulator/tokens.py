"""The Entra stand-in: its routes and discovery, the tokens it mints, Graph's bearer-token check.

`IdentityService.handle(request)` serves, under the authority root (the emulator's base URL):

    GET  /<tenant>/v2.0/.well-known/openid-configuration   discovery (v2; v1 without "v2.0/")
    GET  /<tenant>/discovery/v2.0/keys                     the JWKS (also /<tenant>/discovery/keys)
    POST /<tenant>/oauth2/v2.0/token                       client_credentials (v1: oauth2/token;
                                                           tokenendpoint.py)
    POST /<tenant>/oauth2/v2.0/devicecode                  a person's device-code sign-in
                                                           (devicecode.py; its token grants too)
    /_github/..., /_msi/token, /secrets/...                the stand-ins (standins.py, keyvault.py)

and returns None for every other path. `authorize` checks a Graph request's bearer token and
role; `app_id` names the calling app for per-app throttling. See docs/emulator-identity.md.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from idpctl_emulator import oauth, wire
from idpctl_emulator.clients import Client, ClientRegistry
from idpctl_emulator.oauth import TokenError
from idpctl_emulator.signing import InvalidToken, Signer
from idpctl_emulator.tokenendpoint import MULTI_TENANT, TokenEndpoint

__all__ = [
    "GRAPH_AUDIENCES",
    "READ_ROLES",
    "WRITE_ROLES",
    "IdentityService",
]

GRAPH_AUDIENCES = frozenset(
    {
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
        "00000003-0000-0000-c000-000000000000",
    }
)
READ_ROLES = frozenset({"IdentityProvider.Read.All", "IdentityProvider.ReadWrite.All"})
WRITE_ROLES = frozenset({"IdentityProvider.ReadWrite.All"})
TOKEN_LIFETIME = 3599
_CACHE_MAX = 20_000
_VAULT_ROLE_PREFIX = "Key Vault "


class IdentityService:
    """Mints and checks the emulator's tokens; thread-safe."""

    def __init__(
        self,
        *,
        tenant_id: str,
        registry: ClientRegistry,
        base_url_fn: Callable[[], str],
        clock: Callable[[], float] = time.time,
        domains: Iterable[str] = (),
        ca_file: Path | None = None,
        signing_key: Path | None = None,
    ) -> None:
        from idpctl_emulator.keyvault import KeyVault
        from idpctl_emulator.standins import GitHubTokenService, ManagedIdentityEndpoint

        self.tenant_id = tenant_id
        self.registry = registry
        self._base_url_fn = base_url_fn
        self._clock = clock
        self._domains = {d.lower() for d in domains}
        self._signer = Signer.load_or_create(signing_key) if signing_key else Signer.generate()
        self._lock = threading.Lock()
        self._verified: dict[str, dict[str, Any]] = {}
        self.github = GitHubTokenService(base_url_fn=base_url_fn, clock=clock)
        self.managed_identity = ManagedIdentityEndpoint(identity=self)
        self.keyvault = KeyVault(identity=self, clock=clock)
        from idpctl_emulator.devicecode import DeviceCodeService

        self.devices = DeviceCodeService(self)
        self.token_endpoint = TokenEndpoint(self, clock=clock, ca_file=ca_file)

    # -- routing -------------------------------------------------------------------------

    def handle(self, request: wire.Request) -> wire.Response | None:
        path = request.path
        for prefix, handler in (
            ("/_github/", self.github.handle),
            ("/_msi/", self.managed_identity.handle),
            ("/secrets", self.keyvault.handle),
        ):
            if path.startswith(prefix):
                return handler(request)
        match = re.fullmatch(r"/([^/]+)/(.+?)/?", path)
        if match is None or match.group(2) not in _ROUTES:
            return None
        tenant, route = unquote(match.group(1)), _ROUTES[match.group(2)]
        expected = "POST" if route.startswith("token") or route == "devicecode" else "GET"
        if request.method != expected:
            return oauth.aad_error(
                request,
                TokenError(
                    405,
                    "invalid_request",
                    900561,
                    f"The endpoint only accepts {expected} requests. Received a {request.method} "
                    "request.",
                ),
            )
        if not self._known_tenant(tenant):
            return oauth.aad_error(
                request,
                TokenError(
                    400,
                    "invalid_tenant",
                    90002,
                    f"Tenant '{tenant}' not found. Check to make sure you have the correct "
                    "tenant ID and are signing into the correct cloud.",
                ),
            )
        if route == "devicecode":
            return self.devices.start(request, tenant)
        if route.startswith("token"):
            return self.token_endpoint.answer(request, tenant, v1=route == "token-v1")
        if route == "keys":
            return oauth.plain_json(200, self._signer.jwks())
        return oauth.plain_json(200, self._discovery(tenant, v2=route == "discovery-v2"))

    def handle_admin(self, request: wire.Request) -> wire.Response | None:
        """The identity side's admin endpoints (None if the path is not one of them):
        `GET|PUT /_emulator/github`, `GET /_emulator/managed-identity`,
        `PUT /_emulator/keyvault/secrets/{name}`, `GET /_emulator/keyvault/secrets`."""
        path = request.path.rstrip("/")
        if path == "/_emulator/github" and request.method in ("GET", "PUT"):
            if request.method == "GET":
                return oauth.plain_json(200, self.github.settings())
            try:
                body = request.json()
                if not isinstance(body, dict):
                    raise ValueError("a JSON object is required")
                return oauth.plain_json(200, self.github.configure(body))
            except ValueError as exc:
                return oauth.plain_json(400, {"error": str(exc).split("\n")[0]})
        if path == "/_emulator/managed-identity" and request.method == "GET":
            return oauth.plain_json(200, self.managed_identity.settings())
        if path.startswith("/_emulator/device"):
            return self.devices.handle_admin(request)
        return self.handle_admin_keyvault(request)

    def handle_admin_keyvault(self, request: wire.Request) -> wire.Response | None:
        """`PUT /_emulator/keyvault/secrets/{name}` {"value"} -> {id, version}; None otherwise."""
        return self.keyvault.handle_admin(request)

    def _known_tenant(self, tenant: str) -> bool:
        t = tenant.lower()
        return (
            t == self.tenant_id.lower()
            or t in MULTI_TENANT
            or t in self._domains
            or t.endswith(".onmicrosoft.com")
        )

    def _discovery(self, tenant: str, *, v2: bool) -> dict[str, Any]:
        base = self._base_url_fn().rstrip("/")
        # a multi-tenant authority keeps its name in the endpoints, as Entra's does
        t = tenant if tenant.lower() in MULTI_TENANT else self.tenant_id
        version = "v2.0/" if v2 else ""
        issuer = (
            f"{base}/{t if tenant.lower() not in MULTI_TENANT else '{tenantid}'}/v2.0"
            if v2
            else f"https://sts.windows.net/{self.tenant_id}/"
        )
        return {
            "issuer": issuer,
            "token_endpoint": f"{base}/{t}/oauth2/{version}token",
            "authorization_endpoint": f"{base}/{t}/oauth2/{version}authorize",
            "device_authorization_endpoint": f"{base}/{t}/oauth2/{version}devicecode",
            "jwks_uri": f"{base}/{t}/discovery/{version}keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }

    def base_url(self) -> str:
        return self._base_url_fn()

    def now(self) -> float:
        return self._clock()

    def sign(self, claims: dict[str, Any]) -> str:
        return self._signer.sign(claims)

    def issue(
        self,
        client: Client,
        resource: str,
        *,
        appidacr: str = "1",
        extra: dict[str, Any] | None = None,
        app_roles: bool = True,
    ) -> tuple[str, int]:
        """Mint an access token for `client` and `resource`; returns (jwt, expires_on)."""
        now = int(self._clock())
        issuer = f"https://sts.windows.net/{self.tenant_id}/"
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "aio": str(uuid.uuid4()),
            "appid": client.client_id,
            "azp": client.client_id,
            "appidacr": appidacr,
            "idp": issuer,
            "idtyp": "app",
            "oid": client.object_id,
            "sub": client.object_id,
            "tid": self.tenant_id,
            "uti": uuid.uuid4().hex[:22],
            "ver": "1.0",
        }
        roles = _roles_for(client.roles, resource) if app_roles else []
        if roles:
            claims["roles"] = roles
        claims.update(extra or {})
        return self._signer.sign(claims), now + TOKEN_LIFETIME

    # -- checking tokens -----------------------------------------------------------------

    def verify_access_token(self, token: str, *, audiences: Collection[str]) -> dict[str, Any]:
        """Claims of a token this emulator issued for one of `audiences`, unexpired; else
        raises InvalidToken with a Graph-style reason."""
        with self._lock:
            claims = self._verified.get(token)
        if claims is None:
            claims = self._signer.verify(token)
            if claims.get("iss") != f"https://sts.windows.net/{self.tenant_id}/":
                raise InvalidToken("Access token validation failure. Invalid issuer.")
            with self._lock:
                if len(self._verified) >= _CACHE_MAX:
                    self._verified.clear()
                self._verified[token] = claims
        if claims.get("aud") not in audiences:
            raise InvalidToken("Access token validation failure. Invalid audience.")
        now = self._clock()
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            raise InvalidToken("Lifetime validation failed, the token is expired.")
        if isinstance(claims.get("nbf"), int) and claims["nbf"] > now + 300:
            raise InvalidToken("Lifetime validation failed, the token is not yet valid.")
        return claims

    def authorize(
        self, request: wire.Request, *, write: bool, roles: Collection[str] | None = None
    ) -> wire.Response | None:
        """None when the bearer token is valid and holds one of `roles` (default: the
        identity-provider read or write roles); else the 401/403 answer."""
        token = oauth.bearer(request)
        try:
            if token is None:
                raise InvalidToken("Access token is empty.")
            claims = self.verify_access_token(token, audiences=GRAPH_AUDIENCES)
        except InvalidToken as exc:
            return wire.graph_error(
                401,
                "InvalidAuthenticationToken",
                str(exc),
                request_id=request.request_id,
                client_request_id=request.headers.get("client-request-id"),
                headers={"WWW-Authenticate": self._graph_challenge()},
            )
        wanted = roles if roles is not None else (WRITE_ROLES if write else READ_ROLES)
        if not set(claims.get("roles") or ()) & set(wanted) and not _person_may(claims, wanted):
            return wire.graph_error(
                403,
                "accessDenied",
                "You cannot perform the requested operation, required scopes are missing in "
                "the token.",
                request_id=request.request_id,
                client_request_id=request.headers.get("client-request-id"),
            )
        return None

    def app_id(self, request: wire.Request) -> str | None:
        token = oauth.bearer(request)
        if token is None:
            return None
        try:
            return self.verify_access_token(token, audiences=GRAPH_AUDIENCES).get("appid")
        except InvalidToken:
            return None

    def _graph_challenge(self) -> str:
        base = self._base_url_fn().rstrip("/")
        return (
            f'Bearer realm="", authorization_uri="{base}/{self.tenant_id}/oauth2/authorize", '
            'client_id="00000003-0000-0000-c000-000000000000"'
        )


# a person's token (delegated): the scope AND a directory role that manages identity providers
# (api-reference/v1.0/api/identitycontainer-list-identityproviders.md: External Identity
# Provider Administrator is the least privileged role; Global Administrator may too)
_MANAGING_ROLES = frozenset(
    {"be2f45a1-457d-42af-a067-6ec1fa63bc45", "62e90394-69f5-4237-9190-012177145e10"}
)


def _person_may(claims: dict[str, Any], wanted: Collection[str]) -> bool:
    scopes = set(str(claims.get("scp") or "").split())
    if not scopes & (set(wanted) | {"Directory.AccessAsUser.All"}):
        return False
    return bool(set(claims.get("wids") or ()) & _MANAGING_ROLES)


_ROUTES = {
    "oauth2/v2.0/devicecode": "devicecode",
    "v2.0/.well-known/openid-configuration": "discovery-v2",
    ".well-known/openid-configuration": "discovery-v1",
    "discovery/v2.0/keys": "keys",
    "discovery/keys": "keys",
    "oauth2/v2.0/token": "token",
    "oauth2/token": "token-v1",
}


def _roles_for(roles: Iterable[str], resource: str) -> list[str]:
    """Key Vault data roles go into vault tokens; every other role into the rest."""
    vault = resource.rstrip("/") == "https://vault.azure.net"
    return [r for r in roles if r.startswith(_VAULT_ROLE_PREFIX) == vault]
