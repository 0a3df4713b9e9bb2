"""The emulator's type table: which identity provider types exist, where, and what they accept.

Every rule cites the GRAPH.md section it follows; docs/emulator-graph.md lists the choices made
where the Microsoft docs disagree. Validators raise `GraphFault`; their messages name
properties, never a write-only value.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APPLE",
    "B2C_OIDC",
    "BUILTIN",
    "BUILTINS",
    "CLIENT_SECRET_AUTH",
    "OIDC",
    "PRIVATE_JWT_AUTH",
    "SOCIAL",
    "TENANT_KINDS",
    "TYPES",
    "VERSIONS",
    "GraphFault",
    "TypeSpec",
    "available_provider_types",
    "canonical",
    "resolve_type",
    "selectable",
]

TENANT_KINDS = ("workforce", "b2c", "external")
VERSIONS = ("v1.0", "beta")
NS = "microsoft.graph."

SOCIAL = "socialIdentityProvider"
APPLE = "appleManagedIdentityProvider"
B2C_OIDC = "openIdConnectIdentityProvider"
OIDC = "oidcIdentityProvider"
BUILTIN = "builtInIdentityProvider"

Validator = Callable[[str, Any, str], Any]  # (property name, value, tenant kind) -> stored value


class GraphFault(Exception):
    """A Graph error answer: the server turns it into Graph's error body (GRAPH.md 5.3)."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
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
    "b2c": ("Microsoft", "Google", "Amazon", "LinkedIn", "Facebook", "GitHub", "Twitter",
            "Weibo", "QQ", "WeChat"),
}
_ALL_SOCIAL = frozenset(t for values in SOCIAL_TYPES.values() for t in values)


