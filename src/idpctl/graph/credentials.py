"""The credential each sign-in mode hands to msal, loaded from settings and the environment.

    secret       a client secret (a reference, like every secret; AZURE_CLIENT_SECRET)
    certificate  PEM (key + certificate) or PFX, loaded with cryptography into msal's form
    federated    an OIDC token as client assertion: read afresh from a file on each call, or
                 fetched from GitHub Actions' token service and re-fetched near expiry
    managedIdentity, azureCli, deviceCode   no credential of idpctl's (deviceCode: the path
                 of msal's token cache)

Besides the Graph request encoder this is the one place a secret is revealed: msal must hold
the client secret or key. A `Credential` names the values to scrub from msal's error text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idpctl import redact
from idpctl.errors import AuthError
from idpctl.graph.tokens import decode_claims
from idpctl.model import Secret, SecretRef
from idpctl.net import github_oidc
from idpctl.net.endpoints import Allowance, read_regular
from idpctl.secrets.context import SecretContext, resolve_ref

__all__ = [
    "GITHUB_AUDIENCE",
    "Credential",
    "FileAssertion",
    "GitHubAssertion",
    "credential_for",
    "load_certificate",
    "setting_text",
]

GITHUB_AUDIENCE = "api://AzureADTokenExchange"


@dataclass(frozen=True)
class Credential:
    """What a chosen mode hands to msal. `credential` is never logged or shown."""

    mode: str  # secret | certificate | federated | managedIdentity
    detail: str  # value-free: "env:AZURE_CLIENT_SECRET", "file:/var/run/...", "github"
    credential: str | dict[str, Any] | None = None
    secrets: tuple[str, ...] = ()  # values to scrub from msal's error text


def credential_for(
    mode: str,
    auth: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    verify: str | bool,
    ctx: SecretContext,
    allowance: Allowance,
) -> Credential:
    """The credential `mode` signs in with (AuthError with a value-free reason)."""
    if mode == "secret":
        ref = auth.get("clientSecret")
        value = _reveal(ref, "auth.clientSecret", ctx) if ref is not None else None
        if value is None:
            value = env.get("AZURE_CLIENT_SECRET") or None
            if value is None:
                raise AuthError("auth.mode secret: no clientSecret and AZURE_CLIENT_SECRET unset")
        detail = ref.describe() if isinstance(ref, SecretRef) else "env:AZURE_CLIENT_SECRET"
        return Credential("secret", detail, value, (value,))
    if mode == "certificate":
        return _certificate(auth.get("certificate"), env, ctx)
    if mode == "federated":
        return _federated(auth.get("federatedToken"), env, verify=verify, allowance=allowance)
    if mode == "azureCli":
        return Credential("azureCli", "Azure CLI login")
    if mode == "deviceCode":
        cache = auth.get("tokenCache") or os.path.join(
            os.path.expanduser("~"), ".idpctl", "msal-token-cache.json"
        )
        return Credential("deviceCode", f"device code, cache {cache}", str(cache))
    return Credential("managedIdentity", "managed identity")


def setting_text(value: Any, where: str, ctx: SecretContext) -> str | None:
    """A plain setting that may be written as a reference (clientId: {env: AZURE_CLIENT_ID})."""
    if value is None or isinstance(value, str):
        return value or None
    return _reveal(value, where, ctx)


def _reveal(value: Any, where: str, ctx: SecretContext) -> str:
    if isinstance(value, SecretRef):
        value = resolve_ref(value, context=ctx)
    if isinstance(value, Secret):
        return value.reveal()  # msal must be handed the credential itself
    if isinstance(value, str) and value:
        return value
    raise AuthError(f"{where} must be a reference such as {{env: NAME}} or {{file: PATH}}")


def _certificate(spec: Any, env: Mapping[str, str], ctx: SecretContext) -> Credential:
    """PEM (private key + certificate) or PFX, loaded with cryptography into msal's form."""
    if isinstance(spec, str):
        spec = {"path": spec}
    spec = dict(spec or {})
    path = spec.get("path") or env.get("AZURE_CLIENT_CERTIFICATE_PATH")
    if not path:
        raise AuthError(
            "auth.mode certificate: no certificate path (auth.certificate.path or "
            "AZURE_CLIENT_CERTIFICATE_PATH)"
        )
    password = spec.get("password")
    if password is not None:
        password = _reveal(password, "auth.certificate.password", ctx)
    else:
        password = env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None
    key_pem, cert_pem = load_certificate(str(path), password)
    secrets = (key_pem, password) if password else (key_pem,)
    return Credential(
        "certificate",
        f"file:{path}",
        {"private_key": key_pem, "public_certificate": cert_pem},
        secrets,
    )


