"""Secret governance: how old each secret idpctl set is, measured against a rotation policy.

    policy = policy_from_settings(settings)            # idpctl.yaml secretPolicy, or 90d/75d
    found = findings(desired, state, now=now, default_policy=policy)
    plan_warnings(found, plan)     # warn + expired secrets this plan does not re-send
    drift_findings(found)          # expired secrets: `secret-expired`, counted as drift

Pure: no I/O, no clock (`now` is passed in). The age of a secret is `now` minus the state's
`SecretRecord.set_at`, the time idpctl last sent it to Graph; a secret idpctl never set has
status `unknown`. Nothing here reads a secret value: desired leaves may be `SecretRef` or
`Secret`, only their description is used.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from idpctl.errors import ConfigError, Problem
from idpctl.model import Action, KeepLive, Location, Plan, Provider, Secret, SecretRef, State

__all__ = [
    "DEFAULT_POLICY",
    "KEPT_SOURCE",
    "GovernanceFinding",
    "SecretPolicy",
    "Status",
    "annotate_plan",
    "describe_leaf",
    "drift_findings",
    "findings",
    "format_duration",
    "parse_duration",
    "parse_policy",
    "plan_warnings",
    "policy_for",
    "policy_from_settings",
    "secret_leaves",
]

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^([0-9]+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Status(enum.Enum):
    """A secret's standing against its policy; the value is what reports print."""

    OK = "ok"
    WARN = "warn"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # idpctl has no record of setting it


@dataclass(frozen=True)
class SecretPolicy:
    """Rotate within `max_age`; warn from `warn_at` on (`warn_at` <= `max_age`)."""

    max_age: timedelta
    warn_at: timedelta
    # secrets of unknown age (set outside idpctl, `{keep: live}`, or never set by it) must be
    # rotated by this day; from it on they count as expired. None: no deadline
    unknown_by: date | None = None

    def describe(self) -> str:
        text = f"maxAge {format_duration(self.max_age)}, warnAt {format_duration(self.warn_at)}"
        return f"{text}, rotateUnknownBy {self.unknown_by}" if self.unknown_by else text

    def to_data(self) -> dict[str, str]:
        data = {"maxAge": format_duration(self.max_age), "warnAt": format_duration(self.warn_at)}
        if self.unknown_by:
            data["rotateUnknownBy"] = self.unknown_by.isoformat()
        return data


KEPT_SOURCE = "keep: live"  # the source a `{keep: live}` secret is described by
MAX_DURATION = timedelta(days=36500)  # a secret's age is measured from dates; keep them dates
DEFAULT_POLICY = SecretPolicy(max_age=timedelta(days=90), warn_at=timedelta(days=75))


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


# -- policy ----------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `2w`, `30m`, `45s` -> timedelta. ValueError on anything else."""
    match = _DURATION.match(str(text).strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 90d, 12h or 2w")
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if len(match.group(1)) < 20 else None
    if seconds is None or seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {format_duration(MAX_DURATION)}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The largest whole unit of d, h, m, s that fits (ages round down): 80d, 12h, 5m, 0s."""
    seconds = max(0, int(value.total_seconds()))
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit]:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_policy(
    raw: Mapping[str, object] | None,
    *,
    base: SecretPolicy = DEFAULT_POLICY,
    where: Location | None = None,
) -> SecretPolicy:
    """`{maxAge, warnAt}` over `base`, field by field. A `maxAge` given without `warnAt`
    brings its own warnAt at five sixths of it (75d of 90d). ConfigError, located at `where`,
    for a bad duration, a zero maxAge or warnAt past maxAge."""
    if not raw:
        return base
    try:
        max_age = parse_duration(str(raw["maxAge"])) if "maxAge" in raw else base.max_age
        if "warnAt" in raw:
            warn_at = parse_duration(str(raw["warnAt"]))
        elif "maxAge" in raw:
            warn_at = timedelta(seconds=int(max_age.total_seconds()) * 5 // 6)
        else:
            warn_at = base.warn_at
        unknown_by = (
            _parse_day(raw["rotateUnknownBy"]) if "rotateUnknownBy" in raw else base.unknown_by
        )
    except ValueError as error:
        raise _policy_error(where, f"secretPolicy: {error}") from None
    if max_age <= timedelta(0):
        raise _policy_error(where, "secretPolicy.maxAge must be longer than 0")
    if warn_at > max_age:
        raise _policy_error(
            where,
            f"secretPolicy.warnAt {format_duration(warn_at)} is past "
            f"maxAge {format_duration(max_age)}",
        )
    return SecretPolicy(max_age=max_age, warn_at=warn_at, unknown_by=unknown_by)


def _parse_day(value: object) -> date:
    """`2027-03-31` (YAML may already have made it a date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"rotateUnknownBy {value!r} is not a day such as 2027-03-31") from None


def _policy_error(where: Location | None, message: str) -> ConfigError:
    if where is None:
        return ConfigError(message)
    return ConfigError([Problem(where.file, where.line, where.column, message)])


def policy_from_settings(settings: object) -> SecretPolicy:
    """The default policy of a run: `secretPolicy` in idpctl.yaml over the built-in 90d/75d."""
    raw = getattr(settings, "secret_policy", None) or None
    document = getattr(settings, "document", None)
    where = document.locate(("secretPolicy",)) if document is not None and raw else None
    return parse_policy(raw, where=where)


def policy_for(provider: Provider, default_policy: SecretPolicy) -> SecretPolicy:
    """The provider file's `secretPolicy` over the default, field by field."""
    return parse_policy(provider.secret_policy, base=default_policy, where=provider.location)


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