def social_type(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.3: the allowed identityProviderType values per tenant kind (exact case)."""
    text(name, value, kind)
    if value in SOCIAL_TYPES[kind]:
        return value
    if value in _ALL_SOCIAL:
        raise GraphFault(400, "notSupported", f"Property '{name}': this social identity "
                         f"provider type is not supported in a {kind} tenant.")
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
        raise _bad(f"Property '{name}': a Microsoft Entra tenant (microsoftonline.com) "
                   "cannot be configured as an OpenID Connect identity provider.")
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


def _enum(name: str, value: Any, kind: str, allowed: tuple[str, ...],
          unsupported: tuple[str, ...]) -> str:
    text(name, value, kind)
    if value in allowed:
        return value
    if value in unsupported:
        raise GraphFault(400, "notSupported", f"Property '{name}': the value {value!r} is "
                         "documented but not supported.")
    raise _bad(f"Property '{name}' must be one of: {', '.join(allowed)}.")


def response_mode(name: str, value: Any, kind: str) -> str:
    return _enum(name, value, kind, ("form_post", "query"), ())


def b2c_response_type(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.5: code or id_token; token is documented but not supported by B2C."""
    return _enum(name, value, kind, ("code", "id_token"), ("token",))


def oidc_response_type(name: str, value: Any, kind: str) -> str:
    """GRAPH.md 2.6: only code works; id_token and token are 'not supported at the moment'."""
    return _enum(name, value, kind, ("code",), ("id_token", "token"))


def _mapping(name: str, value: Any, *, keys: tuple[str, ...], odata: str,
             nested: dict[str, Callable[[str, Any], Any]] | None = None) -> dict[str, Any]:
    """A claim mapping object; missing keys read back as null, `@odata.type` optional."""
    if not isinstance(value, dict):
        raise _bad(f"Property '{name}' must be an object.")
    given = value.get("@odata.type")
    if given is not None and (not isinstance(given, str)
                              or given.removeprefix("#").lower() != f"{NS}{odata}".lower()):
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
    out = _mapping(name, value, keys=("userId", "displayName", "givenName", "surname", "email"),
                   odata="claimsMapping")
    for key in ("userId", "displayName"):
        if not out[key]:
            raise _bad(f"Property '{name}.{key}' is required.")
    return out


_ADDRESS = ("street_address", "locality", "region", "postal_code", "country")
_INBOUND = ("sub", "name", "given_name", "family_name", "email", "email_verified",
            "phone_number", "phone_number_verified", "address")


def _address(name: str, value: Any) -> dict[str, Any]:
    return _mapping(name, value, keys=_ADDRESS, odata="oidcAddressInboundClaims")


def inbound_claim_mapping(name: str, value: Any, kind: str) -> dict[str, Any]:
    """GRAPH.md 3.2: email required (ed-claims, stricter)."""
    out = _mapping(name, value, keys=_INBOUND, odata="oidcInboundClaimMappingOverride",
                   nested={"address": _address})
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
        raise _bad(f"Property '{name}' must carry '@odata.type' naming "
                   f"{CLIENT_SECRET_AUTH} or {PRIVATE_JWT_AUTH}.")
    bare = given.removeprefix("#").lower()
    subtype = _AUTH_TYPES.get(bare.removeprefix(NS)) if bare.startswith(NS) else None
    if subtype is None:
        raise _bad(f"Property '{name}': '@odata.type' must name {CLIENT_SECRET_AUTH} or "
                   f"{PRIVATE_JWT_AUTH}.")
    allowed = {"@odata.type", "clientSecret"} if subtype == CLIENT_SECRET_AUTH else {"@odata.type"}
    for key in value:
        if key not in allowed:
            raise _bad(f"Property '{key}' does not exist on type '{NS}{subtype}'.")
    out: dict[str, Any] = {"@odata.type": f"#{NS}{subtype}"}
    if subtype == CLIENT_SECRET_AUTH:
        out["clientSecret"] = text(f"{name}.clientSecret", value.get("clientSecret"), kind)
    return out


@dataclass(frozen=True)
class TypeSpec:
    """One concrete type under identityProviderBase (GRAPH.md 2.1-2.8)."""

    name: str
    tenant_kinds: frozenset[str]
    props: dict[str, Validator]  # writable properties in wire order (id and @odata.type aside)
    required: tuple[str, ...] = ()
    immutable: tuple[str, ...] = ()  # refused in a PATCH body (GRAPH.md 7.2, stricter)
    secrets: tuple[tuple[str, ...], ...] = ()  # write-only value paths
    read_mask: str = "******"
    create_mask: str | None = None  # None: the 201 body echoes the sent value (GRAPH.md 4.1)
    beta_only: bool = False
    writable: bool = True
    beta_props: tuple[str, ...] = field(default=())  # left out of /v1.0 reads

    @property
    def odata(self) -> str:
        return f"#{NS}{self.name}"


TYPES: dict[str, TypeSpec] = {
    SOCIAL: TypeSpec(
        name=SOCIAL,
        tenant_kinds=frozenset(TENANT_KINDS),
        props={
            "displayName": text,
            "identityProviderType": social_type,
            "clientId": text,
            "clientSecret": text,
        },
        required=("displayName", "identityProviderType", "clientId", "clientSecret"),
        immutable=("identityProviderType",),
        secrets=(("clientSecret",),),
        read_mask="******",
        create_mask=None,
    ),
    APPLE: TypeSpec(
        name=APPLE,
        tenant_kinds=frozenset({"b2c", "external"}),
        props={
            "displayName": text,
            "developerId": text,
            "serviceId": text,
            "keyId": text,
            "certificateData": text,
        },
        required=("displayName", "developerId", "serviceId", "keyId", "certificateData"),
        secrets=(("certificateData",),),
        read_mask="******",
        create_mask="******",
    ),
    B2C_OIDC: TypeSpec(
        name=B2C_OIDC,
        tenant_kinds=frozenset({"b2c"}),
        props={
            "displayName": text,
            "clientId": text,
            "clientSecret": optional_text,
            "claimsMapping": claims_mapping,
            "domainHint": optional_text_empty_ok,
            "metadataUrl": metadata_url,
            "responseMode": response_mode,
            "responseType": b2c_response_type,
            "scope": scope,
        },
        required=("displayName", "clientId", "claimsMapping", "metadataUrl", "responseMode",
                  "responseType", "scope"),
        immutable=("metadataUrl",),
        secrets=(("clientSecret",),),
        read_mask="******",
        create_mask="******",
        beta_only=True,
    ),
    OIDC: TypeSpec(
        name=OIDC,
        tenant_kinds=frozenset({"external"}),
        props={
            "displayName": text,
            "clientId": text,
            "issuer": issuer,
            "wellKnownEndpoint": well_known_endpoint,
            "responseType": oidc_response_type,
            "scope": scope,
            "clientAuthentication": client_authentication,
            "inboundClaimMapping": inbound_claim_mapping,
        },
        required=("displayName", "clientId", "issuer", "wellKnownEndpoint", "responseType",
                  "scope", "clientAuthentication", "inboundClaimMapping"),
        secrets=(("clientAuthentication", "clientSecret"),),
        read_mask="***********",
        create_mask="*****",
        # on /v1.0 too: msgraph-metadata clean_v10_metadata/cleanMetadata.xml has the type
    ),
    BUILTIN: TypeSpec(
        name=BUILTIN,
        tenant_kinds=frozenset(TENANT_KINDS),
        props={"displayName": text, "identityProviderType": text,
               "state": optional_text},
        writable=False,
        beta_props=("state",),
    ),
}

_BY_LOWER = {name.lower(): spec for name, spec in TYPES.items()}

# GRAPH.md 2.8 and the B-list examples: (id, displayName, identityProviderType)
BUILTINS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "workforce": (
        ("AADSignup-OAUTH", "Azure Active Directory Sign up", "AADSignup"),
        ("MSASignup-OAUTH", "MicrosoftAccount", "MicrosoftAccount"),
        ("EmailOtpSignup-OAUTH", "Email One Time Passcode", "EmailOTP"),
    ),
    "b2c": (),
    "external": (
        ("AADSignup-OAUTH", "Azure Active Directory Sign up", "AADSignup"),
        ("EmailOtpSignup-OAUTH", "Email One Time Passcode", "EmailOTP"),
        ("EmailPassword-OAUTH", "Email with password", "EmailPassword"),
    ),
}

