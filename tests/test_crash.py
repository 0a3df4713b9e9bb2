"""Crash consistency: `kill -9` the apply process while the emulator holds request k (a hang,
before or after the write takes effect), at points drawn from a seeded generator. After each:
the next apply is refused by the lock naming its holder and id; `idpctl state unlock ID`;
the next plan adopts by natural key whatever the killed run created (never a second create);
apply converges; no duplicate, no lost provider, the state matches the tenant.

10 trials by default, 200 under `-m slow`.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from idpctl_emulator.harness import EmulatorHandle
from reliability import (
    SCENARIOS,
    Position,
    Scenario,
    census,
    fault_rule,
    positions,
    prepare,
    scanned_workspace,
)
from workspace import Workspace

SEED = 8
UNLOCK = re.compile(r"idpctl state unlock ([0-9a-f-]{36})")


@dataclass
class Tally:
    crashes: int = 0
    after_write: int = 0
    adopted: int = 0
    duplicates: int = 0
    lost: int = 0
    mismatched: int = 0
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def crash_workspace(
    emulator_external: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    with scanned_workspace(emulator_external, tmp_path_factory.mktemp("crash")) as ws:
        yield ws


def wait_for_hang(ws: Workspace, proc, *, limit: float = 30.0) -> bool:
    """True once the emulator logged the hung request (any write before it has run)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if any(r.get("action") == "hang" for r in ws.emulator.admin.requests()):
            return True
        time.sleep(0.02)
    return False


def crash(
    ws: Workspace,
    scenario: Scenario,
    position: Position,
    when: str,
    tally: Tally,
    *,
    debug: bool = False,
) -> None:
    name = f"{scenario.name} {position.describe()} hang {when}"
    prepare(ws, scenario)
    ws.emulator.admin.add_fault(**fault_rule(position, "hang", when))
    extra = ("--debug",) if debug else ()
    proc = ws.start_process(
        *extra, "apply", "--auto-approve", *scenario.args, env=scenario.env_after
    )
    hung = wait_for_hang(ws, proc)
    proc.kill()
    ws.finish(proc)
    ws.emulator.admin.clear_faults()
    tally.crashes += 1
    if not hung:
        tally.problems.append(f"{name}: the apply never reached the hung request")
        return
    tally.after_write += when == "after" and position.write
    if ws.state_path.exists():
        json.loads(ws.state_path.read_text(encoding="utf-8"))  # whole, never half-written
    refused = ws.run("apply", "--auto-approve", *scenario.args, env=scenario.env_after)
    found = UNLOCK.search(refused.err)
    if (
        refused.code != 1
        or not found
        or "pid" not in refused.err
        or "no longer running" not in refused.err
    ):
        tally.problems.append(
            f"{name}: apply after the crash was not refused by the lock:\n{refused.text[-1500:]}"
        )
        return
    unlocked = ws.run("state", "unlock", found.group(1))
    if unlocked.code != 0:
        tally.problems.append(f"{name}: unlock failed: {unlocked.text}")
        return
    _check_plan_adopts(ws, scenario, name, tally)
    converge(ws, scenario, name, tally)


def _check_plan_adopts(ws: Workspace, scenario: Scenario, name: str, tally: Tally) -> None:
    """What the killed run created is live: the plan must not create it again."""
    result = ws.run("plan", "--format", "json", env=scenario.env_after)
    if result.code != 0:
        tally.problems.append(f"{name}: plan after unlock failed:\n{result.text[-1500:]}")
        return
    plan = json.loads(result.out)
    live = {
        f"{kind}/{p['displayName']}"
        for p in ws.live()
        for kind in ("oidcIdentityProvider", "socialIdentityProvider")
        if p.get("@odata.type", "").endswith(kind)
    }
    twins = [
        c["address"] for c in plan["changes"] if c["action"] == "create" and c["address"] in live
    ]
    if twins:
        tally.problems.append(f"{name}: plan would create a twin of {twins}")
    tally.adopted += sum(c["action"] == "adopt" for c in plan["changes"])


def converge(ws: Workspace, scenario: Scenario, name: str, tally: Tally) -> None:
    applied = ws.run("apply", "--auto-approve", *scenario.args, env=scenario.env_after)
    if applied.code != 0:
        tally.problems.append(f"{name}: apply after unlock failed:\n{applied.text[-1500:]}")
    plan = ws.run("plan", "--detailed-exitcode", env=scenario.env_after)
    if plan.code != 0:
        tally.problems.append(f"{name}: plan after convergence is not empty:\n{plan.text[-1500:]}")
    seen = census(ws, scenario)
    tally.duplicates += seen.duplicates
    tally.lost += len(seen.lost)
    tally.mismatched += len(seen.mismatched) + len(seen.unrecorded) + len(seen.lingering)
    if not seen.clean:
        tally.problems.append(f"{name}: {seen}")


def run_crashes(ws: Workspace, trials: int) -> Tally:
    rng = random.Random(SEED)
    found = {name: positions(ws, scenario) for name, scenario in SCENARIOS.items()}
    tally = Tally()
    started = time.monotonic()
    for i in range(trials):
        name = rng.choice(sorted(SCENARIOS))
        position = rng.choice(found[name])
        when = rng.choice(("before", "after"))
        crash(ws, SCENARIOS[name], position, when, tally, debug=i % 4 == 1)
    print(
        f"\ncrashes: {tally.crashes} kill -9 trials (seed {SEED}; {tally.after_write} after a "
        f"write took effect; {tally.adopted} adoptions planned); duplicates {tally.duplicates},"
        f" lost {tally.lost}, state mismatches {tally.mismatched}; "
        f"{time.monotonic() - started:.1f}s"
    )
    assert not tally.problems, "\n\n".join(tally.problems[:6])
    assert tally.duplicates == tally.lost == tally.mismatched == 0
    return tally


def test_crash_mid_apply(crash_workspace: Workspace) -> None:
    run_crashes(crash_workspace, 10)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_crash_mid_apply_many(crash_workspace: Workspace) -> None:
    run_crashes(crash_workspace, 200)
