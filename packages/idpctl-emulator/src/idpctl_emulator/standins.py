"""Two stand-ins that hand out tokens the way CI runners get them.

- GitHub Actions' OIDC token service (what `ACTIONS_ID_TOKEN_REQUEST_URL` points at):
  `GET /_github/token?api-version=2.0&audience=...` with `Authorization: Bearer
  <ACTIONS_ID_TOKEN_REQUEST_TOKEN>` -> `{"value": "<jwt>"}`, minted by the issuer
  `<base>/_github`, whose discovery document and JWKS are served beside it. The emulator's token
  endpoint trusts that issuer for clients with a matching federated credential.
- App Service's managed identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, protocol
  2019-08-01, as msal's `ManagedIdentityClient` speaks it): `GET /_msi/token?api-version=
  2019-08-01&resource=...[&client_id=|object_id=|mi_res_id=]` with `X-IDENTITY-HEADER`.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from idpctl_emulator import wire
from idpctl_emulator.clients import Client
from idpctl_emulator.signing import Signer

if TYPE_CHECKING:
    from idpctl_emulator.tokens import IdentityService

__all__ = ["DEFAULT_GITHUB_SUBJECT", "GitHubTokenService", "ManagedIdentityEndpoint"]

DEFAULT_GITHUB_SUBJECT = "repo:contoso/idp-config:ref:refs/heads/main"
_GITHUB_LIFETIME = 300


def _json(status: int, payload: Any) -> wire.Response:
    return wire.Response(
        status,
        wire.json.dumps(payload).encode("utf-8"),
        {"Content-Type": "application/json; charset=utf-8"},
    )


class GitHubTokenService:
    """Mints GitHub Actions-style OIDC tokens from the issuer `<base>/_github`."""

    def __init__(self, *, base_url_fn: Callable[[], str], clock: Callable[[], float]) -> None:
        self._base_url_fn = base_url_fn
        self._clock = clock
        self._signer_made: Signer | None = None
        self._signer_lock = threading.Lock()
        self._lock = threading.Lock()
        self.request_token = secrets.token_urlsafe(32)
        self.subject = DEFAULT_GITHUB_SUBJECT
        self.lifetime = _GITHUB_LIFETIME
        self.extra_claims: dict[str, Any] = {}

    @property
    def _signer(self) -> Signer:
        """Made on first use: an RSA key costs start-up time most runs never need."""
        with self._signer_lock:
            if self._signer_made is None:
                self._signer_made = Signer.generate()
            return self._signer_made

    @property
    def issuer(self) -> str:
        return self._base_url_fn().rstrip("/") + "/_github"

    @property
    def request_url(self) -> str:
        """The value for ACTIONS_ID_TOKEN_REQUEST_URL (clients append `&audience=...`)."""
        return self.issuer + "/token?api-version=2.0"

    def jwks(self) -> dict[str, Any]:
        return self._signer.jwks()

    def handle(self, request: wire.Request) -> wire.Response:
        route = request.path[len("/_github") :].rstrip("/")
        if request.method != "GET":
            return _json(405, {"message": "Method Not Allowed"})
        if route == "/.well-known/openid-configuration":
            return _json(200, self._discovery())
        if route == "/.well-known/jwks":
            return _json(200, self.jwks())
        if route == "/token":
            return self._token(request)
        return _json(404, {"message": "Not Found"})

    def _discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + "/.well-known/jwks",
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": [
                "sub",
                "aud",
                "exp",
                "iat",
                "iss",
                "jti",
                "nbf",
                "ref",
                "repository",
                "repository_owner",
                "environment",
                "event_name",
            ],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "repo", "repository_owner", "environment"],
        }

    def _token(self, request: wire.Request) -> wire.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            token.strip().encode(), self.request_token.encode()
        ):
            return _json(401, {"message": "Bad credentials"})
        subject = request.query_one("subject") or self.subject
        owner = _repository(subject).split("/")[0]
        audience = request.query_one("audience") or f"https://github.com/{owner}"
        return _json(200, {"value": self.mint(subject=subject, audience=audience)})

    def mint(self, *, subject: str, audience: str, lifetime: int | None = None) -> str:
        """A signed token as GitHub Actions would issue it for `subject`."""
        now = int(self._clock())
        repository = _repository(subject)
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": subject,
            "aud": audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now - 5,
            "exp": now + (lifetime or self.lifetime),
            "repository": repository,
            "repository_owner": repository.split("/")[0],
            "runner_environment": "github-hosted",
            "run_id": "1",
            "run_attempt": "1",
        }
        claims.update(_subject_claims(subject))
        with self._lock:
            claims.update(self.extra_claims)
        return self._signer.sign(claims)

    def settings(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "requestUrl": self.request_url,
            "requestToken": self.request_token,
            "subject": self.subject,
            "lifetimeSeconds": self.lifetime,
            "claims": dict(self.extra_claims),
        }

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply `{subject?, requestToken?, lifetimeSeconds?, claims?}`; ValueError if bad."""
        with self._lock:
            if "subject" in body:
                self.subject = _nonempty(body["subject"], "subject")
            if "requestToken" in body:
                self.request_token = _nonempty(body["requestToken"], "requestToken")
            if "lifetimeSeconds" in body:
                value = body["lifetimeSeconds"]
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError("lifetimeSeconds: a positive integer is required")
                self.lifetime = value
            if "claims" in body:
                if not isinstance(body["claims"], dict):
                    raise ValueError("claims: a mapping is required")
                self.extra_claims = dict(body["claims"])
        return self.settings()


