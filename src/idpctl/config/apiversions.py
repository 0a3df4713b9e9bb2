"""Which Graph API version each request goes to: v1.0 where v1.0 documents the kind and the
operation, beta otherwise, per kind; `graph.apiVersion` in idpctl.yaml overrides it.

Each kind's default, the versions whose metadata holds it and the pages that say so are
schema marks (`x-apiVersion`, `x-apiVersions`, `x-apiVersionSource`); docs/api-versions.md
has the table of kind x operation -> version with its sources.

- **Writes** (POST, PATCH, DELETE) and the re-read of one provider go to the kind's version.
  A change that also links or unlinks user flows goes wholly to beta: idpctl's user-flow
  requests are beta, and a change's requests form one dependency chain, which must stay in one
  batch of one version (a `$batch` is per version, GRAPH.md 5.1).
- **The list** is one walk, never one per version: v1.0 when every kind idpctl can manage in
  this tenant kind uses v1.0, otherwise beta, which shows every type (a v1.0 list leaves the
  beta-only types out, and idpctl must see every provider it manages).
- **availableProviderTypes** (read only for social types by the preflight) is v1.0:
  api-reference/v1.0/api/identityproviderbase-availableprovidertypes.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from idpctl.errors import ConfigError, Problem
from idpctl.model import Action, Change, Kind, Plan

__all__ = [
    "AVAILABLE_TYPES",
    "BETA",
    "USER_FLOWS",
    "V1",
    "VERSIONS",
    "Versions",
    "annotate",
    "choose",
    "for_settings",
]

V1 = "v1.0"
BETA = "beta"
VERSIONS = (V1, BETA)
USER_FLOWS = BETA  # the version of idpctl's user-flow requests (userflows.py)
AVAILABLE_TYPES = V1


@dataclass(frozen=True)
class Versions:
    """The version per kind, and the one the provider list uses."""

    by_kind: Mapping[str, str]
    list_version: str = BETA

    def of(self, kind: str) -> str:
        return self.by_kind.get(kind, BETA)

    def for_change(self, change: Change) -> str | None:
        """The version of the change's requests; None when nothing goes to Graph."""
        if change.state_only or (
            change.action is Action.DELETE and change.graph_id is None and not change.links
        ):
            return None
        return USER_FLOWS if change.links else self.of(change.kind)


def choose(
    kinds: Mapping[str, Kind],
    override: Any,
    *,
    tenant_kind: str,
    locate: Callable[[tuple[str, ...]], Any] | None = None,
) -> Versions:
    """Each kind's default version, with `override` (a version for every kind, or a mapping
    kind -> version) laid over it. A version a kind's metadata lacks is a ConfigError, located
    by `locate(path)` (a `Document.locate`) when given. A single version applies to the kinds
    that have it; the others keep beta."""

    def refuse(name: str, message: str) -> ConfigError:
        where = "graph.apiVersion" + (f".{name}" if name else "")
        if locate is None:
            return ConfigError(f"{where}: {message}")
        at = locate(("graph", "apiVersion", *((name,) if name else ())))
        return ConfigError([Problem(at.file, at.line, at.column, f"{where}: {message}")])

    chosen = {name: kind.api_version for name, kind in kinds.items()}
    if isinstance(override, str):
        chosen.update(
            {name: override for name, kind in kinds.items() if override in kind.api_versions}
        )
    elif isinstance(override, Mapping):
        for name, version in override.items():
            kind = kinds.get(name)
            if kind is None:
                raise refuse(name, "not a provider kind")
            if version not in kind.api_versions:
                raise refuse(
                    name,
                    f"{name} is not in Graph {version} (its metadata is in "
                    f"{', '.join(sorted(kind.api_versions))})",
                )
            chosen[name] = version
    elif override is not None:
        raise refuse("", "expected v1.0 or beta, or a mapping of kind to version")
    mine = [
        name for name, kind in kinds.items() if kind.managed and tenant_kind in kind.tenant_kinds
    ]
    listed = V1 if mine and all(chosen[name] == V1 for name in mine) else BETA
    return Versions(by_kind=chosen, list_version=listed)


def for_settings(settings: Any, kinds: Mapping[str, Kind]) -> Versions:
    """The versions an `idpctl.yaml` (`config.Settings`) asks for."""
    document = getattr(settings, "document", None)
    return choose(
        kinds,
        settings.api_version,
        tenant_kind=settings.tenant_kind,
        locate=document.locate if document is not None else None,
    )


def annotate(plan: Plan, versions: Versions) -> Plan:
    """The plan with each change's `api_version` set (what apply sends it to)."""
    changes = tuple(replace(c, api_version=versions.for_change(c)) for c in plan.changes)
    return replace(plan, changes=changes)
