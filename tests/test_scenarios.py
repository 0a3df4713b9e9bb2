"""Scenario tests: each folder under tests/scenarios/ is a sequence of desired states. For every
step the plan must hold exactly the expected actions (and, for updates, fields); apply then
carries it out, and a plan right after must be empty. Runs idpctl against the emulator.

Every scenario runs under the emulator's default readings (the strictest, docs/emulator-graph.md
"Assumptions and their switches"); each non-default reading runs the whole set once more, so
what idpctl sends must work whichever way Graph reads what its docs leave open."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from idpctl_emulator.readings import DEFAULT, DELAYED_SECONDS, Readings, non_default
from workspace import actions, changed_fields

SCENARIOS = Path(__file__).parent / "scenarios"
ACTIONS = ("create", "update", "replace", "delete", "adopt")
READINGS = [DEFAULT, *non_default()]


def _scenarios() -> list[Path]:
    return sorted(p for p in SCENARIOS.iterdir() if (p / "scenario.yaml").is_file())


@pytest.mark.parametrize("readings", READINGS, ids=Readings.label)
@pytest.mark.parametrize("folder", _scenarios(), ids=lambda p: p.name)
def test_scenario(folder: Path, readings: Readings, make_workspace) -> None:
    spec = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    ws = make_workspace(spec["tenantKind"])
    ws.emulator.admin.set_readings(**readings.to_data())
    for step in spec["steps"]:
        env = {**spec.get("env", {}), **step.get("env", {})}
        ws.use(folder / step["dir"])
        _run_step(ws, step, env)


def test_every_reading_is_run() -> None:
    """Each value of each switch appears in the parametrization (a new switch is not silently
    left out of the suite)."""
    from idpctl_emulator.readings import CHOICES

    seen = {(name, getattr(r, name)) for r in READINGS for name in CHOICES}
    assert seen == {(name, value) for name, values in CHOICES.items() for value in values}


def _run_step(ws: Any, step: dict[str, Any], env: dict[str, str]) -> None:
    where = step["dir"]
    plan = ws.plan(env=env)
    expect = step.get("expect") or {}
    got = actions(plan)
    for action in ACTIONS:
        wanted = expect.get(action) or []
        addresses = sorted(wanted)
        assert sorted(got.get(action, [])) == addresses, f"{where}: {action}: {got}"
    for address, fields in (expect.get("update") or {}).items():
        assert sorted(changed_fields(plan, address)) == sorted(fields), f"{where}: {address}"
    state_only = {c["address"] for c in plan["changes"] if c["state_only"]}
    assert state_only == set(expect.get("stateOnly") or []), f"{where}: state-only {state_only}"
    if not plan["changes"]:
        ws.assert_converged(env=env)
        return
    flag = step.get("refusedWithout")
    if flag:
        _assert_refused_writes_nothing(ws, flag, env)
    ws.apply(*([flag] if flag else []), env=env)
    # under replication=delayed this plan runs before Graph lists what apply made: it must
    # still plan nothing (no second create); the next step waits until the tenant caught up
    ws.assert_converged(env=env)
    if (
        ws.emulator is not None
        and ws.emulator.admin.call("GET", "/readings").get("replication") == "delayed"
    ):
        time.sleep(DELAYED_SECONDS)


def _assert_refused_writes_nothing(ws: Any, flag: str, env: dict[str, str]) -> None:
    """Without `flag` the apply is refused, and wrote nothing: the live store, the state file
    and the emulator's request log (no POST, PATCH or DELETE) are as they were before it."""
    live, state = ws.live(), _state_bytes(ws)
    if ws.emulator is not None:
        ws.emulator.admin.clear_requests()
    refused = ws.run("apply", "--auto-approve", env=env)
    assert refused.code == 1, refused.text
    assert flag in refused.err and "Traceback" not in refused.text, refused.text
    if ws.emulator is not None:  # a real tenant (the acceptance run) has no request log
        writes = [
            r
            for r in ws.emulator.admin.requests()
            if r["method"] in ("POST", "PATCH", "DELETE") and "/identity/" in r["path"]
        ]
        assert writes == [], writes
    assert ws.live() == live
    assert _state_bytes(ws) == state


def _state_bytes(ws: Any) -> bytes | None:
    return ws.state_path.read_bytes() if ws.state_path.exists() else None
