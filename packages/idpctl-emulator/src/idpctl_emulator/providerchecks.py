"""The checks Graph makes on an identity-provider request before the store touches an item.

Plain functions of their arguments (the tenant kind, the readings, the ids taken), so `Store`
(store.py) keeps only the items, the lock and the wire shape: the API version, the type matrix
per tenant kind, read-only built-ins, each property's shape, required and cross-property rules,
uniqueness, the PATCH rules and `$select`. Each raises the `GraphFault` Graph answers.
Every rule is listed in docs/emulator-graph.md.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from idpctl_emulator import records
from idpctl_emulator.graphtypes import (
    APPLE,
    B2C_OIDC,
    SOCIAL,
    VERSIONS,
    TypeSpec,
    resolve_type,
    selectable,
)
from idpctl_emulator.graphvalues import GraphFault
from idpctl_emulator.readings import Readings

__all__ = [
    "check_allowed",
    "check_fields",
    "check_unique",
    "check_version",
    "check_version_name",
    "check_whole",
    "check_writable",
    "patch_fields",
    "select_fields",
]


def check_version_name(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"unknown Graph version {version!r}")


def check_version(spec: TypeSpec, version: str) -> None:
    """GRAPH.md 1.2, 7.1: the custom OIDC types are refused on /v1.0 (stricter)."""
    check_version_name(version)
    if version == "v1.0" and spec.beta_only:
        raise GraphFault(
            400, "notSupported", f"The type '{spec.odata[1:]}' is available on /beta only."
        )


def check_allowed(spec: TypeSpec, version: str, tenant_kind: str) -> None:
    """GRAPH.md 2.1: the type matrix per tenant kind; built-ins are read-only (2.8)."""
    if tenant_kind not in spec.tenant_kinds:
        raise GraphFault(
            400,
            "notSupported",
            f"The type '{spec.odata[1:]}' is not supported in a {tenant_kind} tenant.",
        )
    check_version(spec, version)
    check_writable(spec)


def check_writable(spec: TypeSpec) -> None:
    if not spec.writable:
        raise GraphFault(
            400,
            "notSupported",
            f"Identity providers of type '{spec.odata[1:]}' are built in and "
            "cannot be created, updated or deleted.",
        )


def check_fields(spec: TypeSpec, body: dict, tenant_kind: str) -> dict[str, Any]:
    """Each property in a body: known to the type, of the right shape (GRAPH.md 2.3-2.7)."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "@odata.type":
            continue
        validator = spec.props.get(key)
        if validator is None:
            raise GraphFault(
                400,
                "invalidRequest",
                f"Property '{key}' does not exist on type '{spec.odata[1:]}'.",
            )
        out[key] = validator(key, value, tenant_kind)
    return out


def check_whole(spec: TypeSpec, record: dict) -> None:
    """Required properties and cross-property rules on the item as it would be stored."""
    for name in spec.required:
        if record.get(name) is None:
            raise GraphFault(400, "invalidRequest", f"Property '{name}' is required.")
    if (
        spec.name == B2C_OIDC
        and record.get("responseType") == "code"
        and record.get("clientSecret") is None
    ):
        raise GraphFault(
            400,
            "invalidRequest",
            "Property 'clientSecret' is required when responseType is 'code'.",
        )


def check_unique(spec: TypeSpec, provider_id: str, record: dict, taken: Container[str]) -> None:
    """GRAPH.md 2.2: one provider per social type, one Apple provider, unique ids."""
    if provider_id not in taken:
        return
    if spec.name == SOCIAL:
        what = f"A {record['identityProviderType']} identity provider"
    elif spec.name == APPLE:
        what = "An Apple identity provider"
    else:
        what = "An identity provider with this display name and client id"
    raise GraphFault(
        409, "nameAlreadyExists", f"{what} already exists in this tenant (id '{provider_id}')."
    )


def patch_fields(
    spec: TypeSpec, item: dict, body: Any, *, tenant_kind: str, readings: Readings
) -> dict[str, Any]:
    """PATCH: partial, complex properties whole, immutables refused (GRAPH.md 4.5, 7.2)."""
    if not isinstance(body, dict):
        raise GraphFault(400, "invalidRequest", "The request body must be a JSON object.")
    if "@odata.type" in body and resolve_type(body["@odata.type"]) is not spec:
        raise GraphFault(
            400,
            "invalidRequest",
            f"'@odata.type' does not match the type of '{item['id']}', '{spec.odata[1:]}'.",
        )
    body = _drop_unchanged_immutables(spec, item, body, readings)
    for name in ("id", *spec.immutable):
        if name in body:
            raise GraphFault(
                400, "notAllowed", f"Property '{name}' cannot be changed after creation."
            )
    if readings.patch == "merge":
        body = {
            k: records.merge(item.get(k), v) if k in records.MERGEABLE else v
            for k, v in body.items()
        }
    changes = check_fields(spec, body, tenant_kind)
    if not changes:
        raise GraphFault(400, "invalidRequest", "The request body names no property.")
    new_auth = records.auth_subtype(changes.get("clientAuthentication"))
    old_auth = records.auth_subtype(item.get("clientAuthentication"))
    if new_auth is not None and new_auth != old_auth:
        raise GraphFault(
            400,
            "notAllowed",
            "The clientAuthentication type cannot be changed after creation; "
            "delete and recreate the identity provider.",
        )
    return changes


def _drop_unchanged_immutables(spec: TypeSpec, item: dict, body: dict, readings: Readings) -> dict:
    """Reading `immutable=same-ok`: an immutable sent with its current value is ignored
    (`refuse`, the default, refuses its presence alone)."""
    if readings.immutable != "same-ok":
        return body
    return {k: v for k, v in body.items() if not (k in spec.immutable and item.get(k) == v)}


def select_fields(version: str, select: list[str] | None) -> set[str] | None:
    """GRAPH.md 5.5: `$select` of known property names (case-sensitive)."""
    check_version_name(version)
    names = {name.strip() for name in (select or []) if name.strip()}
    if not names or "*" in names:
        return None
    known = selectable()
    for name in sorted(names):
        if name not in known:
            raise GraphFault(
                400,
                "invalidRequest",
                f"Could not find a property named '{name}' on type "
                "'microsoft.graph.identityProviderBase'.",
            )
    return names
