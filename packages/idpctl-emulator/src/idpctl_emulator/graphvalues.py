"""The value rules of the emulator's type table: one validator per kind of property value.

A validator takes (property name, value, tenant kind) and returns the value to store, or raises
`GraphFault` (Graph's 400 answer); its message names the property, never a write-only value.
Every rule cites the GRAPH.md section it follows; the table itself is in graphtypes.py.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

__all__ = [
    "CLIENT_SECRET_AUTH",
    "NS",
    "PRIVATE_JWT_AUTH",
    "GraphFault",
    "b2c_response_type",
    "claims_mapping",
    "client_authentication",
    "inbound_claim_mapping",
    "issuer",
    "metadata_url",
    "oidc_response_type",
    "optional_text",
    "optional_text_empty_ok",
    "response_mode",
    "scope",
    "social_type",
    "text",
    "well_known_endpoint",
]

NS = "microsoft.graph."


class GraphFault(Exception):
    """A Graph error answer: the server turns it into Graph's error body (GRAPH.md 5.3)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"GraphFault({self.status}, {self.code!r}, {self.message!r})"


def _bad(message: str) -> GraphFault:
    return GraphFault(400, "invalidRequest", message)


def text(name: str, value: Any, kind: str) -> str:
    """A required, non-empty string. Messages never echo a value: it may be a secret."""
    if not isinstance(value, str):
        raise _bad(f"Property '{name}' must be a string.")
    if not value.strip():
        raise _bad(f"Property '{name}' must not be empty.")
    return value


def optional_text(name: str, value: Any, kind: str) -> str | None:
    return None if value is None else text(name, value, kind)


