"""Secret governance: how old each secret idpctl set is, measured against a rotation policy.

    policy = secretpolicy.policy_from_settings(settings)  # idpctl.yaml secretPolicy, or 90d/75d
    found = findings(desired, state, now=now, default_policy=policy)
    plan_warnings(found, plan)     # warn + expired secrets this plan does not re-send
    drift_findings(found)          # expired secrets: `secret-expired`, counted as drift

The policy itself (`secretPolicy`, durations) is `config.secretpolicy`'s.

Pure: no I/O, no clock (`now` is passed in). The age of a secret is `now` minus the state's
`SecretRecord.set_at`, the time idpctl last sent it to Graph; a secret idpctl never set has
status `unknown`. Nothing here reads a secret value: desired leaves may be `SecretRef` or
`Secret`, only their description is used.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from idpctl.config.secretpolicy import DEFAULT_POLICY, SecretPolicy, format_duration, policy_for
from idpctl.model import Action, KeepLive, Plan, Provider, Secret, SecretRef, State

__all__ = [
    "KEPT_SOURCE",
    "GovernanceFinding",
    "Status",
    "annotate_plan",
    "describe_leaf",
    "drift_findings",
    "findings",
    "plan_warnings",
    "secret_leaves",
]

log = logging.getLogger(__name__)


class Status(enum.Enum):
    """A secret's standing against its policy; the value is what reports print."""

    OK = "ok"
    WARN = "warn"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # idpctl has no record of setting it


KEPT_SOURCE = "keep: live"  # the source a `{keep: live}` secret is described by


@dataclass(frozen=True)
class GovernanceFinding:
    """One secret of one desired provider, judged against its policy. Never holds a value.

    `source` describes the reference in the files; `version` is the source version the state
    recorded when idpctl last set the secret (None when unversioned or never set).
    """

    address: str
    path: str  # dotted path of the write-only value, e.g. clientAuthentication.clientSecret
    status: Status
    policy: SecretPolicy
    source: str
    set_at: datetime | None = None
    age: timedelta | None = None
    version: str | None = None

    @property
    def code(self) -> str:
        return f"secret-{self.status.value}"

    @property
    def expires_at(self) -> datetime | None:
        return self.set_at + self.policy.max_age if self.set_at else None

    def message(self, *, address: bool = True) -> str:
        """One line: what is wrong and what to do, naming the reference, never a value;
        `address=False` leaves the address out where the caller shows it already."""
        head = f"{self.address} {self.path}" if address else self.path
        if self.age is None:
            return f"{head}: {self._unknown()}"
        when = f"set {_day(self.set_at)}, {format_duration(self.age)} ago"
        todo = (
            "write a reference in place of {keep: live} and apply"
            if self.source == KEPT_SOURCE
            else f"put a new value in {self.source} and apply"
        )
        if self.status is Status.EXPIRED:
            over = format_duration(self.age - self.policy.max_age)
            return (
                f"{head}: secret expired ({when}; past maxAge "
                f"{format_duration(self.policy.max_age)} by {over}): {todo}"
            )
        if self.status is Status.WARN:
            return (
                f"{head}: secret due for rotation ({when}; past warnAt "
                f"{format_duration(self.policy.warn_at)}, expires {_day(self.expires_at)} "
                f"at maxAge {format_duration(self.policy.max_age)}): {todo}"
            )
        return f"{head}: ok ({when}; {self.policy.describe()})"

    def _unknown(self) -> str:
        kept = self.source == KEPT_SOURCE
        what = (
            "set outside idpctl ({keep: live}), of unknown age"
            if kept
            else "age unknown (idpctl has not set this secret; apply records it)"
        )
        todo = "write a reference in place of {keep: live} and apply" if kept else "apply"
        deadline = self.policy.unknown_by
        if deadline is None:
            return what
        if self.status is Status.EXPIRED:
            return f"{what}: secretPolicy.rotateUnknownBy {deadline} has passed: {todo}"
        return f"{what}: rotate by {deadline} (secretPolicy.rotateUnknownBy): {todo}"

    def to_data(self) -> dict[str, object]:
        return {
            "address": self.address,
            "path": self.path,
            "status": self.status.value,
            "code": self.code,
            "source": self.source,
            "version": self.version,
            "setAt": _iso(self.set_at),
            "ageSeconds": _seconds(self.age),
            "age": format_duration(self.age) if self.age is not None else None,
            "expiresAt": _iso(self.expires_at),
            "policy": self.policy.to_data(),
        }


