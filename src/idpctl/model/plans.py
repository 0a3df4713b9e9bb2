"""A plan and its parts: actions, typed reasons, field changes, user-flow links, the one
change-order table, and preflight findings.

    plan.build(desired, live, state) -> Plan          (pure)
    render.*(Plan) -> str                              (pure)
    apply.run(plan, graph, state)                      (the only writer)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from idpctl.model.providers import Provider

__all__ = [
    "APPLY_ORDER",
    "Action",
    "Change",
    "FieldChange",
    "Finding",
    "FlowLink",
    "Plan",
    "PlanBasis",
    "Reason",
    "Unmanaged",
    "in_apply_order",
]


class Action(enum.Enum):
    """A planned action; the value is its display symbol."""

    CREATE = "+"
    UPDATE = "~"
    REPLACE = "-/+"
    DELETE = "-"
    ADOPT = "<="  # take over a live provider with the same natural key, then update it

    @property
    def destructive(self) -> bool:
        return self in (Action.REPLACE, Action.DELETE)


class Reason(enum.Enum):
    """Why a change is planned, as Terraform's `action_reason`; the value is what the JSON
    plan carries. Every value is listed in docs/plan-format.md ("Reasons")."""

    CREATE_NEW = "create_because_new"  # in the files; neither the state nor Graph has it
    CREATE_DELETED_OUTSIDE = "create_because_deleted_outside"  # managed, gone from Graph
    CREATE_REPLACE_UNFINISHED = "create_because_replace_unfinished"  # its delete ran, not create
    ADOPT_SAME_KEY = "adopt_because_same_key"  # not managed; a live provider has its address
    UPDATE_FIELDS_DIFFER = "update_because_fields_differ"  # a field the files set differs live
    UPDATE_SECRET_NOT_RECORDED = "update_because_secret_not_recorded"  # no fingerprint yet
    UPDATE_SECRET_CHANGED = "update_because_secret_changed"  # fingerprint or version differs
    UPDATE_ROTATE_REQUESTED = "update_because_rotate_requested"  # --rotate
    UPDATE_USER_FLOWS = "update_because_user_flows"  # the flows offering it differ
    STATE_ONLY_MOVED = "state_only_moved"  # `moved: {from: ...}`: the record is renamed
    STATE_ONLY_GRAPH_ID_CHANGED = "state_only_graph_id_changed"  # matched by key, new id
    STATE_ONLY_AUTH_METHOD = "state_only_auth_method"  # client_secret_post <-> _jwt
    STATE_ONLY_PROTECTED = "state_only_protected"  # `protected` added or removed
    STATE_ONLY_SECRET_SOURCE = "state_only_secret_source"  # same value, new source or version
    STATE_ONLY_RELINK_CLEARED = "state_only_relink_cleared"  # no flow left to re-attach
    REPLACE_IMMUTABLE_FIELD = "replace_because_immutable_field"
    REPLACE_SUBTYPE_CHANGED = "replace_because_subtype_changed"  # clientAuthentication
    DELETE_REMOVED_FROM_CONFIG = "delete_because_removed_from_config"
    DELETE_ENSURE_ABSENT = "delete_because_ensure_absent"
    DELETE_ENSURE_ABSENT_UNMANAGED = "delete_because_ensure_absent_unmanaged"
    FORGET_DELETED_OUTSIDE = "forget_because_deleted_outside"  # a delete that sends nothing


# The order a plan's changes run in (by kind, then key, within an action): what keeps or adds
# a provider first, what removes one last, so a run stopped half way has removed the least.
# Declaration order above is the display order (counts, summaries, tables).
APPLY_ORDER: Mapping[Action, int] = MappingProxyType(
    {Action.ADOPT: 0, Action.UPDATE: 1, Action.CREATE: 2, Action.REPLACE: 3, Action.DELETE: 4}
)


def in_apply_order(changes: Iterable[Change]) -> list[Change]:
    """`changes` sorted as a plan runs them (`APPLY_ORDER`, then kind, then key)."""
    return sorted(changes, key=lambda c: (APPLY_ORDER[c.action], c.kind, c.key))


@dataclass(frozen=True)
class FieldChange:
    """One field's change. For a sensitive field `before`/`after` are never rendered: `note`
    says what happens ("will be set", "rotate", "rotate (vault version 7 -> 8)")."""

    name: str  # top-level Graph property, or dotted path of a write-only value
    before: Any = None
    after: Any = None
    sensitive: bool = False
    state_only: bool = False  # recorded in state, nothing sent to Graph
    note: str | None = None


@dataclass(frozen=True)
class FlowLink:
    """One user-flow link apply removes (detach: before the change's delete) or adds (attach:
    after its create) for the change's provider (docs/userflows.md)."""

    flow_id: str  # Graph id of the flow (B2C: B2C_1_<name>, External ID: a GUID)
    flow: str  # the flow's name as the plan shows it
    path: str  # the flow's provider-links collection, relative to the Graph version root
    attach: bool


