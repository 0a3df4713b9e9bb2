"""Reliability beyond the fault matrix: replication delay, read errors during plan, drift and
apply, the state lock under contention, and hostile Graph responses through a full plan.
Every secret value here starts with CANARY- and the workspace fixture scans all output."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostile_graph import Rewrite, hostile_graph
from idpctl.state import lock as statelock
from reliability import (
    ENV,
    GOOGLE,
    SCENARIOS,
    census,
    contoso,
    duplicates_only,
    one_line_error,
)
from workspace import Workspace

WRITES = ("POST", "PATCH", "DELETE", "PUT")
FLOWS = "^/identity/identityProviders$"
DELETES = re.compile(r"[1-9]\d* to delete|will be deleted")


def _writes(ws: Workspace) -> list[dict]:
    """Graph writes in the emulator log ($batch envelopes are listed through their items)."""
    return [
        r
        for r in ws.emulator.admin.requests()
        if r["method"] in WRITES and r["path"].startswith(("/beta/identity/", "/v1.0/identity/"))
    ]


def _set_up(ws: Workspace) -> bytes:
    ws.write("google.yaml", GOOGLE)
    ws.write("contoso.yaml", contoso())
    ws.apply(env=ENV)
    ws.emulator.admin.clear_requests()
    return ws.state_path.read_bytes()


def _has_drift_command(ws: Workspace) -> bool:
    return ws.run("drift", "--help").code == 0


# -- replication delay -------------------------------------------------------------------


def test_replicating_provider_is_not_created_twice_nor_missing(workspace: Workspace) -> None:
    workspace.emulator.admin.add_fault(method="POST", path=FLOWS, count=-1, replicationDelay=4)
    workspace.write("contoso.yaml", contoso())
    workspace.apply(env=ENV)
    hidden = workspace.emulator.graph().get("/beta/identity/identityProviders").json()["value"]
    assert not [p for p in hidden if p.get("displayName") == "Contoso"]  # still replicating
    plan = workspace.plan(env=ENV)
    assert [c for c in plan["changes"] if c["action"] == "create"] == []
    assert any("not listed yet" in w for w in plan["warnings"])
    assert workspace.run("apply", "--auto-approve", env=ENV).code == 0
    if _has_drift_command(workspace):
        drift = workspace.run("drift", "--format", "json", env=ENV)
        assert "missing" not in [f.get("kind") for f in json.loads(drift.out)["findings"]], (
            drift.text
        )
    assert duplicates_only(workspace) == 0
    time.sleep(4.2)
    workspace.assert_converged(env=ENV)
    assert census(workspace, SCENARIOS["create"]).clean


@pytest.mark.parametrize("fault", ["drop", "500"])
def test_unknown_create_outcome_while_replicating_makes_no_twin(
    workspace: Workspace, fault: str
) -> None:
    """The worst case: the create ran, its answer was lost, and the re-read cannot see it."""
    admin = workspace.emulator.admin
    admin.add_fault(method="POST", path=FLOWS, count=-1, replicationDelay=3)
    rule = {"action": "drop"} if fault == "drop" else {"status": 500}
    admin.add_fault(method="POST", path=r"^/(v1\.0|beta)/\$batch$", when="after", count=1, **rule)
    workspace.write("contoso.yaml", contoso())
    first = workspace.run("apply", "--auto-approve", env=ENV)
    assert first.code == 0 or one_line_error(first) is None, first.text
    assert duplicates_only(workspace) == 0, "the applier created a twin"
    again = workspace.run("apply", "--auto-approve", env=ENV)
    assert again.code in (0, 1) and duplicates_only(workspace) == 0, again.text
    time.sleep(3.2)
    admin.clear_faults()
    workspace.apply(env=ENV)
    workspace.assert_converged(env=ENV)
    seen = census(workspace, SCENARIOS["create"])
    assert seen.clean, seen


# -- read errors: never a planned delete, never a drift finding, nothing written -------------


READ_FAULTS = {
    "429-storm": {"status": 429, "retryAfter": 0.1},
    "500": {"status": 500},
    "503": {"status": 503},
    "reset": {"action": "drop"},
}


@pytest.mark.parametrize("fault", sorted(READ_FAULTS))
@pytest.mark.parametrize("verb", ["plan", "apply", "drift"])
def test_read_error_aborts_without_deletes_or_writes(
    workspace: Workspace, fault: str, verb: str
) -> None:
    before = _set_up(workspace)
    if verb == "drift" and not _has_drift_command(workspace):
        pytest.skip("idpctl drift is not built yet")
    workspace.emulator.admin.add_fault(
        method="GET", path="^/beta/identity/identityProviders$", count=-1, **READ_FAULTS[fault]
    )
    args = {
        "plan": ("plan", "--out", "plan.json"),
        "apply": ("apply", "--auto-approve", "--allow-destroy"),
        "drift": ("drift", "--format", "json"),
    }[verb]
    result = (
        workspace.run("--debug", *args, env=ENV)
        if fault == "500"
        else workspace.run(*args, env=ENV)
    )
    assert one_line_error(result, debug=fault == "500") is None, result.text
    assert not DELETES.search(result.out), result.text
    if verb == "drift" and result.out.strip():
        assert [
            f for f in json.loads(result.out)["findings"] if f.get("kind") != "read-error"
        ] == []
    assert not (workspace.root / "plan.json").exists()
    assert workspace.state_path.read_bytes() == before
    assert _writes(workspace) == []


def test_failing_second_page_plans_no_delete(emulator_factory, tmp_path: Path) -> None:
    """Providers on a page Graph failed to send are not 'gone'."""
    emu = emulator_factory(rate_limit="off", page_size=2)
    ws = Workspace(tmp_path / "repo", emu, graph_timeout=2)
    for i in range(4):
        ws.write(f"p{i}.yaml", contoso().replace("Contoso", f"Partner{i}"))
    ws.apply(env=ENV)
    before = ws.state_path.read_bytes()
    emu.admin.clear_requests()
    emu.admin.add_fault(
        method="GET", path="^/beta/identity/identityProviders$", nth=2, count=-1, status=503
    )
    result = ws.run("plan", env=ENV)
    assert one_line_error(result) is None and not DELETES.search(result.out), result.text
    assert ws.state_path.read_bytes() == before and _writes(ws) == []


# -- the state lock ----------------------------------------------------------------------


def test_lock_timeout_waits_for_the_holder_then_succeeds(workspace: Workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    lock_path = workspace.state_path.with_name("state.json.lock")
    held = statelock.acquire(lock_path, operation="test holder")
    refused = workspace.run("apply", "--auto-approve", env=ENV)
    assert refused.code == 1 and held.lock_id in refused.err and "pid" in refused.err
    threading.Timer(1.0, statelock.release, (lock_path, held)).start()
    started = time.monotonic()
    waited = workspace.run("apply", "--auto-approve", "--lock-timeout", "20s", env=ENV)
    assert waited.code == 0, waited.text
    assert time.monotonic() - started >= 0.9
    workspace.assert_converged(env=ENV)


def test_lock_timeout_expires_naming_the_holder(workspace: Workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    lock_path = workspace.state_path.with_name("state.json.lock")
    held = statelock.acquire(lock_path, operation="test holder")
    try:
        result = workspace.run("apply", "--auto-approve", "--lock-timeout", "1s", env=ENV)
        assert one_line_error(result) is None, result.text
        assert "timed out after 1s" in result.err and held.lock_id in result.err
        assert _writes(workspace) == []
    finally:
        statelock.release(lock_path, held)


def test_lock_of_a_killed_run_is_broken_only_by_its_id(workspace: Workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    workspace.emulator.admin.add_fault(
        method="GET", path="^/beta/identity/identityProviders$", action="hang"
    )
    proc = workspace.start_process("apply", "--auto-approve", env=ENV)
    deadline = time.monotonic() + 30
    while not any(r.get("action") == "hang" for r in workspace.emulator.admin.requests()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.kill()
    workspace.finish(proc)
    listed = workspace.run("state", "list")
    assert "no longer running" in listed.err
    refused = workspace.run("plan", env=ENV)  # plan reads without the lock
    assert refused.code == 0, refused.text
    refused = workspace.run("apply", "--auto-approve", env=ENV)
    assert refused.code == 1 and "no longer running" in refused.err
    lock_id = json.loads(workspace.state_path.with_name("state.json.lock").read_text())["lock_id"]
    assert lock_id in refused.err and f"pid {proc.pid}" in refused.err
    wrong = workspace.run("state", "unlock", "00000000-0000-0000-0000-000000000000")
    assert one_line_error(wrong) is None and lock_id in wrong.err
    assert workspace.run("state", "unlock", lock_id).code == 0
    workspace.apply(env=ENV)
    workspace.assert_converged(env=ENV)


def test_concurrent_applies_never_corrupt_the_state(workspace: Workspace) -> None:
    """Six applies at once, each rotating the secret: they queue on the lock; every read of
    the state file in between parses and its serial never goes back."""
    workspace.write("google.yaml", GOOGLE)
    workspace.apply(env=ENV)
    serials: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                serials.append(json.loads(workspace.state_path.read_bytes())["serial"])
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    procs = [
        workspace.start_process(
            "apply",
            "--auto-approve",
            "--lock-timeout",
            "60s",
            env={**ENV, "GOOGLE_SECRET": f"CANARY-rot{i}"},
        )
        for i in range(6)
    ]
    results = [workspace.finish(p, timeout=90) for p in procs]
    stop.set()
    watcher.join()
    assert [r.code for r in results] == [0] * 6, [r.text for r in results if r.code]
    assert serials and serials == sorted(serials)
    assert not workspace.state_path.with_name("state.json.lock").exists()
    assert duplicates_only(workspace) == 0


# -- hostile Graph responses through a full plan --------------------------------------------


OIDC = "#microsoft.graph.oidcIdentityProvider"
SEED = {
    "@odata.type": OIDC,
    "displayName": "Hostile",
    "clientId": "h",
    "clientSecret": "s",
    "issuer": "https://hostile.test/",
    "responseType": "code",
    "scope": "openid",
    "wellKnownEndpoint": "https://hostile.test/.well-known/openid-configuration",
}
# the admin PATCH merges without validation: a well-formed item, then made hostile
HOSTILE_PATCHES = {
    "displayName-number": {"displayName": 42},
    "displayName-null": {"displayName": None},
    "displayName-list": {"displayName": ["a", {"b": 1}]},
    "claims-string": {"inboundClaimMapping": "sub", "clientAuthentication": 7},
    "clientId-object": {"clientId": {"nested": [1, 2, {"deep": None}]}},
    "type-number": {"@odata.type": 12},
    "type-null": {"@odata.type": None},
    "type-empty": {"@odata.type": ""},
    "type-object": {"@odata.type": {"x": 1}},
    "key-collides-with-managed": {"displayName": "Contoso"},
    "control-characters": {"displayName": "Evil\u0000\u001b[31m\nname"},
    "huge-field": {"clientId": "x" * 2_000_000},
    "over-the-cap": {"clientId": "x" * (17 * 1024 * 1024)},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PATCHES))
def test_hostile_graph_item_gives_a_clear_answer(workspace: Workspace, name: str) -> None:
    before = _set_up(workspace)
    seeded = workspace.emulator.admin.seed(SEED)
    workspace.emulator.admin.drift(seeded["id"], HOSTILE_PATCHES[name])
    workspace.emulator.admin.clear_requests()
    for args in (("plan",), ("--debug", "drift"), ("apply", "--auto-approve")):
        result = workspace.run(*args, env=ENV)
        if args[0] != "--debug":
            assert "Traceback" not in result.text
        assert result.code in (0, 2) or one_line_error(result, debug=True) is None, result.text
    if name == "over-the-cap":
        assert "exceeded" in result.err
    assert workspace.state_path.read_bytes() == before or result.code == 0
    assert [w for w in _writes(workspace) if seeded["id"] in w["path"]] == []


def _through(ws: Workspace, url: str) -> None:
    ws.config.write_text(ws.config.read_text().replace(ws.emulator.base_url, url))


QUANTUM = {
    "@odata.type": "#microsoft.graph.quantumIdentityProvider",
    "id": "quantum-1",
    "displayName": "Contoso",
    "clientId": "q",
    "clientSecret": "CANARY-quantum",
}


def test_unknown_odata_type_is_listed_as_unsupported_and_never_touched(
    workspace: Workspace,
) -> None:
    with hostile_graph(workspace.emulator, Rewrite(extra=[QUANTUM])) as url:
        _through(workspace, url)
        workspace.write("google.yaml", GOOGLE)
        workspace.write("contoso.yaml", contoso())
        plan = workspace.plan(env=ENV)
        unsupported = [u for u in plan["unmanaged"] if u["id"] == "quantum-1"]
        assert unsupported and unsupported[0]["reason"] == "unsupported type", plan["unmanaged"]
        assert "quantum-1" in workspace.run("plan", env=ENV).out
        traced = workspace.run("--debug", "plan", env=ENV)  # the trace shows the list body
        assert traced.code == 0 and "quantum-1" in traced.err, traced.text
        workspace.apply("--allow-destroy", env=ENV)
        workspace.remove("contoso.yaml")
        workspace.apply("--allow-destroy", env=ENV)
        workspace.assert_converged(env=ENV)
        drift = workspace.run("drift", "--format", "json", env=ENV)
        assert "quantum-1" not in drift.out, drift.text
    assert [r for r in workspace.emulator.admin.requests() if "quantum" in r["path"]] == []


def _page(value: Any) -> Callable[[dict], bytes]:
    return lambda page: json.dumps({**page, "value": value}).encode()


HOSTILE_LISTS: dict[str, Callable[[dict], bytes]] = {
    "not-json": lambda page: b"<html>gateway error</html>",
    "truncated-json": lambda page: json.dumps(page).encode()[:-7],
    "value-missing": lambda page: json.dumps({"@odata.context": "x"}).encode(),
    "value-object": _page({"a": 1}),
    "value-string": _page("providers"),
    "top-level-list": lambda page: json.dumps(page["value"]).encode(),
    "item-not-object": lambda page: json.dumps({**page, "value": [*page["value"], 7]}).encode(),
    "item-without-id": _page([{"@odata.type": OIDC, "displayName": "Contoso"}]),
    "item-id-number": _page([{"@odata.type": OIDC, "id": 5, "displayName": "Contoso"}]),
    "duplicate-ids": lambda page: json.dumps(
        {**page, "value": page["value"] + page["value"][-1:]}
    ).encode(),
    "type-number": _page([{"@odata.type": 12, "id": "odd", "displayName": "Odd"}]),
    "nextlink-off-host": lambda page: json.dumps(
        {**page, "@odata.nextLink": "https://attacker.test/beta/identity/identityProviders"}
    ).encode(),
    "nextlink-number": lambda page: json.dumps({**page, "@odata.nextLink": 3}).encode(),
    "nested-garbage": lambda page: json.dumps(
        {
            **page,
            "value": [
                *page["value"],
                {
                    **SEED,
                    "id": "g",
                    "displayName": "Garbage",
                    "inboundClaimMapping": [[[["deep"]]]],
                    "clientId": None,
                    "clientAuthentication": {"@odata.type": 5},
                },
            ],
        }
    ).encode(),
    "huge-body": lambda page: json.dumps({**page, "junk": "x" * (17 * 1024 * 1024)}).encode(),
    "deep-nesting": lambda page: b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_LISTS))
def test_hostile_provider_list_is_a_clear_error_not_a_crash(
    workspace: Workspace, name: str
) -> None:
    before = _set_up(workspace)
    with hostile_graph(workspace.emulator, Rewrite(body=HOSTILE_LISTS[name])) as url:
        _through(workspace, url)
        for args in (
            ("plan", "--out", "plan.json"),
            ("apply", "--auto-approve", "--allow-destroy"),
            ("drift",),
        ):
            result = workspace.run(*args, env=ENV)
            assert result.code in (0, 2) or one_line_error(result) is None, result.text
            assert not DELETES.search(result.out), result.text
        debug = workspace.run("--debug", "plan", env=ENV)
        assert debug.code in (0, 1), debug.text
    assert workspace.state_path.read_bytes() == before
    assert _writes(workspace) == []