# -- findings --------------------------------------------------------------------------------


def secret_leaves(fields: Mapping[str, object], prefix: str = "") -> list[tuple[str, object]]:
    """(dotted path, leaf) of every secret leaf (`Secret`, `SecretRef` or `KeepLive`), sorted
    by path."""
    out: list[tuple[str, object]] = []
    for key in sorted(fields):
        value, path = fields[key], f"{prefix}.{key}" if prefix else key
        if isinstance(value, Secret | SecretRef | KeepLive):
            out.append((path, value))
        elif isinstance(value, Mapping):
            out.extend(secret_leaves(value, path))
    return out


def describe_leaf(leaf: object) -> str:
    if isinstance(leaf, KeepLive):
        return KEPT_SOURCE
    if isinstance(leaf, SecretRef):
        return leaf.describe()
    if isinstance(leaf, Secret):
        return leaf.source
    return "(unknown source)"


def findings(
    desired: Sequence[Provider],
    state: State,
    *,
    now: datetime,
    default_policy: SecretPolicy = DEFAULT_POLICY,
) -> list[GovernanceFinding]:
    """One finding per secret of each desired (not absent) provider, by address then path."""
    out = []
    for provider in sorted(desired, key=lambda p: p.address):
        if provider.absent:
            continue
        leaves = secret_leaves(provider.fields)
        if not leaves:
            continue
        policy = policy_for(provider, default_policy)
        record = state.providers.get(provider.address)
        for path, leaf in leaves:
            known = record.secrets.get(path) if record is not None else None
            out.append(_judge(provider.address, path, describe_leaf(leaf), policy, known, now))
    return out


def _judge(
    address: str, path: str, source: str, policy: SecretPolicy, known: object, now: datetime
) -> GovernanceFinding:
    set_at = _parse_time(getattr(known, "set_at", None))
    version = getattr(known, "version", None)
    if set_at is None:
        if known is not None:
            log.warning("%s %s: the state's set_at is not a UTC time; age unknown", address, path)
        late = policy.unknown_by is not None and now.date() >= policy.unknown_by
        return GovernanceFinding(
            address,
            path,
            Status.EXPIRED if late else Status.UNKNOWN,
            policy,
            source,
            version=version,
        )
    age = max(now - set_at, timedelta(0))  # a clock behind the writer's counts as fresh
    status = (
        Status.EXPIRED
        if age >= policy.max_age
        else Status.WARN
        if age >= policy.warn_at
        else Status.OK
    )
    return GovernanceFinding(address, path, status, policy, source, set_at, age, version)


def plan_warnings(found: Iterable[GovernanceFinding], plan: Plan | None = None) -> list[str]:
    """Warnings for secrets past warnAt (expired included), except those `plan` re-sends."""
    sending = _sent_by(plan) if plan is not None else set()
    return [
        f.message()
        for f in found
        if f.status in (Status.WARN, Status.EXPIRED)
        and (f.address, f.path) not in sending
        and (f.address, "*") not in sending
    ]


def drift_findings(found: Iterable[GovernanceFinding]) -> list[GovernanceFinding]:
    """The `secret-expired` findings: past maxAge, which `idpctl drift` counts as drift."""
    return [f for f in found if f.status is Status.EXPIRED]


def _sent_by(plan: Plan) -> set[tuple[str, str]]:
    """(address, path) of each secret the plan sends; (address, "*") for a create/replace."""
    out: set[tuple[str, str]] = set()
    for change in plan.changes:
        if change.action in (Action.CREATE, Action.REPLACE):
            out.add((change.address, "*"))
        elif change.body is not None:
            out |= {
                (change.address, f.name) for f in change.fields if f.sensitive and not f.state_only
            }
    return out


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _seconds(value: timedelta | None) -> int | None:
    return int(value.total_seconds()) if value is not None else None


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value is not None else "?"


def annotate_plan(
    plan: Plan,
    desired: Sequence[Provider],
    state: State,
    *,
    now: datetime,
    default_policy: SecretPolicy = DEFAULT_POLICY,
    targets: Sequence[str] = (),
) -> Plan:
    """`plan` with a warning per secret past warnAt that it does not re-send (in `targets`
    only, when given). The warnings travel in `Plan.warnings`, so every rendering shows them."""
    chosen = [p for p in desired if not targets or p.address in targets]
    extra = plan_warnings(findings(chosen, state, now=now, default_policy=default_policy), plan)
    return replace(plan, warnings=(*plan.warnings, *extra)) if extra else plan
