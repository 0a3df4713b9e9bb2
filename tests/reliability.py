"""Shared pieces of the reliability suites (fault matrix, crashes): the scenarios, the request
positions an unfaulted apply makes, fault rules that hit exactly one of them, and the census
that counts duplicates, lost providers and state records that do not match the tenant."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idpctl.graph.live import normalise
from idpctl.kinds import load_kinds
from workspace import TRANSCRIPTS, Result, Workspace, assert_no_canary

__all__ = [
    "FAULTS",
    "SCENARIOS",
    "TIMINGS",
    "Census",
    "Position",
    "Scenario",
    "census",
    "fault_rule",
    "one_line_error",
    "positions",
    "prepare",
]

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
CONTOSO = """\
kind: oidcIdentityProvider
displayName: Contoso
clientId: contoso-client
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: %(scope)s
clientAuthentication:
  method: %(method)s
%(secret)sinboundClaimMapping: {sub: sub, email: email}
"""
SECRET_LINE = "  clientSecret: {env: CONTOSO_SECRET}\n"
ENV = {"GOOGLE_SECRET": "CANARY-g1", "CONTOSO_SECRET": "CANARY-c1"}


def contoso(*, scope: str = "openid profile", method: str = "client_secret_post") -> str:
    secret = "" if method == "private_key_jwt" else SECRET_LINE
    return CONTOSO % {"scope": scope, "method": method, "secret": secret}


def facebooks(count: int) -> dict[str, str]:
    """`count` OIDC providers (enough of them make more than one $batch)."""
    return {f"p{i:02}.yaml": contoso().replace("Contoso", f"Partner{i:02}") for i in range(count)}


@dataclass(frozen=True)
class Scenario:
    """Files applied first without faults (`before`), then the apply under test (`after`)."""

    name: str
    after: Mapping[str, str]
    before: Mapping[str, str] = field(default_factory=dict)
    env_before: Mapping[str, str] = field(default_factory=lambda: dict(ENV))
    env_after: Mapping[str, str] = field(default_factory=lambda: dict(ENV))
    args: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()  # addresses that must not be live once converged


BASE = {"google.yaml": GOOGLE, "contoso.yaml": contoso()}
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("create", after=BASE),
        Scenario(
            "update",
            before=BASE,
            after={**BASE, "contoso.yaml": contoso(scope="openid profile email")},
        ),
        Scenario(
            "rotate", before=BASE, after=BASE, env_after={**ENV, "GOOGLE_SECRET": "CANARY-g2"}
        ),
        Scenario(
            "replace",
            before=BASE,
            after={**BASE, "contoso.yaml": contoso(method="private_key_jwt")},
            args=("--allow-destroy",),
        ),
        Scenario(
            "delete",
            before=BASE,
            after={"google.yaml": GOOGLE},
            args=("--allow-destroy",),
            gone=("oidcIdentityProvider/Contoso",),
        ),
    )
}
# the slow matrix adds one with two $batch round trips (more than 20 writes)
BIG = Scenario("create-two-batches", after={"google.yaml": GOOGLE, **facebooks(21)})

FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "retryAfter": 1},
    "500": {"status": 500},
    "503": {"status": 503, "retryAfter": 1},
    "drop": {"action": "drop"},
    "hang": {"action": "hang"},
}
TIMINGS = ("before", "after")


@dataclass(frozen=True)
class Position:
    """The k-th request of an unfaulted apply and the rule pieces that hit only it."""

    k: int
    label: str  # e.g. "GET list#1", "$batch#1", "item POST#2"
    method: str
    path: str  # a regex for the emulator's fault rule
    nth: int
    write: bool

    def describe(self) -> str:
        return f"k={self.k} {self.label}"


def prepare(ws: Workspace, scenario: Scenario) -> None:
    """Fresh tenant and state, `before` applied, the files set to `after`, log cleared."""
    emu = ws.emulator.admin
    emu.reset()
    emu.clear_faults()
    for path in (ws.state_path, ws.state_path.with_name("state.json.lock")):
        path.unlink(missing_ok=True)
    if scenario.before:
        _files(ws, scenario.before)
        ws.apply(*scenario.args, env=scenario.env_before)
    _files(ws, scenario.after)
    emu.clear_requests()


def _files(ws: Workspace, files: Mapping[str, str]) -> None:
    for path in ws.providers.glob("*.yaml"):
        path.unlink()
    for name, text in files.items():
        ws.write(name, text)


def positions(ws: Workspace, scenario: Scenario, *, auth: bool = False) -> list[Position]:
    """Run the scenario's apply without faults and list the requests it made, in order."""
    prepare(ws, scenario)
    ws.apply(*scenario.args, env=scenario.env_after)
    seen: Counter[tuple[str, str]] = Counter()
    found: list[Position] = []
    for entry in ws.emulator.admin.requests():
        method, path = entry["method"], entry["path"]
        if entry.get("batch"):
            pattern = (
                r"^/identity/identityProviders$"
                if method == "POST"
                else (r"^/identity/identityProviders/[^/]+$")
            )
            label = f"item {method}"
        elif path in ("/beta/$batch", "/v1.0/$batch"):
            pattern, label = "^" + re.escape(path) + "$", "$batch"
        elif path.startswith(("/beta/", "/v1.0/")):
            pattern, label = "^" + re.escape(path) + "$", f"{method} {path.rsplit('/', 1)[-1]}"
        elif auth:
            pattern, label = "^" + re.escape(path) + "$", f"auth {method} {path.rsplit('/', 1)[-1]}"
        else:
            continue
        seen[(method, pattern)] += 1
        nth = seen[(method, pattern)]
        write = bool(entry.get("batch")) or path.endswith("/$batch")
        found.append(Position(len(found) + 1, f"{label}#{nth}", method, pattern, nth, write))
    return found