def load_certificate(path: str, password: str | None) -> tuple[str, str]:
    """(unencrypted PKCS#8 private key PEM, certificate PEM) from a PEM or PFX file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        data = read_regular(path, limit=1024 * 1024)  # a FIFO is refused, not waited on
    except OSError as error:
        raise AuthError(f"cannot read certificate {path}: {error.strerror}") from None
    secret = password.encode("utf-8") if password else None
    key: PrivateKeyTypes | None
    cert: x509.Certificate | None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(_pem_block(data, b"PRIVATE KEY"), secret)
            cert = x509.load_pem_x509_certificate(_pem_block(data, b"CERTIFICATE"))
        else:
            key, cert, _ = pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError) as error:
        reason = "wrong or missing password" if "password" in str(error).lower() else "unreadable"
        raise AuthError(
            f"certificate {path}: {reason} (PEM with key and certificate, or PFX)"
        ) from None
    if key is None or cert is None:
        raise AuthError(f"certificate {path} must hold both the private key and the certificate")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _pem_block(data: bytes, label: bytes) -> bytes:
    """The first PEM block whose label ends with `label` (any key type, encrypted or not)."""
    for block in data.split(b"-----END ")[:-1]:
        start = block.rfind(b"-----BEGIN ")
        header = block[start:].split(b"\n", 1)[0]
        if start >= 0 and header.rstrip(b"- \r").endswith(label):
            tail = block[start + 11 :].split(b"-----", 1)[0]
            return block[start:] + b"-----END " + tail + b"-----\n"
    raise ValueError(f"no {label.decode()} block")


def _federated(
    spec: Any, env: Mapping[str, str], *, verify: str | bool, allowance: Allowance
) -> Credential:
    spec = dict(spec) if isinstance(spec, Mapping) else {}
    # what the file asks for wins over the environment; `github: true` skips a token file
    path = spec.get("file") or (
        None if spec.get("github") else env.get("AZURE_FEDERATED_TOKEN_FILE")
    )
    if path:
        return Credential(
            "federated", f"file:{path}", {"client_assertion": FileAssertion(str(path))}
        )
    try:  # the request token is a credential: never over plain http
        request = github_oidc.request_from_env(env, allowance=allowance)
    except github_oidc.TokenServiceError as error:
        raise AuthError(str(error)) from None
    if request is None:
        raise AuthError(
            "auth.mode federated: no token file (AZURE_FEDERATED_TOKEN_FILE) and no "
            "GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN; the workflow "
            "needs `permissions: id-token: write`)"
        )
    assertion = GitHubAssertion(request.url, request.bearer, verify=verify)
    return Credential("federated", "github", {"client_assertion": assertion}, (request.bearer,))


class FileAssertion:
    """The client assertion read afresh from a file on each call (the platform rotates it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self) -> str:
        try:
            token = read_regular(self.path, limit=64 * 1024).decode("utf-8", "replace").strip()
        except OSError as error:
            raise AuthError(
                f"cannot read federated token file {self.path}: {error.strerror}"
            ) from None
        if not token:
            raise AuthError(f"federated token file {self.path} is empty")
        redact.register(token)
        return token


class GitHubAssertion:
    """An OIDC token from GitHub Actions' token service, re-fetched when near expiry."""

    def __init__(self, url: str, bearer: str, *, verify: str | bool, margin: float = 60.0) -> None:
        self._request = github_oidc.TokenRequest(url, bearer)  # registers the bearer
        self._verify = verify
        self._margin = margin
        self._token: str | None = None
        self._expires = 0.0

    def __repr__(self) -> str:
        return "GitHubAssertion(...)"

    def __call__(self) -> str:
        import time

        if self._token is None or time.time() > self._expires - self._margin:
            self._token = self._fetch()
            exp = decode_claims(self._token).get("exp")
            self._expires = float(exp) if isinstance(exp, int | float) else 0.0
        return self._token

    def _fetch(self) -> str:
        try:
            return github_oidc.fetch_token(
                self._request, audience=GITHUB_AUDIENCE, verify=self._verify
            )
        except github_oidc.TokenServiceError as error:
            raise AuthError(str(error)) from None