@dataclass(frozen=True)
class Change:
    """One provider's planned change.

    `body` is exactly what apply sends: the POST body (create, replace) or the PATCH body
    (update, adopt), with `@odata.type` and `Secret` leaves; None when nothing is sent.
    `reasons` say why, typed; `notes` hold only what a reason cannot say (names, ids, flows).
    """

    action: Action
    kind: str
    key: str
    graph_id: str | None = None
    fields: tuple[FieldChange, ...] = ()
    body: Mapping[str, Any] | None = None
    desired: Provider | None = field(default=None, compare=False)
    reasons: tuple[Reason, ...] = ()
    notes: tuple[str, ...] = ()
    protected: bool = False  # from the files or, once the provider left them, from the state
    # user-flow links apply executes; the plan file shows them as the `userFlows` field
    links: tuple[FlowLink, ...] = ()
    # the Graph version apply sends this change to (apiversions.annotate); None: nothing is
    # sent, or a plan made before versions were chosen (then beta)
    api_version: str | None = None

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"

    def because(self, *reasons: Reason, notes: tuple[str, ...] = ()) -> Change:
        """This change with more reasons (each once, in order) and notes."""
        merged = tuple(dict.fromkeys((*self.reasons, *reasons)))
        return replace(self, reasons=merged, notes=(*self.notes, *notes))

    @property
    def state_only(self) -> bool:
        return self.body is None and not self.links and self.action in (Action.UPDATE, Action.ADOPT)


@dataclass(frozen=True)
class Unmanaged:
    """A live provider idpctl leaves alone, and why."""

    id: str
    odata_type: str
    display_name: str | None
    reason: str  # "not in config" | "built-in" | "unsupported type"
    address: str | None = None


@dataclass(frozen=True)
class PlanBasis:
    """What a plan was computed from, as digests, so a saved plan can be checked for staleness.

    No digest here depends on a secret value except `secrets`: one HMAC over every secret of
    the plan, keyed by a key derived from the state's fingerprint key, which the plan file never
    holds, so nobody with the file alone can test a guess (docs/plan-format.md).
    """

    secrets: str | None  # None: the state was never saved, so there is no key to digest under
    desired: Mapping[str, str]  # address -> digest of the provider, secrets as references
    live: Mapping[str, str]  # graph id -> digest of the item, write-only values left out
    state_serial: int
    state_lineage: str
    # graph id -> address (or display name), only to name a live provider that moved
    live_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """A preflight result for one provider (discovery, capability, permission checks).

    `severity` is "error" (a definite misconfiguration: plan exits 1, apply refuses) or
    "warning" (e.g. the IdP could not be reached). `check` names the check, e.g.
    "discovery.issuer"; `message` never holds a secret value.
    """

    address: str
    severity: str  # error | warning
    check: str
    message: str


@dataclass(frozen=True)
class Plan:
    """The changes in safe execution order, plus what stays and what is left alone."""

    changes: tuple[Change, ...]
    unchanged: tuple[str, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()
    warnings: tuple[str, ...] = ()
    basis: PlanBasis | None = None
    tenant: str | None = None
    findings: tuple[Finding, ...] = ()  # preflight results; empty when it did not run

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        counts = {action.name.lower(): 0 for action in Action}
        for change in self.changes:
            counts[change.action.name.lower()] += 1
        return counts

    def summary(self) -> str:
        if not self.changes:
            return "No changes."
        c = self.counts()
        return (
            f"Creates={c['create']}, Updates={c['update']}, Replaces={c['replace']}, "
            f"Deletes={c['delete']}, Adopts={c['adopt']}"
        )