def optional_text_empty_ok(name: str, value: Any, kind: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _bad(f"Property '{name}' must be a string.")
    return value


SOCIAL_TYPES = {
    "workforce": ("Facebook", "Google"),
    "external": ("Facebook", "Google"),
    "b2c": (
        "Microsoft",
        "Google",
        "Amazon",
        "LinkedIn",
        "Facebook",
        "GitHub",
        "Twitter",
        "Weibo",
        "QQ",
        "WeChat",
    ),
}
_ALL_SOCIAL = frozenset(t for values in SOCIAL_TYPES.values() for t in values)


def social_type(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.3: the allowed identityProviderType values per tenant kind (exact case)."""
    text(name, value, kind)
    if value in SOCIAL_TYPES[kind]:
        return value
    if value in _ALL_SOCIAL:
        raise GraphFault(
            400,
            "notSupported",
            f"Property '{name}': this social identity "
            f"provider type is not supported in a {kind} tenant.",
        )
    raise _bad(f"Property '{name}' must be one of: {', '.join(SOCIAL_TYPES[kind])}.")


def _https_url(name: str, value: Any, kind: str) -> urllib.parse.SplitResult:
    text(name, value, kind)
    parts = urllib.parse.urlsplit(value)
    if not value.startswith("https://") or not parts.hostname:
        raise _bad(f"Property '{name}' must be an absolute https URL.")
    if parts.fragment or "#" in value:
        raise _bad(f"Property '{name}' must not contain a fragment.")
    return parts


WELL_KNOWN = ".well-known/openid-configuration"


def metadata_url(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.5: B2C metadataUrl ends in .well-known/openid-configuration (https: ours)."""
    _https_url(name, value, kind)
    if not value.endswith(WELL_KNOWN):
        raise _bad(f"Property '{name}' must end in '{WELL_KNOWN}'.")
    return value


def issuer(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.6: https (case-sensitive), no query or fragment, not microsoftonline.com."""
    parts = _https_url(name, value, kind)
    if parts.query or "?" in value:
        raise _bad(f"Property '{name}' must not contain a query string.")
    if (parts.hostname or "").lower().endswith("microsoftonline.com"):
        raise _bad(
            f"Property '{name}': a Microsoft Entra tenant (microsoftonline.com) "
            "cannot be configured as an OpenID Connect identity provider."
        )
    return value


def well_known_endpoint(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.6: the path ends in .well-known/openid-configuration; a query is allowed."""
    parts = _https_url(name, value, kind)
    if not parts.path.endswith(WELL_KNOWN):
        raise _bad(f"Property '{name}': the path must end in '{WELL_KNOWN}'.")
    return value


def scope(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.5, 2.6: space-separated scopes containing openid."""
    text(name, value, kind)
    if "openid" not in value.split(" "):
        raise _bad(f"Property '{name}' must contain the 'openid' scope.")
    return value


def _enum(
    name: str, value: Any, kind: str, allowed: tuple[str, ...], unsupported: tuple[str, ...]
) -> str:
    text(name, value, kind)
    if value in allowed:
        return value
    if value in unsupported:
        raise GraphFault(
            400,
            "notSupported",
            f"Property '{name}': the value {value!r} is documented but not supported.",
        )
    raise _bad(f"Property '{name}' must be one of: {', '.join(allowed)}.")


def response_mode(name: str, value: Any, kind: str) -> str:
    return _enum(name, value, kind, ("form_post", "query"), ())


def b2c_response_type(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.5: code or id_token; token is documented but not supported by B2C."""
    return _enum(name, value, kind, ("code", "id_token"), ("token",))


def oidc_response_type(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.6: only code works; id_token and token are 'not supported at the moment'."""
    return _enum(name, value, kind, ("code",), ("id_token", "token"))


def _mapping(
    name: str,
    value: Any,
    *,
    keys: tuple[str, ...],
    odata: str,
    nested: dict[str, Callable[[str, Any], Any]] | None = None,
) -> dict[str, Any]:
    """A claim mapping object; missing keys read back as null, `@odata.type` optional."""
    if not isinstance(value, dict):
        raise _bad(f"Property '{name}' must be an object.")
    given = value.get("@odata.type")
    if given is not None and (
        not isinstance(given, str) or given.removeprefix("#").lower() != f"{NS}{odata}".lower()
    ):
        raise _bad(f"Property '{name}' has the wrong '@odata.type'.")
    out: dict[str, Any] = {}
    for key in value:
        if key != "@odata.type" and key not in keys:
            raise _bad(f"Property '{key}' does not exist on type '{NS}{odata}'.")
    for key in keys:
        item = value.get(key)
        if nested and key in nested:
            out[key] = None if item is None else nested[key](f"{name}.{key}", item)
        elif item is not None and not isinstance(item, str):
            raise _bad(f"Property '{name}.{key}' must be a string.")
        else:
            out[key] = item
    return out


def claims_mapping(name: str, value: Any, kind: str) -> dict[str, Any]:
    """GRAPH.md 3.1: userId and displayName required."""
    out = _mapping(
        name,
        value,
        keys=("userId", "displayName", "givenName", "surname", "email"),
        odata="claimsMapping",
    )
    for key in ("userId", "displayName"):
        if not out[key]:
            raise _bad(f"Property '{name}.{key}' is required.")
    return out


_ADDRESS = ("street_address", "locality", "region", "postal_code", "country")
_INBOUND = (
    "sub",
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
)


def _address(name: str, value: Any) -> dict[str, Any]:
    return _mapping(name, value, keys=_ADDRESS, odata="oidcAddressInboundClaims")


def inbound_claim_mapping(name: str, value: Any, kind: str) -> dict[str, Any]:
    """GRAPH.md 3.2: email required (ed-claims, stricter)."""
    out = _mapping(
        name,
        value,
        keys=_INBOUND,
        odata="oidcInboundClaimMappingOverride",
        nested={"address": _address},
    )
    if not out["email"]:
        raise _bad(f"Property '{name}.email' is required.")
    return out


CLIENT_SECRET_AUTH = "oidcClientSecretAuthentication"
PRIVATE_JWT_AUTH = "oidcPrivateJwtKeyClientAuthentication"
_AUTH_TYPES = {t.lower(): t for t in (CLIENT_SECRET_AUTH, PRIVATE_JWT_AUTH)}


def client_authentication(name: str, value: Any, kind: str) -> dict[str, Any]:
    """GRAPH.md 2.7: a concrete subtype named by `@odata.type`; secret only for the secret one."""
    if not isinstance(value, dict):
        raise _bad(f"Property '{name}' must be an object.")
    given = value.get("@odata.type")
    if not isinstance(given, str):
        raise _bad(
            f"Property '{name}' must carry '@odata.type' naming "
            f"{CLIENT_SECRET_AUTH} or {PRIVATE_JWT_AUTH}."
        )
    bare = given.removeprefix("#").lower()
    subtype = _AUTH_TYPES.get(bare.removeprefix(NS)) if bare.startswith(NS) else None
    if subtype is None:
        raise _bad(
            f"Property '{name}': '@odata.type' must name {CLIENT_SECRET_AUTH} or "
            f"{PRIVATE_JWT_AUTH}."
        )
    allowed = {"@odata.type", "clientSecret"} if subtype == CLIENT_SECRET_AUTH else {"@odata.type"}
    for key in value:
        if key not in allowed:
            raise _bad(f"Property '{key}' does not exist on type '{NS}{subtype}'.")
    out: dict[str, Any] = {"@odata.type": f"#{NS}{subtype}"}
    if subtype == CLIENT_SECRET_AUTH:
        out["clientSecret"] = text(f"{name}.clientSecret", value.get("clientSecret"), kind)
    return out
