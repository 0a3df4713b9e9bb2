"""Fault rules: make chosen requests fail, slow down, drop or hang (issue 2, "faults").

A rule matches a method and a path regex. The regex is searched (`re.search`, so anchor it
with `^...$` to match exactly) in every *candidate path* of a request: the path as received
(`/beta/identity/identityProviders`) and, for a `$batch` item, both the item's own URL as sent
(`/identity/identityProviders`) and that URL under the batch's version root
(`/beta/identity/identityProviders`). Each matching rule counts the match; a rule fires on
matches `nth .. nth+count-1` (`count: -1`: every match from `nth` on). When several rules fire
for one request, the oldest one applies.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from idpctl_emulator import wire

__all__ = ["ERROR_CODES", "FaultRule", "Faults", "RuleError", "apply_rule", "parse_rule"]

# Graph's top-level error codes for the statuses a fault rule may answer (GRAPH.md 4.7, 5.2)
ERROR_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "accessDenied",
    404: "itemNotFound",
    405: "notAllowed",
    409: "nameAlreadyExists",
    412: "PreconditionFailed",
    422: "UnprocessableEntity",
    429: "TooManyRequests",
    500: "generalException",
    502: "BadGateway",
    503: "serviceNotAvailable",
    504: "GatewayTimeout",
}
DEFAULT_STATUS = 503
ACTIONS = ("drop", "hang")
WHENS = ("before", "after")


class RuleError(ValueError):
    """A fault rule the admin API cannot accept; the message says why."""


@dataclass(frozen=True)
class FaultRule:
    """One rule, as posted to `POST /_emulator/faults` (camelCase there)."""

    id: int
    method: str  # upper case, or "*" for any
    path: str  # a regex, searched in each candidate path
    nth: int = 1
    count: int = 1  # -1: no end
    when: str = "before"
    status: int | None = None
    retry_after: float | None = None
    action: str | None = None  # drop | hang
    delay_ms: int | None = None
    replication_delay: float | None = None  # seconds a provider created by this request hides
    code: str | None = None
    message: str | None = None
    _regex: re.Pattern[str] = field(repr=False, compare=False, default=re.compile(""))

    @property
    def answers_status(self) -> int | None:
        """The status this rule answers, if it answers one (a bare rule answers 503)."""
        if self.status is not None:
            return self.status
        if self.action is None and self.delay_ms is None and self.replication_delay is None:
            return DEFAULT_STATUS
        return None

    def matches(self, method: str, paths: Sequence[str]) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        return any(self._regex.search(p) for p in paths)

    def fires_on(self, match_no: int) -> bool:
        if match_no < self.nth:
            return False
        return self.count < 0 or match_no < self.nth + self.count

    def error_response(self, request_id: str, client_request_id: str | None) -> wire.Response:
        status = self.answers_status or DEFAULT_STATUS
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = _format_seconds(self.retry_after)
        return wire.graph_error(
            status,
            self.code or ERROR_CODES.get(status, "UnknownError"),
            self.message or f"Injected fault (rule {self.id}).",
            request_id=request_id,
            client_request_id=client_request_id,
            headers=headers,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "nth": self.nth,
            "count": self.count,
            "when": self.when,
        }
        for key, value in (
            ("status", self.status),
            ("retryAfter", self.retry_after),
            ("action", self.action),
            ("delayMs", self.delay_ms),
            ("replicationDelay", self.replication_delay),
            ("code", self.code),
            ("message", self.message),
        ):
            if value is not None:
                out[key] = value
        return out


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


_KEYS = {
    "method",
    "path",
    "nth",
    "count",
    "when",
    "status",
    "retryAfter",
    "action",
    "delayMs",
    "replicationDelay",
    "code",
    "message",
}


def _number(data: dict[str, Any], key: str, kind: type, *, minimum: float) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{key} must be a number")
    if kind is int and not float(value).is_integer():
        raise RuleError(f"{key} must be an integer")
    if value < minimum and not (key == "count" and value == -1):
        raise RuleError(f"{key} must be at least {minimum}")
    return kind(value)


def parse_rule(rule_id: int, data: Any) -> FaultRule:
    """Validate a posted rule; raises RuleError naming the first problem."""
    if not isinstance(data, dict):
        raise RuleError("a fault rule is a JSON object")
    unknown = set(data) - _KEYS
    if unknown:
        raise RuleError(f"unknown fault rule keys: {', '.join(sorted(unknown))}")
    method, path = data.get("method", "*"), data.get("path")
    if not isinstance(method, str) or not isinstance(path, str):
        raise RuleError("method and path are strings; path is required")
    try:
        regex = re.compile(path)
    except re.error as error:
        raise RuleError(f"path is not a valid regex: {error}") from None
    when, action = data.get("when", "before"), data.get("action")
    if when not in WHENS:
        raise RuleError("when must be before or after")
    if action is not None and action not in ACTIONS:
        raise RuleError("action must be drop or hang")
    status = _number(data, "status", int, minimum=400)
    if status is not None and status > 599:
        raise RuleError("status must be an HTTP error status (400-599)")
    return FaultRule(
        id=rule_id,
        method=method.upper(),
        path=path,
        when=when,
        action=action,
        status=status,
        nth=_number(data, "nth", int, minimum=1) or 1,
        count=_number(data, "count", int, minimum=1) or 1,
        retry_after=_number(data, "retryAfter", float, minimum=0),
        delay_ms=_number(data, "delayMs", int, minimum=0),
        replication_delay=_number(data, "replicationDelay", float, minimum=0),
        code=data.get("code"),
        message=data.get("message"),
        _regex=regex,
    )


class Faults:
    """The active rules and their match counters; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rules: list[FaultRule] = []
        self._matched: dict[int, int] = {}

    def add(self, data: Any) -> FaultRule:
        with self._lock:
            rule = parse_rule(next(self._ids), data)
            self._rules.append(rule)
            self._matched[rule.id] = 0
            return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._matched.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r.to_json(), matched=self._matched[r.id]) for r in self._rules]

    def fire(self, method: str, paths: Sequence[str]) -> FaultRule | None:
        """Count this request against every matching rule; return the oldest that fires."""
        with self._lock:
            fired = None
            for rule in self._rules:
                if rule.matches(method, paths):
                    self._matched[rule.id] += 1
                    if fired is None and rule.fires_on(self._matched[rule.id]):
                        fired = rule
            return fired