def _nonempty(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: a non-empty string is required")
    return value


def _repository(subject: str) -> str:
    parts = subject.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "repo" else "contoso/idp-config"


def _subject_claims(subject: str) -> dict[str, Any]:
    """ref/environment/event claims implied by a GitHub subject."""
    rest = subject.split(":", 2)[2] if subject.count(":") >= 2 else ""
    if rest.startswith("ref:"):
        ref = rest[len("ref:") :]
        return {
            "ref": ref,
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "event_name": "push",
        }
    if rest.startswith("environment:"):
        return {
            "environment": rest[len("environment:") :],
            "event_name": "workflow_dispatch",
            "ref": "refs/heads/main",
            "ref_type": "branch",
        }
    if rest == "pull_request":
        return {"event_name": "pull_request", "ref": "refs/pull/1/merge", "ref_type": "branch"}
    return {}


class ManagedIdentityEndpoint:
    """App Service style managed identity endpoint over the emulator's own token minting."""

    API_VERSION = "2019-08-01"

    def __init__(self, *, identity: IdentityService) -> None:
        self._identity = identity
        self.header = secrets.token_urlsafe(24)
        self.system_client_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"idpctl-emulator:msi:{identity.tenant_id}")
        )

    @property
    def endpoint(self) -> str:
        """The value for IDENTITY_ENDPOINT."""
        return self._identity._base_url_fn().rstrip("/") + "/_msi/token"

    def settings(self) -> dict[str, Any]:
        system = self._system()
        users = [
            c.to_data()
            for c in self._identity.registry.managed_identities()
            if c.managed_identity == "user"
        ]
        return {
            "endpoint": self.endpoint,
            "header": self.header,
            "systemAssigned": {
                "clientId": system.client_id,
                "objectId": system.object_id,
                "roles": list(system.roles),
            },
            "userAssigned": users,
        }

    def _system(self) -> Client:
        for client in self._identity.registry.managed_identities():
            if client.managed_identity == "system":
                return client
        return Client(client_id=self.system_client_id, managed_identity="system")

    def handle(self, request: wire.Request) -> wire.Response:
        if request.path.rstrip("/") != "/_msi/token":
            return _msi_error(404, "Not found.")
        if request.method != "GET":
            return _msi_error(405, "Only GET is supported.")
        offered = request.headers.get("x-identity-header", "")
        if not secrets.compare_digest(offered.encode(), self.header.encode()):
            return _msi_error(400, "The X-IDENTITY-HEADER header is missing or invalid.")
        if request.query_one("api-version") != self.API_VERSION:
            return _msi_error(400, f"api-version must be '{self.API_VERSION}'.")
        resource = (request.query_one("resource") or "").removesuffix("/.default").rstrip("/")
        if not resource:
            return _msi_error(400, "The 'resource' parameter is required.")
        client = self._select(request)
        if client is None:
            return _msi_error(
                400,
                "No User Assigned or Delegated Managed Identity found for "
                "specified ClientId/ResourceId/PrincipalId.",
            )
        extra = {"xms_mirid": client.resource_id} if client.resource_id else None
        token, expires_on = self._identity.issue(client, resource, appidacr="2", extra=extra)
        return _json(
            200,
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client.client_id,
            },
        )

    def _select(self, request: wire.Request) -> Client | None:
        wanted = [
            (name, value)
            for name in ("client_id", "object_id", "mi_res_id")
            if (value := request.query_one(name))
        ]
        if not wanted:
            return self._system()
        name, value = wanted[0]
        for client in self._identity.registry.managed_identities():
            if client.managed_identity != "user":
                continue
            have = {
                "client_id": client.client_id,
                "object_id": client.object_id,
                "mi_res_id": client.resource_id,
            }[name]
            if have and have.lower() == value.lower():
                return client
        return None


def _msi_error(status: int, message: str) -> wire.Response:
    return _json(
        status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    )
