"""Preflight checks around a plan, run by `plan` and `apply` (docs/preflight.md):

- discovery: each OIDC provider's metadata and JWKS (`idpctl.preflight.discovery`), unless offline;
- tenant capabilities: a social type the live tenant does not offer
  (`availableProviderTypes`) is an error finding;
- permissions: before any write, the token must hold what the plan needs.

    plan = with_findings(plan, providers=..., settings=..., graph=..., offline=False)
    stop = blocking(plan.findings, strict=False)          # -> findings that stop plan/apply
    require_permissions(plan, graph.token_claims())       # AuthError, one line, when short

The capability matrix itself (tenant kind x kind x API version) lives in the schemas
(`x-tenantKinds`, `x-apiVersions`) and is read through `kinds`; `capability_matrix` shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from idpctl.errors import AuthError, GraphError
from idpctl.model import Action, Change, Finding, Kind, Plan, Provider
from idpctl.plan import userflows
from idpctl.preflight.discovery import blocking, limits
from idpctl.preflight.discovery import run as discovery

__all__ = [
    "PERMISSION_RULES",
    "TENANT_KINDS",
    "WRITE_PROVIDERS",
    "blocking",
    "capability_matrix",
    "needed_permissions",
    "require_permissions",
    "social_type_findings",
    "with_findings",
]

log = logging.getLogger(__name__)

TENANT_KINDS = ("workforce", "b2c", "external")
WRITE_PROVIDERS = "IdentityProvider.ReadWrite.All"
_ROLE_HINT = {
    WRITE_PROVIDERS: "the directory role External Identity Provider Administrator",
    "IdentityUserFlow.ReadWrite.All": "the directory role External ID User Flow Administrator",
    "EventListener.ReadWrite.All": "the directory role External ID User Flow Administrator",
}
_NEW = (Action.CREATE, Action.REPLACE)


def with_findings(
    plan: Plan, *, providers: Sequence[Provider], settings: Any, graph: Any, offline: bool = False
) -> Plan:
    """`plan` with its preflight findings (discovery unless `offline`, then capabilities)."""
    found: list[Finding] = []
    if not offline:
        found += discovery(
            providers,
            ca_bundle=getattr(settings, "preflight_ca_bundle", None),
            limits=limits(settings),
        )
    found += _capability_findings(plan, graph)
    order = {p.address: i for i, p in enumerate(providers)}
    found.sort(key=lambda f: (order.get(f.address, len(order)), f.address))
    return replace(plan, findings=(*plan.findings, *found))


def _capability_findings(plan: Plan, graph: Any) -> list[Finding]:
    social = [c for c in plan.changes if c.kind == "socialIdentityProvider" and c.action in _NEW]
    if not social:
        return []
    try:
        available = graph.available_provider_types()
    except GraphError as error:
        return [
            Finding(
                c.address,
                "warning",
                "tenant.provider_types",
                f"could not read availableProviderTypes: {error}",
            )
            for c in social
        ]
    return social_type_findings(social, available)


def social_type_findings(changes: Iterable[Change], available: Sequence[str]) -> list[Finding]:
    """An error for each social provider to create whose type the tenant does not offer."""
    offered = {name.casefold() for name in available}
    found = []
    for change in changes:
        wanted = change.key
        if wanted.casefold() not in offered:
            found.append(
                Finding(
                    change.address,
                    "error",
                    "tenant.provider_types",
                    f"this tenant does not offer {wanted} "
                    f"(availableProviderTypes: {', '.join(available) or 'none'})",
                )
            )
    return found


# -- permissions ------------------------------------------------------------------------------

PermissionRule = Callable[[Plan], Mapping[str, str]]


def _provider_writes(plan: Plan) -> Mapping[str, str]:
    writes = [
        c
        for c in plan.changes
        if c.body is not None
        or (c.action is Action.DELETE and c.graph_id is not None)
        or c.action is Action.REPLACE
    ]
    if not writes:
        return {}
    return {
        WRITE_PROVIDERS: f"to write {writes[0].address}"
        + (f" and {len(writes) - 1} more" if len(writes) > 1 else "")
    }


# Each rule maps a plan to {permission: why}. Extend this list for other Graph writes.
# User-flow links: IdentityUserFlow.ReadWrite.All (B2C, B2X) or EventListener.ReadWrite.All
# (External ID), docs/userflows.md 3.
PERMISSION_RULES: list[PermissionRule] = [_provider_writes, userflows.link_permissions]


def needed_permissions(
    plan: Plan, *, rules: Sequence[PermissionRule] | None = None
) -> dict[str, str]:
    """{permission: why} for everything the plan would write."""
    needed: dict[str, str] = {}
    for rule in PERMISSION_RULES if rules is None else rules:
        for permission, why in rule(plan).items():
            needed.setdefault(permission, why)
    return needed


def require_permissions(
    plan: Plan, claims: Mapping[str, Any], *, rules: Sequence[PermissionRule] | None = None
) -> None:
    """AuthError (one line) when the token lacks a permission the plan needs."""
    roles = {str(r) for r in claims.get("roles") or () if isinstance(r, str)}
    scopes = set(str(claims.get("scp") or "").split())
    for permission, why in needed_permissions(plan, rules=rules).items():
        if permission in roles or permission in scopes:
            continue
        who = claims.get("appid") or claims.get("azp") or "this identity"
        raise AuthError(
            f"permission preflight: {who} lacks {permission} ({why}); grant the application "
            f"permission {permission} with admin consent, or sign in as a user holding "
            f"{_ROLE_HINT.get(permission, 'a directory role that allows it')}; nothing was "
            "written"
        )


# -- the capability matrix --------------------------------------------------------------------


def capability_matrix(kinds: Mapping[str, Kind]) -> dict[str, dict[str, tuple[str, ...]]]:
    """{tenant kind: {kind: API versions}} for every kind a tenant kind can hold."""
    matrix: dict[str, dict[str, tuple[str, ...]]] = {t: {} for t in TENANT_KINDS}
    for kind in kinds.values():
        for tenant in sorted(kind.tenant_kinds or TENANT_KINDS):
            if tenant in matrix:
                matrix[tenant][kind.name] = tuple(sorted(kind.api_versions))
    return matrix
