"""The shape of idpctl's traffic under Graph's throttle, read from the emulator's request log
(no timings asserted about idpctl's speed): no window of the log holds more than the model's
limits, the first window is spent in a burst, a throttled create is sent again once after its
Retry-After, and nothing is lost or doubled when another app spends the tenant's budget.

The window is compressed to 2 s (the same limits, a shorter window) to keep the tests fast.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime

from idpctl.net.ratelimit import BudgetSpec

WINDOW = 2.0
PER_APP, PER_TENANT = 60, 90  # Graph's 200:300, scaled to a few batches a window
MODEL = BudgetSpec(per_app=PER_APP, per_tenant=PER_TENANT, window=WINDOW)
SECRET = {"BUDGET_SECRET": "CANARY-budget-shape"}


def _providers(ws, count: int) -> None:
    for i in range(count):
        ws.write(
            f"b{i:02d}.yaml",
            f"""\
            kind: oidcIdentityProvider
            displayName: Budget {i:02d}
            clientId: client-{i:02d}
            issuer: https://b{i:02d}.example.com/
            wellKnownEndpoint: https://b{i:02d}.example.com/.well-known/openid-configuration
            responseType: code
            scope: openid profile email
            clientAuthentication:
              method: client_secret_post
              clientSecret: {{env: BUDGET_SECRET}}
            inboundClaimMapping: {{sub: sub, name: name, email: email}}
            """,
        )


def _throttled_workspace(ws, count: int) -> None:
    """`count` providers, the emulator at Graph's limits over WINDOW, idpctl's model too."""
    text = ws.config.read_text(encoding="utf-8")
    budget = (
        f"  budget: {{perApp: {PER_APP}, perTenant: {PER_TENANT}, windowSeconds: {WINDOW:g}}}\n"
    )
    ws.config.write_text(text.replace("  caBundle:", budget + "  caBundle:", 1), encoding="utf-8")
    _providers(ws, count)
    ws.emulator.admin.set_rate_limit(PER_TENANT, per_app=PER_APP, window_seconds=WINDOW)
    ws.emulator.admin.clear_requests()


def _when(entry: dict) -> float:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def _counted(ws) -> list[dict]:
    """What the emulator's throttle counts: each `$batch` item and each plain Graph call."""
    return [
        e
        for e in ws.emulator.admin.requests()
        if e["path"].startswith("/beta/") and not e["path"].endswith("/$batch")
    ]


def _creates(ws) -> list[dict]:
    return [
        e
        for e in _counted(ws)
        if e["method"] == "POST" and e["path"].endswith("/identityProviders")
    ]


def _busiest_window(times: list[float]) -> int:
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t - start < WINDOW) for i, start in enumerate(times)),
        default=0,
    )


def _assert_all_created_once(ws, count: int) -> None:
    names = Counter(p.get("displayName") for p in ws.live())
    assert all(names[f"Budget {i:02d}"] == 1 for i in range(count)), names  # none lost, no twin
    assert len(ws.state()["providers"]) == count
    ws.assert_converged(env=SECRET)


def test_no_window_exceeds_the_limits_and_the_first_is_a_burst(workspace) -> None:
    _throttled_workspace(workspace, 100)
    workspace.apply(env=SECRET)
    log = _counted(workspace)
    assert [e for e in log if e["status"] == 429] == []
    times = sorted(_when(e) for e in log)
    assert _busiest_window(times) <= PER_APP
    # a burst: the first window is spent up to the last whole batch of 20 that fits
    assert sum(1 for t in times if t - times[0] < WINDOW) > MODEL.allowed - 20
    assert times[-1] - times[0] >= WINDOW  # 100 creates need more than one window
    _assert_all_created_once(workspace, 100)


def test_a_throttled_create_is_sent_again_once_after_its_retry_after(workspace) -> None:
    _throttled_workspace(workspace, 5)
    workspace.emulator.admin.add_fault(
        method="POST", path="identityProviders$", status=429, retry_after=3.0, count=1
    )
    workspace.apply(env=SECRET)
    sent = Counter(e["body"]["displayName"] for e in _creates(workspace))
    assert sorted(sent.values()) == [1, 1, 1, 1, 2], sent
    again = next(name for name, n in sent.items() if n == 2)
    first, second = (e for e in _creates(workspace) if e["body"]["displayName"] == again)
    assert (first["status"], second["status"]) == (429, 201)
    assert _when(second) - _when(first) >= 3.0
    # settled by a re-read of the tenant before it went again, never re-sent blindly
    assert any(
        e["method"] == "GET"
        and e["path"].endswith("/identityProviders")
        and _when(first) < _when(e) < _when(second)
        for e in _counted(workspace)
    )
    _assert_all_created_once(workspace, 5)


def test_another_app_spending_most_of_the_tenant_budget_loses_nothing(workspace) -> None:
    """A neighbour keeps two thirds of the tenant's window busy, so Graph throttles idpctl
    before its model says it should: it backs off, and every provider is created once."""
    _throttled_workspace(workspace, 120)
    stop = threading.Event()

    def neighbour() -> None:
        while not stop.is_set():
            workspace.emulator.admin.spend(PER_TENANT // 6)  # 60 of 90 a window
            stop.wait(WINDOW / 4)

    thread = threading.Thread(target=neighbour, daemon=True)
    thread.start()
    try:
        result = workspace.run("apply", "--auto-approve", env=SECRET)
    finally:
        stop.set()
        thread.join()
    assert result.code == 0, result.text
    throttled = [e for e in _counted(workspace) if e["status"] == 429]
    assert throttled, "Graph never throttled idpctl: the test proves nothing"
    created = Counter(e["body"]["displayName"] for e in _creates(workspace) if e["status"] == 201)
    assert set(created.values()) == {1} and len(created) == 120
    _assert_all_created_once(workspace, 120)


def test_a_heartbeat_line_reports_progress_while_waiting(workspace, monkeypatch) -> None:
    from idpctl.apply import heartbeat

    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.5)
    _throttled_workspace(workspace, 70)
    quiet = workspace.run("apply", "--auto-approve", "--quiet", env=SECRET)
    assert quiet.code == 0, quiet.text
    assert "apply: " not in quiet.err
    _providers(workspace, 150)  # 80 more
    result = workspace.run("apply", "--auto-approve", env=SECRET)
    assert result.code == 0, result.text
    lines = [line for line in result.err.splitlines() if line.startswith("apply: ")]
    assert lines and all("/80 done, " in line and " throttled" in line for line in lines)
    assert any("resuming in" in line for line in lines)