def fault_rule(position: Position, fault: str, when: str) -> dict[str, Any]:
    return {
        "method": position.method,
        "path": position.path,
        "nth": position.nth,
        "count": 1,
        "when": when,
        **FAULTS[fault],
    }


def one_line_error(result: Result, *, debug: bool = False) -> str | None:
    """None when `result` is a clean stop (exit 1, exactly one `Error:` line, no traceback
    unless --debug asked for it); else what is wrong with it."""
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    if result.code != 1:
        return f"exit {result.code}"
    if len(errors) != 1:
        return f"{len(errors)} error lines"
    if not debug and "Traceback" in result.text:
        return "traceback"
    return None


@dataclass(frozen=True)
class Census:
    duplicates: int
    lost: tuple[str, ...]
    mismatched: tuple[str, ...]  # state records whose id is not live with that kind/key
    unrecorded: tuple[str, ...]  # desired providers missing from the state
    lingering: tuple[str, ...]  # providers the scenario deleted that are still live

    @property
    def clean(self) -> bool:
        return not (
            self.duplicates or self.lost or self.mismatched or self.unrecorded or self.lingering
        )


_KINDS = load_kinds()


def census(ws: Workspace, scenario: Scenario) -> Census:
    live = [normalise(item, _KINDS) for item in ws.live()]
    counts = Counter(lp.address for lp in live if lp.address)
    by_id = {lp.id: lp for lp in live}
    wanted = desired_addresses(ws)
    state = ws.state()["providers"] if ws.state_path.exists() else {}
    return Census(
        duplicates=sum(n - 1 for n in counts.values() if n > 1),
        lost=tuple(a for a in wanted if not counts[a]),
        mismatched=tuple(
            a for a, r in state.items() if r["id"] not in by_id or by_id[r["id"]].address != a
        ),
        unrecorded=tuple(a for a in wanted if a not in state),
        lingering=tuple(a for a in scenario.gone if counts[a]),
    )


def duplicates_only(ws: Workspace) -> int:
    live = [normalise(item, _KINDS) for item in ws.live()]
    counts = Counter(lp.address for lp in live if lp.address)
    return sum(n - 1 for n in counts.values() if n > 1)


def desired_addresses(ws: Workspace) -> list[str]:
    out: list[str] = []
    for path in sorted(Path(ws.providers).glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        kind = re.search(r"^kind: (\w+)", text, re.M)
        key = re.search(r"^displayName: (.+)$", text, re.M)
        if kind and key:
            out.append(f"{kind.group(1)}/{key.group(1).strip()}")
    return out


@contextlib.contextmanager
def scanned_workspace(emulator: Any, root: Path, **options: Any) -> Iterator[Workspace]:
    """A Workspace on a reset emulator for a whole module of trials; on leaving, everything
    idpctl printed and wrote during them is scanned for the CANARY- values."""
    from conftest import reset_emulator

    reset_emulator(emulator)
    start = len(TRANSCRIPTS)
    yield Workspace(root, emulator, **options)
    assert_no_canary(TRANSCRIPTS[start:], [root])
