"""Sample OpenID Connect identity providers the emulator serves, for idpctl's discovery
preflight (docs/emulator.md "Sample IdPs", docs/preflight.md):

    GET /_idp/<name>/.well-known/openid-configuration     the discovery document
    GET /_idp/<name>/jwks                                  its JWK set (one EC signing key)

Each sample's issuer is `<base>/_idp/<name>/` (with the trailing slash), except where a sample
is wrong on purpose. Only metadata is served: nobody signs in at these IdPs.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from idpctl_emulator import wire
from idpctl_emulator.signing import b64url

__all__ = ["PREFIX", "SAMPLES", "Sample", "discovery", "handle"]

PREFIX = "/_idp/"
_ALL_METHODS = ("client_secret_post", "client_secret_jwt", "private_key_jwt")


@dataclass(frozen=True)
class Sample:
    """One sample IdP: what its discovery document says."""

    methods: tuple[str, ...]
    issuer_suffix: str = "/"  # appended to <base>/_idp/<name>
    response_modes: tuple[str, ...] = ("query", "form_post")
    note: str = ""


SAMPLES: Mapping[str, Sample] = {
    "contoso": Sample(_ALL_METHODS, note="every method Entra accepts"),
    "fabrikam": Sample(
        ("client_secret_post", "client_secret_basic"), note="secret methods only (a B2C-style IdP)"
    ),
    "basic-only": Sample(
        ("client_secret_basic",), note="client_secret_basic only: Entra refuses it"
    ),
    "wrong-issuer": Sample(
        _ALL_METHODS,
        issuer_suffix="",
        note="issuer without the trailing slash: never equals a "
        "configured <base>/_idp/wrong-issuer/",
    ),
}


@functools.cache
def _key() -> dict[str, Any]:
    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "use": "sig",
        "alg": "ES256",
        "kid": "sample-idp-1",
        "x": b64url(public.x.to_bytes(32, "big")),
        "y": b64url(public.y.to_bytes(32, "big")),
    }


def discovery(name: str, base_url: str) -> dict[str, Any]:
    """The discovery document of sample `name` served under `base_url`."""
    sample = SAMPLES[name]
    root = f"{base_url.rstrip('/')}/_idp/{name}"
    return {
        "issuer": root + sample.issuer_suffix,
        "authorization_endpoint": f"{root}/authorize",
        "token_endpoint": f"{root}/token",
        "jwks_uri": f"{root}/jwks",
        "userinfo_endpoint": f"{root}/userinfo",
        "token_endpoint_auth_methods_supported": list(sample.methods),
        "response_types_supported": ["code", "id_token", "code id_token"],
        "response_modes_supported": list(sample.response_modes),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "claims_supported": ["sub", "name", "given_name", "family_name", "email", "email_verified"],
    }


def handle(request: wire.Request, base_url: str) -> wire.Response | None:
    """The answer for a `/_idp/...` path, or None when the path is not one."""
    if not request.path.startswith(PREFIX):
        return None
    name, _, rest = request.path[len(PREFIX) :].partition("/")
    if name not in SAMPLES or rest not in (".well-known/openid-configuration", "jwks"):
        return _json(404, {"error": "not_found", "error_description": "no such sample IdP path"})
    if request.method not in ("GET", "HEAD"):
        return _json(405, {"error": "method_not_allowed"})
    if rest == "jwks":
        return _json(200, {"keys": [_key()]})
    return _json(200, discovery(name, base_url))


def _json(status: int, body: Any) -> wire.Response:
    return wire.Response(
        status, json.dumps(body).encode("utf-8"), {"Content-Type": "application/json"}
    )
