"""The values the pipeline passes between its steps.

    config.load -> [Provider, SecretRef leaves] -> secrets.resolve -> [Provider, Secret leaves]
    live.fetch  -> [LiveProvider]
    plan.build(desired, live, state) -> Plan          (pure)
    render.*(Plan) -> str                              (pure)
    apply.run(plan, graph, state)                      (the only writer)

Every value here is frozen. Secret values live only inside `Secret`, whose str/repr are
masked; the one code path that reads `Secret.reveal()` is the Graph request encoder.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

__all__ = [
    "APPLY_ORDER",
    "UNKNOWN",
    "Action",
    "Change",
    "FieldChange",
    "Finding",
    "FlowLink",
    "KeepLive",
    "Kind",
    "LiveProvider",
    "Location",
    "ManagedRecord",
    "Plan",
    "PlanBasis",
    "Provider",
    "Reason",
    "Secret",
    "SecretRecord",
    "SecretRef",
    "State",
    "Unmanaged",
    "in_apply_order",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value came from in a file the user wrote (1-based line and column)."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class _Unknown:
    """A write-only value that Graph masked on read: neither equal nor different nor empty."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(unknown)"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class Secret:
    """A resolved secret value. str/repr never show it; only `reveal()` does, and only the
    Graph request encoder may call that.

    `source` describes the reference (`env:NAME`, `file:path`, `vault:secret/idp#key@3`);
    `version` is the source's version where it has one (Vault KV version, Key Vault version id).
    """

    __slots__ = ("_value", "source", "version")
    _value: str
    source: str
    version: str | None

    def __init__(self, value: str, *, source: str, version: str | None = None) -> None:
        from idpctl import redact

        redact.register(value)
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "version", version)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(source={self.source!r}, value=(sensitive))"

    def __str__(self) -> str:
        return "(sensitive)"

    def __format__(self, spec: str) -> str:
        return "(sensitive)"

    def __eq__(self, other: object) -> bool:
        return NotImplemented

    __hash__ = object.__hash__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class SecretRef:
    """An unresolved reference from YAML: `{env: NAME}`, `{file: PATH}`, `{vault: {...}}`,
    `{keyVault: URL}`. `spec` is the mapping's value, paths already made absolute."""

    scheme: str  # env | file | vault | keyVault
    spec: Any
    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        """A short, value-free description used in plans, errors and state."""
        if self.scheme in ("env", "file", "keyVault"):
            return f"{self.scheme}:{self.spec}"
        if self.scheme == "vault" and isinstance(self.spec, Mapping):
            mount = self.spec.get("mount", "secret")
            text = f"vault:{mount}/{self.spec.get('path')}#{self.spec.get('key')}"
            version = self.spec.get("version")
            return f"{text}@{version}" if version is not None else text
        return f"{self.scheme}:{self.spec!r}"


@dataclass(frozen=True)
class KeepLive:
    """`{keep: live}` in place of a provider's secret reference: keep the value the tenant
    holds now, set outside idpctl (docs/secrets.md, "Adopting without rotating"). idpctl never
    sends, compares or records it; a change that would need the secret re-sent is refused.
    Replacing it with a reference rotates the secret as any first set does."""

    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        return "keep: live"


@dataclass(frozen=True)
class Kind:
    """What idpctl knows about one Graph identity provider type, read from `schemas/`."""

    name: str  # Graph type name, e.g. "oidcIdentityProvider"
    odata_type: str  # canonical, e.g. "#microsoft.graph.oidcIdentityProvider"
    key_field: str | None  # natural key property; None for a singleton
    singleton_key: str | None  # the key of a singleton kind, e.g. "Apple"
    fields: tuple[str, ...]  # top-level Graph properties a user may set
    required: frozenset[str] = frozenset()
    write_only: frozenset[str] = frozenset()  # dotted: "clientAuthentication.clientSecret"
    immutable: frozenset[str] = frozenset()  # top-level properties whose change means replace
    tenant_kinds: frozenset[str] = frozenset()  # workforce | b2c | external
    api_versions: frozenset[str] = frozenset({"beta"})  # versions whose metadata holds it
    api_version: str = "beta"  # the one idpctl uses unless idpctl.yaml says otherwise
    managed: bool = True  # False: never created, changed or deleted (builtInIdentityProvider)


@dataclass(frozen=True)
class Provider:
    """One desired identity provider, in Graph's own property shape (no `@odata.type` at the
    top level; nested complex values carry theirs, e.g. clientAuthentication's subtype).

    Secret leaves are `SecretRef` after loading and `Secret` after `secrets.resolve`.
    """

    kind: str
    key: str
    fields: Mapping[str, Any]
    auth_method: str | None = None  # oidc: client_secret_post|_jwt, private_key_jwt
    protected: bool = False
    absent: bool = False  # ensure: absent
    user_flows: tuple[str, ...] | None = None  # None: not managed
    location: Location | None = field(default=None, compare=False)
    # the file's `secretPolicy: {maxAge, warnAt}` as written (durations); None: idpctl.yaml's
    secret_policy: Mapping[str, str] | None = field(default=None, compare=False)
    # `moved: {from: KIND/OLD KEY}`: the address this provider had; plan renames in place
    moved_from: str | None = None

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"


@dataclass(frozen=True)
class LiveProvider:
    """One provider as Graph returned it, normalised: `fields` without `@odata.type`, nested
    types canonical, masked write-only values replaced by `UNKNOWN`.

    `kind` is None for a type idpctl does not know; `raw` is the item as received (masked).
    """

    id: str
    odata_type: str
    kind: str | None
    key: str | None
    fields: Mapping[str, Any]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def address(self) -> str | None:
        return f"{self.kind}/{self.key}" if self.kind and self.key is not None else None


@dataclass(frozen=True)
class SecretRecord:
    """What the state keeps about a write-only value idpctl applied: never the value."""

    fingerprint: str  # "hmac-sha256:<hex>", keyed by State.fingerprint_key
    set_at: str  # ISO 8601 UTC
    source: str  # SecretRef.describe()
    version: str | None = None


@dataclass(frozen=True)
class ManagedRecord:
    """One provider idpctl manages."""

    kind: str
    key: str
    id: str
    auth_method: str | None = None
    secrets: Mapping[str, SecretRecord] = field(default_factory=dict)  # by dotted path
    created_at: str | None = None  # ISO 8601 UTC; lets a plan tell replication delay from loss
    protected: bool = False  # still refused deletion after `protected: true` left the files
    # ids of the user flows a replace's old object left when its create failed (its file does
    # not set userFlows): the next plan re-attaches the new object, apply then clears them
    relink: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"


@dataclass(frozen=True)
class State:
    """What idpctl owns. `fingerprint_key` is random per state and never leaves it."""

    serial: int
    lineage: str
    fingerprint_key: bytes = field(repr=False)
    providers: Mapping[str, ManagedRecord] = field(default_factory=dict)  # by address
    version: int = 1


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
    {Action.ADOPT: 0, Action.UPDATE: 1, Action.CREATE: 2, Action.REPLACE: 3, Action.DELETE: 4})


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
        return (self.body is None and not self.links
                and self.action in (Action.UPDATE, Action.ADOPT))


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
