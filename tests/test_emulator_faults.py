"""Fault rules over real HTTPS: status, drop, hang and delay, each before and after the write;
nth/count; batch items matched by their own URL; per-rule replication delay; rule parsing."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from idpctl_emulator.faults import Faults, RuleError, parse_rule
from idpctl_emulator.harness import AdminError, EmulatorHandle

COLLECTION = "/beta/identity/identityProviders"
SOCIAL = {
    "@odata.type": "#microsoft.graph.socialIdentityProvider",
    "displayName": "Google",
    "identityProviderType": "Google",
    "clientId": "c",
    "clientSecret": "CANARY-fault",
}


def _created(emu: EmulatorHandle) -> bool:
    return any(p["id"] == "Google-OAUTH" for p in emu.admin.store()["providers"])


@pytest.mark.parametrize("when", ["before", "after"])
def test_status_fault(emulator: EmulatorHandle, when: str) -> None:
    emulator.admin.add_fault(
        method="POST", path=f"^{COLLECTION}$", when=when, status=503, retry_after=2
    )
    with emulator.graph() as graph:
        response = graph.post(COLLECTION, json=SOCIAL)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert response.json()["error"]["code"] == "serviceNotAvailable"
        assert response.json()["error"]["innerError"]["request-id"]
        assert _created(emulator) is (when == "after")
        # the rule fired once (count defaults to 1)
        second = graph.post(COLLECTION, json=SOCIAL)
        assert second.status_code == (409 if when == "after" else 201)


@pytest.mark.parametrize("when", ["before", "after"])
def test_drop_fault(emulator: EmulatorHandle, when: str) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", when=when, action="drop")
    with emulator.graph() as graph, pytest.raises(httpx.TransportError):
        graph.post(COLLECTION, json=SOCIAL)
    assert _created(emulator) is (when == "after")
    entry = emulator.admin.requests()[-1]
    assert entry["action"] == "drop" and entry["status"] is None


@pytest.mark.parametrize("when", ["before", "after"])
def test_hang_fault_until_client_gives_up(emulator: EmulatorHandle, when: str) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", when=when, action="hang")
    started = time.monotonic()
    with emulator.graph(timeout=0.4) as graph, pytest.raises(httpx.TimeoutException):
        graph.post(COLLECTION, json=SOCIAL)
    assert time.monotonic() - started < 5
    assert _created(emulator) is (when == "after")


def test_hang_is_capped(emulator_factory: Any) -> None:
    emu = emulator_factory(hang_cap=0.3, rate_limit="off")
    emu.admin.add_fault(method="GET", path="identityProviders$", action="hang")
    started = time.monotonic()
    with emu.graph(timeout=10) as graph, pytest.raises(httpx.TransportError):
        graph.get(COLLECTION)
    assert 0.25 < time.monotonic() - started < 5


@pytest.mark.parametrize("when", ["before", "after"])
def test_delay_fault(emulator: EmulatorHandle, when: str) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", when=when, delay_ms=300)
    with emulator.graph() as graph:
        started = time.monotonic()
        response = graph.post(COLLECTION, json=SOCIAL)
        assert time.monotonic() - started >= 0.29
    assert response.status_code == 201
    assert _created(emulator)


def test_delay_after_write_outlasts_client_timeout(emulator: EmulatorHandle) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", when="after", delay_ms=1500)
    with emulator.graph(timeout=0.3) as graph, pytest.raises(httpx.TimeoutException):
        graph.post(COLLECTION, json=SOCIAL)
    assert _created(emulator)


def test_nth_and_count(emulator: EmulatorHandle) -> None:
    emulator.admin.add_fault(method="GET", path="identityProviders$", nth=2, count=2, status=500)
    with emulator.graph() as graph:
        statuses = [graph.get(COLLECTION).status_code for _ in range(5)]
    assert statuses == [200, 500, 500, 200, 200]
    assert emulator.admin.faults()[0]["matched"] == 5


def test_count_minus_one_fires_forever_and_method_filters(emulator: EmulatorHandle) -> None:
    emulator.admin.add_fault(method="DELETE", path=".*", count=-1, status=502)
    with emulator.graph() as graph:
        assert [graph.delete(f"{COLLECTION}/x").status_code for _ in range(3)] == [502] * 3
        assert graph.get(COLLECTION).status_code == 200


@pytest.mark.parametrize(
    "path", ["^/identity/identityProviders$", "^/beta/identity/identityProviders$"]
)
def test_batch_items_match_by_their_own_url(emulator: EmulatorHandle, path: str) -> None:
    emulator.admin.add_fault(method="POST", path=path, status=503, retry_after=1)
    body = {
        "requests": [
            {
                "id": "1",
                "method": "POST",
                "url": "/identity/identityProviders",
                "headers": {"Content-Type": "application/json"},
                "body": SOCIAL,
            },
            {"id": "2", "method": "GET", "url": "/identity/identityProviders"},
        ]
    }
    with emulator.graph() as graph:
        response = graph.post("/beta/$batch", json=body)
    assert response.status_code == 200
    items = {item["id"]: item for item in response.json()["responses"]}
    assert items["1"]["status"] == 503 and items["1"]["headers"]["Retry-After"] == "1"
    assert items["2"]["status"] == 200
    assert not _created(emulator)


def test_drop_on_a_batch_item_drops_the_whole_request(emulator: EmulatorHandle) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", when="after", action="drop")
    body = {
        "requests": [
            {
                "id": "1",
                "method": "POST",
                "url": "/identity/identityProviders",
                "headers": {"Content-Type": "application/json"},
                "body": SOCIAL,
            }
        ]
    }
    with emulator.graph() as graph, pytest.raises(httpx.TransportError):
        graph.post("/beta/$batch", json=body)
    assert _created(emulator)


def test_rule_replication_delay_hides_the_created_provider(emulator: EmulatorHandle) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", replication_delay=0.5)
    with emulator.graph() as graph:
        assert graph.post(COLLECTION, json=SOCIAL).status_code == 201
        assert graph.get(f"{COLLECTION}/Google-OAUTH").status_code == 404
        time.sleep(0.6)
        assert graph.get(f"{COLLECTION}/Google-OAUTH").status_code == 200


def test_faults_apply_to_the_token_endpoint(emulator: EmulatorHandle) -> None:
    emulator.admin.add_fault(method="POST", path="/oauth2/v2.0/token$", status=503)
    with pytest.raises(httpx.HTTPStatusError):
        emulator.token()
    assert emulator.token()


def test_bad_rules_are_refused(emulator: EmulatorHandle) -> None:
    for rule in (
        {"method": "GET"},
        {"path": "("},
        {"path": "x", "when": "during"},
        {"path": "x", "action": "explode"},
        {"path": "x", "nth": 0},
        {"path": "x", "status": 700},
        {"path": "x", "status": 204},
        {"path": "x", "bogus": 1},
        {"path": "x", "count": 0},
        {"path": "x", "delayMs": -1},
        {"path": "x", "retryAfter": "soon"},
    ):
        with pytest.raises(AdminError, match="400"):
            emulator.admin.add_fault(**rule)


def test_parse_rule_defaults_and_oldest_rule_wins() -> None:
    rule = parse_rule(1, {"path": "x"})
    assert (rule.method, rule.nth, rule.count, rule.when, rule.answers_status) == (
        "*",
        1,
        1,
        "before",
        503,
    )
    assert parse_rule(2, {"path": "x", "delayMs": 5}).answers_status is None
    with pytest.raises(RuleError):
        parse_rule(3, ["not", "a", "rule"])
    faults = Faults()
    first = faults.add({"path": "a", "status": 500})
    faults.add({"path": "a", "status": 502, "count": -1})
    assert faults.fire("GET", ["/a"]) == first
    assert faults.fire("GET", ["/a"]).status == 502
    assert faults.fire("GET", ["/b"]) is None
