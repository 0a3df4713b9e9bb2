"""Drift: how the live tenant differs from the files, as classified findings. Pure.

    report = drift.findings(desired, live, state, kinds=kinds, tenant=...)
    report.exit_code            # 0 clean (informational only), 2 drift, 1 read error

The diff itself is `plan.build`'s: drift plans with every secret leaf taken out of the
desired providers (Graph never shows a secret, so no secret can be compared, and the job
that looks for drift needs no secret value), then classifies the plan's changes:

    changed              a managed or declared provider differs, field by field
    flow-link            a provider that sets `userFlows` is not in the flows the files name
                         (say, removed from one in the portal): users cannot pick it there
    missing              in the files, not in the tenant
    unmanaged            in the tenant, of a kind idpctl manages, not in the files
    secret-unverifiable  informational: a secret the files set and Graph cannot show
    read-error           the tenant could not be read: an error, never drift

Built-in providers and types idpctl does not know are never findings. Other checks (secret
governance) hand their findings in through `extra`. The report's JSON document and its
renderings are `reports.drift_render`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from idpctl.model import (
    Action,
    Change,
    Flows,
    KeepLive,
    Kind,
    LiveProvider,
    Location,
    Plan,
    Provider,
    Reason,
    Secret,
    SecretRef,
    State,
)
from idpctl.plan import build as planner
from idpctl.plan import userflows

__all__ = [
    "CHANGED",
    "FLOW_LINK",
    "INFORMATIONAL",
    "KIND_RANK",
    "MISSING",
    "READ_ERROR",
    "SECRET_UNVERIFIABLE",
    "UNMANAGED",
    "FieldDrift",
    "Finding",
    "Report",
    "findings",
    "read_error",
    "strip_secrets",
]
CHANGED = "changed"
FLOW_LINK = "flow-link"
MISSING = "missing"
UNMANAGED = "unmanaged"
SECRET_UNVERIFIABLE = "secret-unverifiable"
READ_ERROR = "read-error"
INFORMATIONAL = frozenset({SECRET_UNVERIFIABLE})


@dataclass(frozen=True)
class FieldDrift:
    """One field that differs: what the files say and what the tenant has."""

    name: str
    desired: Any = None
    live: Any = None
    note: str | None = None


@dataclass(frozen=True)
class Finding:
    """One finding. `informational` findings never make drift (exit 0)."""

    kind: str  # changed | missing | unmanaged | secret-unverifiable | read-error | others'
    address: str | None
    message: str
    fields: tuple[FieldDrift, ...] = ()
    location: Location | None = None
    graph_id: str | None = None
    informational: bool = False


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    tenant: str | None = None
    checked: int = 0  # providers compared

    @property
    def error(self) -> bool:
        return any(f.kind == READ_ERROR for f in self.findings)

    @property
    def drifted(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.informational and f.kind != READ_ERROR)

    @property
    def exit_code(self) -> int:
        return 1 if self.error else 2 if self.drifted else 0

    @property
    def status(self) -> str:
        return {0: "clean", 1: "error", 2: "drift"}[self.exit_code]


def strip_secrets(provider: Provider) -> tuple[Provider, tuple[str, ...]]:
    """`provider` without its secret leaves, and the dotted paths taken out."""
    taken: list[str] = []

    def walk(value: Any, prefix: str) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                if isinstance(item, Secret | SecretRef | KeepLive):
                    taken.append(path)
                else:
                    out[key] = walk(item, path)
            return out
        return value

    fields = walk(provider.fields, "")
    return replace(provider, fields=fields), tuple(sorted(taken))


def findings(
    desired: Sequence[Provider],
    live: Sequence[LiveProvider],
    state: State,
    *,
    kinds: Mapping[str, Kind],
    tenant: str | None = None,
    ignore_unmanaged: bool = False,
    extra: Iterable[Finding] = (),
    now: datetime | None = None,
    flows: Flows | None = None,
) -> Report:
    """Classify how `live` differs from `desired` (see the module doc). Pure. `now` (the
    caller's clock) lets the plan's replication guard keep a provider idpctl just created,
    and not listed yet, from being reported missing. `flows` is the user flows read (the
    caller reads them when `userflows.wanted(desired)`); None: links are not compared."""
    stripped = [strip_secrets(p) for p in desired]
    plan = planner.build([p for p, _ in stripped], live, state, kinds=kinds, tenant=tenant, now=now)
    plan = userflows.plan_links(plan, [p for p, _ in stripped], live, state, flows=flows)
    found: list[Finding] = []
    for change in plan.changes:
        found += [f for f in (_classify(change), _flow_link(change)) if f is not None]
    if not ignore_unmanaged:
        found += _unmanaged(plan)
    found += _unverifiable(stripped, plan, {p.address: p for p in desired})
    found += list(extra)
    found.sort(key=_order)
    checked = len(plan.unchanged) + len(plan.changes)
    return Report(findings=tuple(found), tenant=tenant, checked=checked)


def read_error(message: str, *, tenant: str | None = None) -> Report:
    """The report of a run that could not read the tenant: no other finding is made."""
    return Report(findings=(Finding(READ_ERROR, None, message),), tenant=tenant)


# the order findings are listed in, and their kinds grouped in a rendering
KIND_RANK = {
    READ_ERROR: 0,
    CHANGED: 1,
    FLOW_LINK: 2,
    MISSING: 3,
    UNMANAGED: 4,
    SECRET_UNVERIFIABLE: 9,
}


def _order(finding: Finding) -> tuple[int, str, str]:
    return (KIND_RANK.get(finding.kind, 5), finding.address or "", finding.message)


def _location(change: Change) -> Location | None:
    return change.desired.location if change.desired is not None else None


def _classify(change: Change) -> Finding | None:
    where = _location(change)
    if change.action is Action.CREATE:
        gone = (
            ""
            if Reason.CREATE_NEW in change.reasons
            else " (it was managed: deleted outside idpctl)"
        )
        return Finding(
            MISSING, change.address, f"in the files, not in the tenant{gone}", location=where
        )
    if change.action is Action.DELETE:
        if change.graph_id is None:
            return None  # gone from files and tenant alike: only the state remembers it
        if change.desired is not None:
            return Finding(
                CHANGED,
                change.address,
                "in the tenant, but the files say ensure: absent",
                location=where,
                graph_id=change.graph_id,
            )
        return Finding(
            UNMANAGED,
            change.address,
            "in the tenant and the state, no longer in the files (the next apply deletes it)",
            graph_id=change.graph_id,
        )
    diffs = tuple(
        FieldDrift(f.name, desired=f.after, live=f.before, note=f.note)
        for f in change.fields
        if not f.sensitive and not f.state_only and f.name != userflows.FIELD
    )
    if not diffs:
        return None  # only state bookkeeping (an adoption with nothing to send)
    verb = "would be replaced" if change.action is Action.REPLACE else "differs"
    names = ", ".join(d.name for d in diffs)
    return Finding(
        CHANGED,
        change.address,
        f"{verb}: {names}",
        fields=diffs,
        location=where,
        graph_id=change.graph_id,
    )


def _flow_link(change: Change) -> Finding | None:
    """A kept provider whose flows differ from its `userFlows` (a replace or delete moves its
    links as part of that change, and a missing provider is reported as missing)."""
    if change.action not in (Action.UPDATE, Action.ADOPT):
        return None
    field = next((f for f in change.fields if f.name == userflows.FIELD), None)
    if field is None:
        return None
    return Finding(
        FLOW_LINK,
        change.address,
        f"user flows differ: {field.note}",
        fields=(FieldDrift(field.name, desired=field.after, live=field.before, note=field.note),),
        location=_location(change),
        graph_id=change.graph_id,
    )


def _unmanaged(plan: Plan) -> list[Finding]:
    out = []
    for item in plan.unmanaged:
        if item.reason != "not in config":
            continue  # built-in or a type idpctl does not know: never a finding
        name = f" ({item.display_name})" if item.display_name else ""
        out.append(
            Finding(
                UNMANAGED, item.address, f"in the tenant{name}, not in the files", graph_id=item.id
            )
        )
    return out


def _unverifiable(
    stripped: Sequence[tuple[Provider, tuple[str, ...]]],
    plan: Plan,
    desired: Mapping[str, Provider],
) -> list[Finding]:
    missing = {c.address for c in plan.changes if c.action is Action.CREATE}
    out = []
    for provider, paths in stripped:
        if not paths or provider.absent or provider.address in missing:
            continue
        kept = {path for path, _ in planner.kept_paths(desired[provider.address].fields)}
        sent = [p for p in paths if p not in kept]
        if sent:
            out.append(
                Finding(
                    SECRET_UNVERIFIABLE,
                    provider.address,
                    f"{', '.join(sent)}: Graph never shows secrets, so a value set "
                    "in the portal cannot be seen",
                    location=provider.location,
                    informational=True,
                )
            )
        if kept:
            out.append(
                Finding(
                    SECRET_UNVERIFIABLE,
                    provider.address,
                    f"{', '.join(sorted(kept))}: set outside idpctl ({{keep: live}}), "
                    "of unknown age",
                    location=provider.location,
                    informational=True,
                )
            )
    return out