# GRAPH.md 1.1 examples; external chosen by us (docs/emulator-graph.md)
_AVAILABLE: dict[str, tuple[str, ...]] = {
    "workforce": ("MicrosoftAccount", "EmailOTP", "Facebook", "Google"),
    "b2c": ("Microsoft", "Google", "Facebook", "Amazon", "LinkedIn", "Weibo", "QQ", "WeChat",
            "Twitter", "GitHub", "AppleManaged", "OpenIdConnect"),
    "external": ("EmailPassword", "EmailOTP", "Facebook", "Google", "AppleManaged",
                 "OpenIdConnect"),
}


def canonical(odata_type: str) -> str:
    """`#microsoft.graph.<type>` for a known type name."""
    return TYPES[odata_type].odata


def resolve_type(value: Any) -> TypeSpec:
    """The spec named by an `@odata.type`, case-insensitive, `#` optional (GRAPH.md 2.1, 7.9)."""
    if value is None:
        raise GraphFault(400, "invalidRequest",
                         "The request body must carry '@odata.type' naming a derived type of "
                         "microsoft.graph.identityProviderBase.")
    if not isinstance(value, str):
        raise GraphFault(400, "invalidRequest", "'@odata.type' must be a string.")
    name = value.removeprefix("#")
    if not name.lower().startswith(NS):
        raise GraphFault(400, "invalidRequest", f"Unknown type '{value}'.")
    spec = _BY_LOWER.get(name[len(NS):].lower())
    if spec is None:
        raise GraphFault(400, "invalidRequest",
                         f"Unknown type '{value}': not a derived type of identityProviderBase.")
    return spec


def available_provider_types(tenant_kind: str, version: str) -> list[str]:
    """availableProviderTypes (GRAPH.md 1.1), the same on both versions: the v1.0 page's B2C
    example lists OpenIdConnect too (api-reference/v1.0/api/
    identityproviderbase-availableprovidertypes.md, example 2)."""
    if version not in VERSIONS:
        raise ValueError(f"unknown Graph version {version!r}")
    return list(_AVAILABLE[tenant_kind])


def selectable() -> frozenset[str]:
    """Every property name `$select` accepts: the union over all types."""
    names = {"id"}
    for spec in TYPES.values():
        names.update(spec.props)
    return frozenset(names)
