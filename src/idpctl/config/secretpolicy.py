"""Secret rotation policy: `secretPolicy` in idpctl.yaml and in provider files, and durations.

    policy = policy_from_settings(settings)            # idpctl.yaml secretPolicy, or 90d/75d
    policy_for(provider, policy)                       # the provider file's over it
    parse_duration("90d"); format_duration(age)        # 90d, 12h, 2w, 30m, 45s

Pure: no I/O, no clock. `config.governance` judges each secret against the policy made here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from idpctl.errors import ConfigError, Problem
from idpctl.model import Location, Provider

__all__ = [
    "DEFAULT_POLICY",
    "SecretPolicy",
    "format_duration",
    "parse_duration",
    "parse_policy",
    "policy_for",
    "policy_from_settings",
]

_DURATION = re.compile(r"^([0-9]+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


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


MAX_DURATION = timedelta(days=36500)  # a secret's age is measured from dates; keep them dates
DEFAULT_POLICY = SecretPolicy(max_age=timedelta(days=90), warn_at=timedelta(days=75))


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
