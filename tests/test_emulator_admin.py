"""The `/_emulator/` admin API over real HTTPS: every endpoint, loopback-only, latency per
HTTP request, and `--state` persistence across a restart."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from idpctl_emulator import wire
from idpctl_emulator.cli import EmulatorConfig, start
from idpctl_emulator.harness import AdminError, EmulatorHandle, running_emulator

COLLECTION = "/beta/identity/identityProviders"
SOCIAL = {
    "@odata.type": "microsoft.graph.SOCIALIdentityProvider",
    "displayName": "Google",
    "identityProviderType": "Google",
    "clientId": "c",
    "clientSecret": "CANARY-admin",
}


def _ids(emu: EmulatorHandle) -> list[str]:
    return [p["id"] for p in emu.admin.store()["providers"]]


def test_reset_empties_store_faults_log_and_keeps_clients(emulator: EmulatorHandle) -> None:
    emulator.admin.register_client({"clientId": "kept", "secret": "CANARY-kept"})
    emulator.admin.seed(SOCIAL)
    emulator.admin.add_fault(path="nothing-matches-this", status=500)
    emulator.admin.set_latency(5)
    emulator.token()
    emulator.admin.reset()
    assert "Google-OAUTH" not in _ids(emulator)
    assert all("builtIn" in p["@odata.type"] for p in emulator.admin.store()["providers"])
    assert emulator.admin.faults() == [] and emulator.admin.requests() == []
    assert emulator.admin.call("GET", "/latency") == {"ms": 0}
    assert emulator.token(client_id="kept", client_secret="CANARY-kept")


def test_seed_assigns_ids_like_graph_without_validation(emulator: EmulatorHandle) -> None:
    seeded = emulator.admin.seed(SOCIAL)
    assert seeded["id"] == "Google-OAUTH"
    assert seeded["@odata.type"] == "#microsoft.graph.socialIdentityProvider"
    assert seeded["clientSecret"] == "******"
    loose = emulator.admin.seed(
        {
            "@odata.type": "#microsoft.graph.oidcIdentityProvider",
            "id": "my-id",
            "displayName": "no issuer at all",
        }
    )
    assert loose["id"] == "my-id"
    with emulator.graph() as graph:
        assert graph.get(f"{COLLECTION}/my-id").json()["displayName"] == "no issuer at all"
    with pytest.raises(AdminError, match="409"):
        emulator.admin.seed({**SOCIAL, "id": "my-id"})


def test_drift_changes_a_provider_behind_the_tools_back(emulator: EmulatorHandle) -> None:
    emulator.admin.seed(SOCIAL)
    drifted = emulator.admin.drift("Google-OAUTH", {"displayName": "Changed in the portal"})
    assert drifted["displayName"] == "Changed in the portal"
    with emulator.graph() as graph:
        got = graph.get(f"{COLLECTION}/Google-OAUTH").json()
    assert got["displayName"] == "Changed in the portal"
    with pytest.raises(AdminError, match="404"):
        emulator.admin.drift("nope", {"displayName": "x"})


def test_store_shows_write_only_values_as_sha256(emulator: EmulatorHandle) -> None:
    emulator.admin.seed(SOCIAL)
    stored = next(p for p in emulator.admin.store()["providers"] if p["id"] == "Google-OAUTH")
    assert stored["clientSecret"] == {"sha256": hashlib.sha256(b"CANARY-admin").hexdigest()}


def test_requests_log_redacts_bodies_and_includes_token_requests(emulator: EmulatorHandle) -> None:
    with emulator.graph() as graph:
        graph.post(COLLECTION, json=SOCIAL)
        graph.get(COLLECTION, params={"$select": "id"})
    log = emulator.admin.requests()
    assert "CANARY-admin" not in json.dumps(log)
    assert emulator.client_secret not in json.dumps(log)
    token = next(e for e in log if e["path"].endswith("/oauth2/v2.0/token"))
    assert token["method"] == "POST" and token["status"] == 200
    assert set(token["body"]["client_secret"]) == {"sha256"}
    post = next(e for e in log if e["method"] == "POST" and e["path"] == COLLECTION)
    assert post["status"] == 201 and set(post["body"]["clientSecret"]) == {"sha256"}
    get = log[-1]
    assert get["query"] == {"$select": "id"} and get["time"].endswith("Z")
    assert not any(e["path"].startswith("/_emulator") for e in log)


def test_requests_log_redacts_other_credentials_too(emulator: EmulatorHandle) -> None:
    httpx.put(
        f"{emulator.base_url}/secrets/probe",
        json={"value": "CANARY-vault"},
        verify=emulator.ssl_context(),
    )
    entry = emulator.admin.requests()[-1]
    assert entry["path"] == "/secrets/probe"
    assert entry["body"]["value"] == {"sha256": hashlib.sha256(b"CANARY-vault").hexdigest()}


def test_faults_endpoints(emulator: EmulatorHandle) -> None:
    added = emulator.admin.add_fault(
        method="get",
        path="x",
        nth=2,
        count=3,
        when="after",
        status=504,
        retry_after=1.5,
        delay_ms=1,
    )
    assert added == {
        "id": added["id"],
        "method": "GET",
        "path": "x",
        "nth": 2,
        "count": 3,
        "when": "after",
        "status": 504,
        "retryAfter": 1.5,
        "delayMs": 1,
    }
    assert emulator.admin.faults()[0]["matched"] == 0
    emulator.admin.clear_faults()
    assert emulator.admin.faults() == []


def test_latency_applies_once_per_http_request(emulator: EmulatorHandle) -> None:
    emulator.admin.set_latency(250)
    requests = [
        {"id": str(n), "method": "GET", "url": "/identity/identityProviders"} for n in range(6)
    ]
    with emulator.graph() as graph:
        started = time.monotonic()
        assert graph.get(COLLECTION).status_code == 200
        single = time.monotonic() - started
        started = time.monotonic()
        assert graph.post("/beta/$batch", json={"requests": requests}).status_code == 200
        batched = time.monotonic() - started
    assert single >= 0.24 and 0.24 <= batched < 1.0
    with pytest.raises(AdminError, match="400"):
        emulator.admin.set_latency(-1)


def test_rate_limit_endpoint(emulator: EmulatorHandle) -> None:
    assert emulator.admin.call("GET", "/rate-limit") == {"off": True}
    assert emulator.admin.set_rate_limit(30) == {"perMinute": 30, "perApp": 20, "windowSeconds": 60}
    assert emulator.admin.set_rate_limit(30, per_app=5, window_seconds=2)["perApp"] == 5
    assert emulator.admin.set_rate_limit(None) == {"off": True}
    for bad in ({}, {"perMinute": 0}, {"perMinute": "x"}, {"perMinute": 5, "windowSeconds": 0}):
        with pytest.raises(AdminError, match="400"):
            emulator.admin.call("PUT", "/rate-limit", bad)


def test_clients_endpoint(emulator: EmulatorHandle) -> None:
    registered = emulator.admin.register_client(
        {"clientId": "reader-2", "secret": "CANARY-client", "roles": ["IdentityProvider.Read.All"]}
    )
    assert registered["clientId"] == "reader-2"
    listed = emulator.admin.call("GET", "/clients")["clients"]
    assert "reader-2" in [c["clientId"] for c in listed]
    assert "CANARY-client" not in json.dumps(listed)
    with pytest.raises(AdminError, match="400"):
        emulator.admin.register_client({"secret": "no client id"})


def test_unknown_admin_paths_and_methods(emulator: EmulatorHandle) -> None:
    with pytest.raises(AdminError, match="404"):
        emulator.admin.call("GET", "/nothing")
    with pytest.raises(AdminError, match="405"):
        emulator.admin.call("GET", "/reset")
    with pytest.raises(AdminError, match="400"):
        emulator.admin.call("POST", "/providers", ["not", "an", "object"])
    info = emulator.admin.info()
    assert info == {"baseUrl": emulator.base_url, "tenant": emulator.tenant, "kind": "external"}


def test_admin_answers_loopback_clients_only(tmp_path: Path) -> None:
    running = start(EmulatorConfig(data_dir=None, rate_limit=None))
    try:
        request = wire.Request("GET", "/_emulator/store", {}, {}, client_host="192.0.2.7")
        response = running.app.handle(request)
        assert response.status == 403
        assert response.json()["error"]["code"] == "accessDenied"
        for host in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
            local = wire.Request("GET", "/_emulator/store", {}, {}, client_host=host)
            assert running.app.handle(local).status == 200
    finally:
        running.stop()


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    options: dict[str, Any] = {"state_file": state, "rate_limit": "off"}
    with running_emulator(**options) as first:
        with first.graph() as graph:
            assert graph.post(COLLECTION, json=SOCIAL).status_code == 201
        first.admin.seed(
            {
                "@odata.type": "#microsoft.graph.appleManagedIdentityProvider",
                "displayName": "Apple",
                "certificateData": "CANARY-apple-state",
            }
        )
        tenant = first.tenant
    saved = state.read_text()
    assert "CANARY" not in saved and json.loads(saved)["providers"]
    with running_emulator(**options) as second:
        assert second.tenant == tenant
        with second.graph() as graph:
            ids = [i["id"] for i in graph.get(COLLECTION).json()["value"]]
            assert {"Google-OAUTH", "Apple-Managed-OIDC"} <= set(ids)
            assert graph.delete(f"{COLLECTION}/Google-OAUTH").status_code == 204
    assert "Google-OAUTH" not in state.read_text()


def test_admin_needs_no_token(emulator: EmulatorHandle) -> None:
    response = httpx.get(f"{emulator.base_url}/_emulator/store", verify=emulator.ssl_context())
    assert response.status_code == 200 and response.headers["request-id"]
