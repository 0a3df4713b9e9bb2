"""Client assertions at the token endpoint, checked as Entra checks them.

Two kinds, told apart by the assertion's `iss` as Entra does:
- `iss` == the client id: a certificate credential (private_key_jwt). The `x5t` or `x5t#S256`
  header picks a registered certificate; signature, `aud` (the token endpoint), `sub`, `exp`,
  `nbf` and `jti` (single use) are checked.
- anything else: a federated identity credential. A registered credential with that issuer,
  subject and audience must exist; the signature is checked against its `jwks`, its `jwksUri`
  or the issuer's discovery document; `exp`/`nbf` checked. Federated tokens may be reused
  (GitHub's are, across token requests), so `jti` is not tracked for them.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

from idpctl_emulator.clients import Client, FederatedCredential
from idpctl_emulator.oauth import TokenError
from idpctl_emulator.signing import InvalidToken, b64url, unverified_parts

__all__ = ["AssertionChecker"]

log = logging.getLogger(__name__)

CLOCK_SKEW = 300  # seconds; Entra tolerates five minutes
_CERT_ALGS = ("RS256", "PS256")
_FEDERATED_ALGS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
_JWKS_TTL = 300.0
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_FIC_HINT = (
    " Please check your federated identity credential Subject, Audience and Issuer "
    "against the presented assertion."
)


def _invalid_client(code: int, description: str) -> TokenError:
    return TokenError(401, "invalid_client", code, description)


class AssertionChecker:
    """Verifies client assertions; thread-safe; remembers used `jti`s until they expire."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        local_issuers: Callable[[], dict[str, dict[str, Any]]],
        ca_file: Path | None = None,
    ) -> None:
        self._clock = clock
        self._local_issuers = local_issuers  # issuer -> JWKS served by this emulator
        self._ca_file = ca_file
        self._lock = threading.Lock()
        self._seen_jti: dict[str, float] = {}
        self._jwks_cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def check(self, client: Client, assertion: str, *, audiences: Iterable[str]) -> str:
        """Return "certificate" or "federated", or raise TokenError."""
        try:
            header, payload = unverified_parts(assertion)
        except InvalidToken:
            raise _invalid_client(50027, "JWT token is invalid or malformed.") from None
        if payload.get("iss") == client.client_id:
            self._check_certificate(client, assertion, header, payload, set(audiences))
            return "certificate"
        self._check_federated(client, assertion, header, payload)
        return "federated"

    # -- certificate (private_key_jwt) ---------------------------------------------------

    def _check_certificate(
        self, client: Client, token: str, header: dict, payload: dict, audiences: set[str]
    ) -> None:
        cert = _find_certificate(client, header)
        if header.get("alg") not in _CERT_ALGS:
            raise _invalid_client(
                5002738,
                f"Invalid JWT token. '{header.get('alg')}' is not a supported "
                "signature algorithm. Supported signing algorithms are: 'RS256, PS256'",
            )
        try:
            jwt.decode(
                token,
                cert.public_key(),
                algorithms=[header["alg"]],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_iss": False,
                },
            )
        except jwt.PyJWTError:
            raise _invalid_client(700027, "Client assertion failed signature validation.") from None
        if payload.get("sub") != client.client_id:
            raise _invalid_client(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )
        if payload.get("aud") not in audiences:
            raise _invalid_client(
                700023,
                "Client assertion audience claim does not match Realm issuer. "
                f"Expected one of {sorted(audiences)}.",
            )
        self._check_time(payload)
        self._check_replay(client.client_id, payload)

    def _check_replay(self, client_id: str, payload: dict) -> None:
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid_client(50027, "JWT token is invalid: the 'jti' claim is required.")
        now = self._clock()
        key = f"{client_id}\n{jti}"
        with self._lock:
            for old in [k for k, until in self._seen_jti.items() if until < now]:
                del self._seen_jti[old]
            if key in self._seen_jti:
                raise _invalid_client(
                    50013,
                    "Assertion is invalid: the client assertion's 'jti' was already used (replay).",
                )
            self._seen_jti[key] = float(payload["exp"]) + CLOCK_SKEW

    def _check_time(self, payload: dict) -> None:
        now = self._clock()
        exp, nbf = payload.get("exp"), payload.get("nbf", payload.get("iat"))
        if not isinstance(exp, int | float):
            raise _invalid_client(50027, "JWT token is invalid: the 'exp' claim is required.")
        if exp + CLOCK_SKEW < now or (isinstance(nbf, int | float) and nbf - CLOCK_SKEW > now):
            raise _invalid_client(
                700024,
                f"Client assertion is not within its valid time range. Current time: "
                f"{_iso(now)}, assertion valid from {_iso(nbf) if nbf else 'unset'}, expiry "
                f"time of assertion {_iso(exp)}.",
            )

    # -- federated identity credentials --------------------------------------------------

    def _check_federated(self, client: Client, token: str, header: dict, payload: dict) -> None:
        issuer, subject = payload.get("iss"), payload.get("sub")
        by_issuer = [f for f in client.federated if f.issuer == issuer]
        if not by_issuer:
            raise _invalid_client(
                700211,
                "No matching federated identity record found for presented assertion "
                f"issuer '{issuer}'." + _FIC_HINT,
            )
        if header.get("alg") not in _FEDERATED_ALGS:
            raise _invalid_client(
                5002738,
                f"Invalid JWT token. '{header.get('alg')}' is not a supported signature algorithm.",
            )
        self._verify_federated_signature(by_issuer[0], token, header)
        self._check_time(payload)
        by_subject = [f for f in by_issuer if f.subject == subject]
        if not by_subject:
            raise _invalid_client(
                700213,
                "No matching federated identity record found for presented assertion "
                f"subject '{subject}'." + _FIC_HINT,
            )
        aud = payload.get("aud")
        presented = [aud] if isinstance(aud, str) else list(aud or [])
        if not any(a in f.audiences for f in by_subject for a in presented):
            raise _invalid_client(
                700212,
                "No matching federated identity record found for presented assertion "
                f"audience '{aud}'." + _FIC_HINT,
            )

    def _verify_federated_signature(
        self, cred: FederatedCredential, token: str, header: dict
    ) -> None:
        keys = self._issuer_keys(cred)
        kid = header.get("kid")
        candidates = [k for k in keys.get("keys", []) if kid is None or k.get("kid") == kid]
        for jwk in candidates:
            try:
                key = jwt.PyJWK(jwk, algorithm=header["alg"]).key
                jwt.decode(
                    token,
                    key,
                    algorithms=[header["alg"]],
                    options={
                        "verify_aud": False,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_iss": False,
                    },
                )
                return
            except (jwt.PyJWTError, ValueError, KeyError, TypeError):
                continue
        raise _invalid_client(
            700027,
            "Client assertion failed signature validation. (Reason - The key was not "
            f"found in the issuer's signing keys, kid: '{kid}'.)",
        )

    def _issuer_keys(self, cred: FederatedCredential) -> dict[str, Any]:
        local = self._local_issuers().get(cred.issuer)
        if local is not None:
            return local
        if cred.jwks is not None:
            return cred.jwks
        try:
            uri = (
                cred.jwks_uri
                or self._fetch(cred.issuer.rstrip("/") + "/.well-known/openid-configuration")[
                    "jwks_uri"
                ]
            )
            return self._cached_fetch(uri)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("federated issuer %s keys unavailable: %s", cred.issuer, exc)
            raise _invalid_client(
                50166,
                f"Request to External OIDC endpoint failed (issuer '{cred.issuer}').",
            ) from None

    def _cached_fetch(self, uri: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            hit = self._jwks_cache.get(uri)
        if hit and now - hit[0] < _JWKS_TTL:
            return hit[1]
        doc = self._fetch(uri)
        with self._lock:
            self._jwks_cache[uri] = (now, doc)
        return doc

    def _fetch(self, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname not in _LOOPBACK:
            # the emulator never reaches off the machine
            raise ValueError(f"refusing to fetch a non-loopback or non-https URL: {url}")
        context = ssl.create_default_context()
        if self._ca_file is not None:
            context.load_verify_locations(cafile=str(self._ca_file))
        with urllib.request.urlopen(url, timeout=5, context=context) as resp:
            doc = json.loads(resp.read().decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError(f"{url}: not a JSON object")
        return doc


def _find_certificate(client: Client, header: dict):
    from cryptography.hazmat.primitives import hashes

    # msal keeps the base64url padding; Entra accepts either form
    wanted_sha256, wanted_sha1 = (
        str(header[n]).rstrip("=") if header.get(n) else None for n in ("x5t#S256", "x5t")
    )
    if not wanted_sha1 and not wanted_sha256:
        raise _invalid_client(
            700027,
            "Client assertion failed signature validation. (Reason - The JWT header "
            "has neither 'x5t' nor 'x5t#S256'.)",
        )
    for cert in client.certificates():
        if wanted_sha256 and b64url(cert.fingerprint(hashes.SHA256())) == wanted_sha256:
            return cert
        if wanted_sha1 and b64url(cert.fingerprint(hashes.SHA1())) == wanted_sha1:
            return cert
    raise _invalid_client(
        700027,
        "Client assertion failed signature validation. (Reason - The key was not found., "
        f"Thumbprint of key used by client: '{wanted_sha256 or wanted_sha1}', "
        f"Please visit the Azure Portal to verify that the certificate is registered for app "
        f"'{client.client_id}'.)",
    )


def _iso(epoch: float) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(float(epoch)))
