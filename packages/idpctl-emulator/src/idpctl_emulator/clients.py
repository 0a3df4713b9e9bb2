"""The app registrations (clients) the emulator's token endpoint knows.

A client is registered from a spec, the JSON/YAML shape of `POST /_emulator/clients` and of
`--clients FILE`:

    {clientId, secret? | certificatePem?, federated?: [{issuer, subject, audience? | audiences?,
     jwksUri? | jwks?}], roles?: [...], managedIdentity?: system | user, resourceId?}

`roles` omitted means the default grant: `IdentityProvider.ReadWrite.All` on Graph and
`Key Vault Secrets User` on Key Vault; an explicit list (even empty) is taken as given.
Registering a `clientId` again replaces the earlier registration.
"""

from __future__ import annotations

import hmac
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ROLES",
    "Client",
    "ClientRegistry",
    "FederatedCredential",
    "object_id_for",
    "secret_matches",
]

DEFAULT_AUDIENCE = "api://AzureADTokenExchange"
DEFAULT_ROLES = ("IdentityProvider.ReadWrite.All", "Key Vault Secrets User")
_MI_KINDS = ("system", "user")


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential: trust tokens from `issuer` for `subject`."""

    issuer: str
    subject: str
    audiences: tuple[str, ...] = (DEFAULT_AUDIENCE,)
    jwks_uri: str | None = None  # None and no jwks: discovered from the issuer's metadata
    jwks: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
        }
        if self.jwks_uri:
            out["jwksUri"] = self.jwks_uri
        if self.jwks is not None:
            out["jwks"] = self.jwks
        return out


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None = field(default=None, repr=False)  # never logged, never returned
    certificate_pem: str | None = None
    federated: tuple[FederatedCredential, ...] = ()
    roles: tuple[str, ...] = DEFAULT_ROLES
    managed_identity: str | None = None  # "system" | "user": served by the MI endpoint
    resource_id: str | None = None  # a user-assigned identity's ARM id (mi_res_id)

    @property
    def object_id(self) -> str:
        return object_id_for(self.client_id)

    def certificates(self) -> list[x509.Certificate]:
        if not self.certificate_pem:
            return []
        return x509.load_pem_x509_certificates(self.certificate_pem.encode("ascii"))

    def to_data(self) -> dict[str, Any]:
        """The registration as the admin API shows it: the secret only as present or not."""
        out: dict[str, Any] = {
            "clientId": self.client_id,
            "objectId": self.object_id,
            "hasSecret": self.secret is not None,
            "certificates": [_thumbprints(c) for c in self.certificates()],
            "federated": [f.to_data() for f in self.federated],
            "roles": list(self.roles),
        }
        if self.managed_identity:
            out["managedIdentity"] = self.managed_identity
        if self.resource_id:
            out["resourceId"] = self.resource_id
        return out


def object_id_for(client_id: str) -> str:
    """A stable service principal object id for a client id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"idpctl-emulator:sp:{client_id}"))


class ClientRegistry:
    """Thread-safe map client id -> Client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}

    def register(self, spec: dict) -> dict:
        """Add or replace a client; raises ValueError naming the bad field (never a value)."""
        client = _parse_client(spec)
        with self._lock:
            self._clients[client.client_id] = client
        return client.to_data()

    def load_file(self, path: str | Path) -> None:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if isinstance(doc, dict):
            doc = doc.get("clients")
        if not isinstance(doc, list):
            raise ValueError(f"{path}: expected a list of clients or {{clients: [...]}}")
        for index, spec in enumerate(doc):
            try:
                self.register(spec)
            except ValueError as exc:
                raise ValueError(f"{path}: client #{index + 1}: {exc}") from None

    def get(self, client_id: str) -> Client | None:
        with self._lock:
            return self._clients.get(client_id)

    def all(self) -> list[dict]:
        with self._lock:
            clients = list(self._clients.values())
        return [c.to_data() for c in clients]

    def managed_identities(self) -> list[Client]:
        with self._lock:
            return [c for c in self._clients.values() if c.managed_identity]


def _thumbprints(cert: x509.Certificate) -> dict[str, str]:
    return {
        "x5t": cert.fingerprint(hashes.SHA1()).hex().upper(),
        "x5t#S256": cert.fingerprint(hashes.SHA256()).hex().upper(),
        "subject": cert.subject.rfc4514_string(),
    }


def _parse_client(spec: Any) -> Client:
    if not isinstance(spec, dict):
        raise ValueError("a client must be a mapping")
    client_id = spec.get("clientId")
    if not isinstance(client_id, str) or not client_id.strip() or " " in client_id:
        raise ValueError("clientId: a non-empty string without spaces is required")
    secret = spec.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise ValueError("secret: must be a non-empty string")
    cert_pem = spec.get("certificatePem")
    if cert_pem is not None:
        _check_certificates(cert_pem)
    managed = spec.get("managedIdentity")
    if managed is not None and managed not in _MI_KINDS:
        raise ValueError("managedIdentity: must be 'system' or 'user'")
    resource_id = spec.get("resourceId")
    if resource_id is not None and not isinstance(resource_id, str):
        raise ValueError("resourceId: must be a string")
    return Client(
        client_id=client_id,
        secret=secret,
        certificate_pem=cert_pem,
        federated=tuple(_parse_federated(f, i) for i, f in enumerate(spec.get("federated") or [])),
        roles=_parse_roles(spec),
        managed_identity=managed,
        resource_id=resource_id,
    )


def _check_certificates(pem: Any) -> None:
    if not isinstance(pem, str):
        raise ValueError("certificatePem: must be a PEM string")
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except ValueError:
        raise ValueError("certificatePem: not a PEM certificate") from None
    if not certs:
        raise ValueError("certificatePem: no certificate found")


def _parse_roles(spec: dict) -> tuple[str, ...]:
    if "roles" not in spec or spec["roles"] is None:
        return DEFAULT_ROLES
    roles = spec["roles"]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValueError("roles: must be a list of strings")
    return tuple(roles)


def _parse_federated(item: Any, index: int) -> FederatedCredential:
    where = f"federated[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: must be a mapping")
    issuer, subject = item.get("issuer"), item.get("subject")
    if not isinstance(issuer, str) or not issuer.startswith("https://"):
        raise ValueError(f"{where}.issuer: an https URL is required")
    if not isinstance(subject, str) or not subject:
        raise ValueError(f"{where}.subject: required")
    audiences = item.get("audiences", item.get("audience", DEFAULT_AUDIENCE))
    if isinstance(audiences, str):
        audiences = [audiences]
    if not isinstance(audiences, list) or len(audiences) != 1 or not isinstance(audiences[0], str):
        # Entra allows exactly one audience per federated identity credential
        raise ValueError(f"{where}.audience: exactly one audience string")
    jwks_uri, jwks = item.get("jwksUri"), item.get("jwks")
    if jwks_uri is not None and not (isinstance(jwks_uri, str) and jwks_uri.startswith("https://")):
        raise ValueError(f"{where}.jwksUri: an https URL is required")
    if jwks is not None and (not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list)):
        raise ValueError(f"{where}.jwks: a JWK set {{keys: [...]}} is required")
    return FederatedCredential(issuer, subject, (audiences[0],), jwks_uri, jwks)


def secret_matches(client: Client, offered: str) -> bool:
    """Constant-time comparison of a presented secret with the registered one."""
    if client.secret is None:
        return False
    return hmac.compare_digest(client.secret.encode("utf-8"), offered.encode("utf-8"))
