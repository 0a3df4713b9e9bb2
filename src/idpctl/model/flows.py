"""The tenant's user flows as read once (`graph.userflows.read`) and planned on
(`plan.userflows.plan_links`), with the two Graph facts both sides share: each tenant kind's
flow collection and the permission its links need (docs/userflows.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COLLECTIONS", "Flow", "Flows", "permission"]

COLLECTIONS = {
    "b2c": "/identity/b2cUserFlows",
    "workforce": "/identity/b2xUserFlows",
    "external": "/identity/authenticationEventsFlows",
}
_PREFIX = {"b2c": "B2C_1_", "workforce": "B2X_1_"}


def permission(tenant_kind: str, *, write: bool) -> str:
    """The least-privileged application permission for user-flow links (docs/userflows.md 3).
    Reading the links of B2C and B2X flows goes through each flow's
    `userFlowIdentityProviders` list, whose pages name only `IdentityUserFlow.ReadWrite.All`
    (MGD api-reference/beta/api/b2cidentityuserflow-list-userflowidentityproviders.md)."""
    family = "EventListener" if tenant_kind == "external" else "IdentityUserFlow"
    writes = write or tenant_kind != "external"
    return f"{family}.{'ReadWrite' if writes else 'Read'}.All"


@dataclass(frozen=True)
class Flow:
    id: str
    name: str  # displayName, else the id (B2C and B2X flows are named by their id)
    providers: tuple[str, ...]  # Graph ids of the providers it offers
    path: str  # its provider-links collection, relative to the version root


@dataclass(frozen=True)
class Flows:
    """The tenant's user flows and their links, as read once."""

    tenant_kind: str
    flows: tuple[Flow, ...]

    def find(self, name: str) -> Flow | None:
        """By id or display name: exact first, then case-insensitive, then (B2C, B2X) with
        the `B2C_1_`/`B2X_1_` prefix Graph adds."""
        wanted = [name, _PREFIX.get(self.tenant_kind, "") + name]
        for candidate in wanted:
            for flow in self.flows:
                if candidate in (flow.id, flow.name):
                    return flow
            for flow in self.flows:
                if candidate.casefold() in (flow.id.casefold(), flow.name.casefold()):
                    return flow
        return None

    def offering(self, provider_id: str) -> tuple[Flow, ...]:
        return tuple(
            f
            for f in self.flows
            if any(p.casefold() == provider_id.casefold() for p in f.providers)
        )
