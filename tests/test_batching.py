"""Batching and politeness against the emulator over HTTPS: per-item results of a partly
failed batch, the state an interrupted apply leaves, and the client's request budget and
`Retry-After` under a storm of 429s (the emulator's own budget set small)."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from idpctl.graph.batch import BatchRequest
from idpctl.graph.client import GraphClient
from idpctl.model import Secret
from idpctl.net.ratelimit import BudgetSpec

COLLECTION = "/identity/identityProviders"
OIDC = "#microsoft.graph.oidcIdentityProvider"


def _oidc(name: str) -> dict:
    return {
        "@odata.type": OIDC,
        "displayName": name,
        "clientId": f"client-{name}",
        "issuer": f"https://{name}.example.com/",
        "wellKnownEndpoint": f"https://{name}.example.com/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid profile email",
        "inboundClaimMapping": {"sub": "sub", "name": "name", "email": "email"},
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": Secret("CANARY-batching", source="env:T"),
        },
    }


def _graph(emu, **kwargs: object) -> GraphClient:
    from idpctl.graph.auth import token_provider

    tokens = token_provider(
        {},
        tenant=emu.tenant,
        authority_root=emu.base_url,
        verify=emu.ca_path,
        env={"AZURE_CLIENT_ID": emu.client_id, "AZURE_CLIENT_SECRET": emu.client_secret},
    )
    kwargs.setdefault("backoff_base", 0.01)
    return GraphClient(emu.base_url, token_provider=tokens, verify=emu.ca_path, **kwargs)


def _when(entry: dict) -> float:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def test_partly_failed_batch_maps_each_item_and_runs_the_rest(emulator) -> None:
    bad = _oidc("bad")
    del bad["issuer"]
    with _graph(emulator) as graph:
        results = graph.batch(
            [
                BatchRequest("a", "POST", COLLECTION, _oidc("a")),
                BatchRequest("bad", "POST", COLLECTION, bad),
                BatchRequest("b", "POST", COLLECTION, _oidc("b")),
            ]
        )
        names = {p.get("displayName") for p in graph.list_providers()}
    assert results["a"].status == results["b"].status == 201
    assert results["bad"].status == 400 and results["bad"].body["error"]["code"]
    assert {"a", "b"} <= names and "bad" not in names


def _write_providers(ws, count: int) -> None:
    for i in range(count):
        ws.write(
            f"p{i:02d}.yaml",
            f"""\
            kind: oidcIdentityProvider
            displayName: Batch {i:02d}
            clientId: client-{i:02d}
            issuer: https://p{i:02d}.example.com/
            wellKnownEndpoint: https://p{i:02d}.example.com/.well-known/openid-configuration
            responseType: code
            scope: openid profile email
            clientAuthentication:
              method: client_secret_post
              clientSecret: {{env: BATCH_SECRET}}
            inboundClaimMapping: {{sub: sub, name: name, email: email}}
            """,
        )


def test_apply_with_a_failed_batch_keeps_the_state_of_every_item_done(workspace) -> None:
    """45 creates go in batches of 20, 20 and 5; the second `$batch` to arrive is refused
    whole. Batches run concurrently, so which chunk that is may vary: whichever it is, the
    state must hold exactly what was created, and the next apply creates only the rest."""
    _write_providers(workspace, 45)
    text = workspace.config.read_text(encoding="utf-8")  # no client budget: fast
    workspace.config.write_text(
        text.replace("  caBundle:", '  rateLimit: "off"\n  caBundle:', 1), encoding="utf-8"
    )
    env = {"BATCH_SECRET": "CANARY-batch-state"}
    workspace.emulator.admin.add_fault(
        method="POST", path=r"^/(v1\.0|beta)/\$batch$", nth=2, status=400
    )
    result = workspace.run("apply", "--auto-approve", env=env)
    assert result.code == 1, result.text
    live = {
        p["displayName"] for p in workspace.live() if p.get("displayName", "").startswith("Batch ")
    }
    recorded = {address.split("/", 1)[1] for address in workspace.state()["providers"]}
    assert recorded == live
    assert len(live) in (20, 25, 40)  # a whole chunk refused (and maybe the ones after)
    workspace.emulator.admin.clear_faults()
    again = workspace.run("apply", "--auto-approve", env=env)
    assert again.code == 0, again.text
    assert f"{45 - len(live)} change(s) carried out" in again.out
    workspace.assert_converged(env=env)


def test_budget_holds_and_retry_after_is_honoured_under_a_429_storm(emulator_factory) -> None:
    """The emulator allows 6 requests a second; the client's budget is 20 in 5 s. Four
    threads read as fast as they may: every 429 pauses all of them for its Retry-After, and
    no stretch of the log as long as the client's window holds more than its budget."""
    emu = emulator_factory(rate_limit=6, rate_window=1.0, per_app=6)
    spec = BudgetSpec(per_app=20, per_tenant=20, window=5.0, margin=0.0)
    with _graph(emu, budget=spec, max_wait=30) as graph:
        graph.list_providers()  # sign in before the clock starts
        emu.admin.clear_requests()
        errors: list[BaseException] = []

        def reader() -> None:
            try:
                for _ in range(5):
                    graph.list_providers()
            except BaseException as error:  # surfaced by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    log = [e for e in emu.admin.requests() if e["path"].startswith(("/beta/", "/v1.0/"))]
    assert sum(e["status"] == 200 for e in log) == 20
    throttled = [e for e in log if e["status"] == 429]
    assert throttled, "the storm never happened: the test proves nothing"
    times = sorted(_when(e) for e in log)
    for i, start in enumerate(times):
        inside = [t for t in times[i:] if t - start < spec.window]
        assert len(inside) <= spec.allowed + 4, (start, len(inside))  # 4: in flight
    # the emulator's Retry-After is exact: after a 429, only requests already on their way
    # (at most one per other thread) may arrive before the window has room again
    for entry in throttled:
        at = _when(entry)
        early = [t for t in times if at + 0.02 < t < at + 0.1]
        assert len(early) <= 3, early


@pytest.mark.parametrize("concurrency", [1, 4])
def test_batches_of_one_call_share_the_budget(emulator, concurrency: int) -> None:
    """Each item counts against the budget: 45 creates at 20 a second take two full
    windows past the first burst, whatever the concurrency."""
    import time

    spec = BudgetSpec(per_app=20, per_tenant=20, window=1.0, margin=0.0)
    with _graph(emulator, budget=spec) as graph:
        graph.list_providers()  # in the window too: 21, 20, 4 items per window
        started = time.monotonic()
        results = graph.batch(
            [BatchRequest(f"c{i}", "POST", COLLECTION, _oidc(f"q{i}")) for i in range(45)],
            concurrency=concurrency,
        )
        elapsed = time.monotonic() - started
    assert {r.status for r in results.values()} == {201}
    assert elapsed >= 2 * spec.window - 0.1
