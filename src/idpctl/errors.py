"""The exception tree. Every error idpctl raises on purpose is one of these; `cli.py` catches
them once, prints `str(error)` as one line and maps them to exit code 1.

    IdpctlError                     one clear line; never contains a secret value
    ├── ConfigError                 a file idpctl reads is wrong; `.problems` lists each located one
    ├── SecretError                 a secret reference could not be resolved (names the reference)
    ├── GraphError                  Graph answered an error (status, code, message, request-id)
    │   ├── AuthError               sign-in failed or a permission is missing
    │   ├── ThrottledError          429 past the retry budget
    │   └── WriteOutcomeUnknown     a write was sent and no answer came back
    ├── StateError                  the state file is unreadable or of another version
    │   └── LockError               another run holds the lock (`.holder` says who)
    ├── PlanError                   a plan cannot be made or used
    │   ├── StalePlanError          a saved plan no longer matches what it was computed from
    │   └── SafetyError             a delete/replace without --allow-destroy, or of a protected one
    └── ApplyError                  an apply stopped part way; `.report` says what was done
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ApplyError",
    "ApplyReport",
    "AuthError",
    "ConfigError",
    "GraphError",
    "IdpctlError",
    "LockError",
    "PlanError",
    "Problem",
    "SafetyError",
    "SecretError",
    "StalePlanError",
    "StateError",
    "ThrottledError",
    "WriteOutcomeUnknown",
]


class IdpctlError(Exception):
    """Base of every deliberate idpctl error. `str()` is the one line the user sees."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One located problem in a file: `file:line:col: message`."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(IdpctlError):
    """One or more problems in the files idpctl reads. `str()` is the first; `.problems` all."""

    def __init__(self, problems: Sequence[Problem] | str) -> None:
        if isinstance(problems, str):
            self.problems: tuple[Problem, ...] = ()
            super().__init__(problems)
            return
        self.problems = tuple(problems)
        first = str(self.problems[0]) if self.problems else "invalid configuration"
        more = len(self.problems) - 1
        super().__init__(first if more <= 0 else f"{first} (and {more} more)")


class SecretError(IdpctlError):
    """A secret reference failed to resolve. The message names the reference, never a value."""


class GraphError(IdpctlError):
    """Graph answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(message)


class AuthError(GraphError):
    """Sign-in failed, or the token lacks a permission the operation needs."""


class ThrottledError(GraphError):
    """Graph kept answering 429 past the retry budget."""


class WriteOutcomeUnknown(GraphError):
    """A write was sent but no usable answer came back (timeout, dropped connection, 5xx).

    Never re-send it blindly: re-read by natural key first.
    """


class StateError(IdpctlError):
    """The state could not be read or written."""


class LockError(StateError):
    """Another run holds the state lock. `.holder` is its lock record."""

    def __init__(self, message: str, *, holder: dict[str, Any] | None = None) -> None:
        self.holder = holder or {}
        super().__init__(message)


class PlanError(IdpctlError):
    """A plan cannot be computed or used."""


class StalePlanError(PlanError):
    """A saved plan no longer matches the live state, state file or desired state."""


class SafetyError(PlanError):
    """A destructive change was not allowed (no --allow-destroy, or the provider is protected)."""


@dataclass
class ApplyReport:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    # replaces whose old object was deleted and whose new one was not created
    half_done: list[str] = field(default_factory=list)


class ApplyError(IdpctlError):
    """An apply stopped part way. `.report` says what was done, what failed, what was not done."""

    def __init__(self, message: str, *, report: ApplyReport | None = None) -> None:
        self.report = report or ApplyReport()
        super().__init__(message)