def apply_rule(
    rule: FaultRule | None,
    request: wire.Request,
    run: Callable[[], wire.Response],
    *,
    sleep: Callable[[float], None],
    hide: Callable[[str, float], None],
) -> wire.Response:
    """Run `run` (the real handling) as `rule` says: delay, then answer a status, drop or hang
    instead of running (`before`), or after running (`after`); hide what it created."""
    if rule is None:
        return run()
    fails = rule.action is not None or rule.answers_status is not None
    if rule.when == "before":
        if rule.delay_ms:
            sleep(rule.delay_ms / 1000)
        if fails:
            return _answer(rule, request)
        return _run_hiding(rule, run, hide)
    response = _run_hiding(rule, run, hide)
    if rule.delay_ms:
        sleep(rule.delay_ms / 1000)
    return _answer(rule, request) if fails else response


def _run_hiding(
    rule: FaultRule, run: Callable[[], wire.Response], hide: Callable[[str, float], None]
) -> wire.Response:
    response = run()
    if rule.replication_delay and response.status == 201:
        created = response.json()
        if isinstance(created, dict) and created.get("id"):
            hide(str(created["id"]), rule.replication_delay)
    return response


def _answer(rule: FaultRule, request: wire.Request) -> wire.Response:
    if rule.action:
        return wire.Response(0, action=rule.action)
    return rule.error_response(request.request_id, request.headers.get("client-request-id"))
