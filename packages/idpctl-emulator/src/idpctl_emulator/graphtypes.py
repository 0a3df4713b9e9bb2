"""The emulator's type table: which identity provider types exist, where, and what they accept.

Every rule cites the GRAPH.md section it follows; docs/emulator-graph.md lists the choices made
where the Microsoft docs disagree. The value rules (validators) are in graphvalues.py; they
raise `GraphFault`, whose messages name properties, never a write-only value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from idpctl_emulator.graphvalues import (
    NS,
    GraphFault,
    b2c_response_type,
    claims_mapping,
    client_authentication,
    inbound_claim_mapping,
    issuer,
    metadata_url,
    oidc_response_type,
    optional_text,
    optional_text_empty_ok,
    response_mode,
    scope,
    social_type,
    text,
    well_known_endpoint,
)

__all__ = [
    "APPLE",
    "B2C_OIDC",
    "BUILTIN",
    "BUILTINS",
    "OIDC",
    "SOCIAL",
    "TENANT_KINDS",
    "TYPES",
    "VERSIONS",
    "TypeSpec",
    "available_provider_types",
    "canonical",
    "resolve_type",
    "selectable",
]

TENANT_KINDS = ("workforce", "b2c", "external")
VERSIONS = ("v1.0", "beta")

SOCIAL = "socialIdentityProvider"
APPLE = "appleManagedIdentityProvider"
B2C_OIDC = "openIdConnectIdentityProvider"
OIDC = "oidcIdentityProvider"
BUILTIN = "builtInIdentityProvider"

Validator = Callable[[str, Any, str], Any]  # (property name, value, tenant kind) -> stored value


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
        required=(
            "displayName",
            "clientId",
            "claimsMapping",
            "metadataUrl",
            "responseMode",
            "responseType",
            "scope",
        ),
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
        required=(
            "displayName",
            "clientId",
            "issuer",
            "wellKnownEndpoint",
            "responseType",
            "scope",
            "clientAuthentication",
            "inboundClaimMapping",
        ),
        secrets=(("clientAuthentication", "clientSecret"),),
        read_mask="***********",
        create_mask="*****",
        # on /v1.0 too: msgraph-metadata clean_v10_metadata/cleanMetadata.xml has the type
    ),
    BUILTIN: TypeSpec(
        name=BUILTIN,
        tenant_kinds=frozenset(TENANT_KINDS),
        props={"displayName": text, "identityProviderType": text, "state": optional_text},
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
    "b2c": (
        "Microsoft",
        "Google",
        "Facebook",
        "Amazon",
        "LinkedIn",
        "Weibo",
        "QQ",
        "WeChat",
        "Twitter",
        "GitHub",
        "AppleManaged",
        "OpenIdConnect",
    ),
    "external": (
        "EmailPassword",
        "EmailOTP",
        "Facebook",
        "Google",
        "AppleManaged",
        "OpenIdConnect",
    ),
}


def canonical(odata_type: str) -> str:
    """`#microsoft.graph.<type>` for a known type name."""
    return TYPES[odata_type].odata


def resolve_type(value: Any) -> TypeSpec:
    """The spec named by an `@odata.type`, case-insensitive, `#` optional (GRAPH.md 2.1, 7.9)."""
    if value is None:
        raise GraphFault(
            400,
            "invalidRequest",
            "The request body must carry '@odata.type' naming a derived type of "
            "microsoft.graph.identityProviderBase.",
        )
    if not isinstance(value, str):
        raise GraphFault(400, "invalidRequest", "'@odata.type' must be a string.")
    name = value.removeprefix("#")
    if not name.lower().startswith(NS):
        raise GraphFault(400, "invalidRequest", f"Unknown type '{value}'.")
    spec = _BY_LOWER.get(name[len(NS) :].lower())
    if spec is None:
        raise GraphFault(
            400,
            "invalidRequest",
            f"Unknown type '{value}': not a derived type of identityProviderBase.",
        )
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
