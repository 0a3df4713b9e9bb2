"""`$batch` over real HTTPS (GRAPH.md 5.1): dependsOn, 424, shuffled responses, 400 cases,
throttling and faults inside items; plus the parser and runner on plain values."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from idpctl_emulator import wire
from idpctl_emulator.batch import BatchError, BatchItem, parse_batch, run_batch
from idpctl_emulator.harness import EmulatorHandle

SOCIAL = {
    "@odata.type": "#microsoft.graph.socialIdentityProvider",
    "displayName": "Google",
    "identityProviderType": "Google",
    "clientId": "c",
    "clientSecret": "CANARY-batch",
}
JSON = {"Content-Type": "application/json"}
PROVIDERS = "/identity/identityProviders"


def _batch(
    emu: EmulatorHandle, requests: list[dict[str, Any]], *, version: str = "beta"
) -> dict[str, dict[str, Any]]:
    with emu.graph() as graph:
        response = graph.post(f"/{version}/$batch", json={"requests": requests})
    assert response.status_code == 200, response.text
    assert response.headers["request-id"]
    return {item["id"]: item for item in response.json()["responses"]}


def test_depends_on_orders_create_get_delete(emulator: EmulatorHandle) -> None:
    out = _batch(
        emulator,
        [
            {"id": "1", "method": "POST", "url": PROVIDERS, "headers": JSON, "body": SOCIAL},
            {"id": "2", "method": "GET", "url": f"{PROVIDERS}/Google-OAUTH", "dependsOn": ["1"]},
            {"id": "3", "method": "DELETE", "url": f"{PROVIDERS}/Google-OAUTH", "dependsOn": ["2"]},
        ],
    )
    assert [out[i]["status"] for i in "123"] == [201, 200, 204]
    assert out["2"]["body"]["clientSecret"] == "******"
    assert out["1"]["headers"]["request-id"] != out["2"]["headers"]["request-id"]
    ids = [p["id"] for p in emulator.admin.store()["providers"]]
    assert "Google-OAUTH" not in ids


def test_failed_request_fails_its_dependents_with_424(emulator: EmulatorHandle) -> None:
    out = _batch(
        emulator,
        [
            {"id": "a", "method": "GET", "url": f"{PROVIDERS}/missing"},
            {
                "id": "b",
                "method": "POST",
                "url": PROVIDERS,
                "headers": JSON,
                "body": SOCIAL,
                "dependsOn": ["A"],
            },
            {"id": "c", "method": "GET", "url": f"{PROVIDERS}/Google-OAUTH", "dependsOn": ["b"]},
        ],
    )
    assert out["a"]["status"] == 404 and out["a"]["body"]["error"]["code"]
    assert out["b"]["status"] == 424 and out["c"]["status"] == 424
    assert out["b"]["body"]["error"]["code"] == "FailedDependency"
    assert "Google-OAUTH" not in [p["id"] for p in emulator.admin.store()["providers"]]


def test_responses_come_back_shuffled(emulator: EmulatorHandle) -> None:
    requests = [{"id": str(n), "method": "GET", "url": PROVIDERS} for n in range(20)]
    orders = {tuple(_batch(emulator, requests)) for _ in range(3)}
    assert orders != {tuple(str(n) for n in range(20))}


@pytest.mark.parametrize(
    "requests",
    [
        [{"id": str(n), "method": "GET", "url": PROVIDERS} for n in range(21)],
        [{"id": "x", "method": "GET", "url": PROVIDERS}, {"id": "X", "method": "GET", "url": "/a"}],
        [{"id": "1", "method": "GET", "url": PROVIDERS, "dependsOn": ["2"]}],
        [{"id": "1", "method": "POST", "url": PROVIDERS, "body": SOCIAL}],
        [{"id": "1", "method": "GET"}],
        [],
    ],
)
def test_malformed_batches_are_400(
    emulator: EmulatorHandle, requests: list[dict[str, Any]]
) -> None:
    with emulator.graph() as graph:
        response = graph.post("/beta/$batch", json={"requests": requests})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert emulator.admin.store()["providers"] == [
        p for p in emulator.admin.store()["providers"] if "builtIn" in p["@odata.type"]
    ]


_GET = {"method": "GET", "url": PROVIDERS}


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        # a chain next to an independent request (docs: "fully sequential or fully parallel")
        (
            [{"id": "1", **_GET}, {"id": "2", **_GET, "dependsOn": ["1"]}, {"id": "3", **_GET}],
            "fully sequential or fully parallel",
        ),
        # two chains in one batch
        (
            [
                {"id": "1", **_GET},
                {"id": "2", **_GET, "dependsOn": ["1"]},
                {"id": "3", **_GET},
                {"id": "4", **_GET, "dependsOn": ["3"]},
            ],
            "fully sequential or fully parallel",
        ),
        # one item waiting on two (the old [unlink, unlink, DELETE dependsOn both] shape)
        (
            [
                {"id": "1", **_GET},
                {"id": "2", **_GET},
                {"id": "3", **_GET, "dependsOn": ["1", "2"]},
            ],
            "fully sequential or fully parallel",
        ),
        # skipping back past the previous item
        (
            [
                {"id": "1", **_GET},
                {"id": "2", **_GET, "dependsOn": ["1"]},
                {"id": "3", **_GET, "dependsOn": ["1"]},
            ],
            "fully sequential or fully parallel",
        ),
        # a dependency that comes later in the array (msgraph-sdk-java-core#71)
        ([{"id": "2", **_GET, "dependsOn": ["1"]}, {"id": "1", **_GET}], "Invalid dependency"),
    ],
)
def test_mixed_or_forward_batches_are_refused_whole(
    emulator: EmulatorHandle, requests: list[dict[str, Any]], message: str
) -> None:
    create = {"id": "0", "method": "POST", "url": PROVIDERS, "headers": JSON, "body": SOCIAL}
    with emulator.graph() as graph:
        response = graph.post(
            "/beta/$batch",
            json={"requests": [create, *requests]}
            if "Invalid" not in message
            else {"requests": requests},
        )
        if "Invalid" not in message:  # the create would be parallel to the chain: not run
            assert graph.get(f"/beta{PROVIDERS}/Google-OAUTH").status_code == 404
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest" and message in error["message"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert "responses" not in response.json()


def test_fully_sequential_and_fully_parallel_batches_are_accepted() -> None:
    chain = [
        {"id": "a", **_GET},
        {"id": "b", **_GET, "dependsOn": ["A"]},
        {"id": "c", **_GET, "dependsOn": ["b"]},
    ]
    assert [i.id for i in parse_batch({"requests": chain})] == ["a", "b", "c"]
    assert len(parse_batch({"requests": [{"id": str(n), **_GET} for n in range(20)]})) == 20


def test_batch_takes_post_with_a_json_body(emulator: EmulatorHandle) -> None:
    with emulator.graph() as graph:
        assert graph.get("/beta/$batch").status_code == 405
        response = graph.post(
            "/v1.0/$batch", content=b"nope", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["innerError"]["request-id"] == response.headers["request-id"]


def test_items_are_relative_to_the_version_root(emulator: EmulatorHandle) -> None:
    oidc_body = {"@odata.type": "#microsoft.graph.oidcIdentityProvider"}
    out = _batch(
        emulator,
        [
            {"id": "1", "method": "GET", "url": "identity/identityProviders"},
            {"id": "2", "method": "GET", "url": "/beta/identity/identityProviders"},
            {"id": "3", "method": "GET", "url": "https://graph.microsoft.com/v1.0/identity"},
            {"id": "4", "method": "POST", "url": PROVIDERS, "headers": JSON, "body": oidc_body},
        ],
        version="v1.0",
    )
    assert out["1"]["status"] == 200
    assert out["1"]["body"]["@odata.context"].endswith("/v1.0/$metadata#identity/identityProviders")
    assert out["2"]["status"] == 400 and out["3"]["status"] == 400
    assert out["4"]["status"] == 400  # a beta-only type in a v1.0 batch


def test_each_item_counts_against_the_budget_with_429_inside(emulator: EmulatorHandle) -> None:
    emulator.admin.set_rate_limit(3, per_app=3)
    out = _batch(emulator, [{"id": str(n), "method": "GET", "url": PROVIDERS} for n in range(5)])
    statuses = sorted(item["status"] for item in out.values())
    assert statuses == [200, 200, 200, 429, 429]
    limited = [item for item in out.values() if item["status"] == 429]
    assert all(float(item["headers"]["Retry-After"]) > 0 for item in limited)
    assert all(item["body"]["error"]["code"] == "TooManyRequests" for item in limited)


def test_batch_items_are_logged_with_their_batch(emulator: EmulatorHandle) -> None:
    _batch(
        emulator, [{"id": "1", "method": "POST", "url": PROVIDERS, "headers": JSON, "body": SOCIAL}]
    )
    log = emulator.admin.requests()
    outer = next(e for e in log if e["path"] == "/beta/$batch")
    item = next(e for e in log if e.get("batch") == outer["requestId"])
    assert item["path"] == "/beta/identity/identityProviders" and item["status"] == 201
    digest = hashlib.sha256(b"CANARY-batch").hexdigest()
    assert item["body"]["clientSecret"] == {"sha256": digest}
    assert "CANARY-batch" not in str(log)


def _item(item_id: str, *depends: str) -> BatchItem:
    return BatchItem(item_id, "GET", "/x", {}, b"", tuple(d.lower() for d in depends))


def test_run_batch_runs_dependencies_first_in_any_order() -> None:
    ran: list[str] = []

    def execute(item: BatchItem) -> wire.Response:
        ran.append(item.id)
        return wire.Response(500 if item.id == "b" else 200)

    items = [_item("c", "b"), _item("b", "a"), _item("a"), _item("d")]
    payload, action = run_batch(items, execute, new_request_id=lambda: "rid", rng=random.Random(1))
    assert action is None
    assert ran.index("a") < ran.index("b") and "c" not in ran
    assert {r["id"]: r["status"] for r in payload["responses"]} == {
        "a": 200,
        "b": 500,
        "c": 424,
        "d": 200,
    }


def test_parse_batch_rejects_cycles_and_body_without_content_type() -> None:
    with pytest.raises(BatchError, match="Invalid dependency"):  # a cycle points forward
        parse_batch(
            {
                "requests": [
                    {"id": "1", "method": "GET", "url": "/a", "dependsOn": ["2"]},
                    {"id": "2", "method": "GET", "url": "/a", "dependsOn": ["1"]},
                ]
            }
        )
    with pytest.raises(BatchError, match="Content-Type"):
        parse_batch({"requests": [{"id": "1", "method": "POST", "url": "/a", "body": {}}]})
    parsed = parse_batch(
        {
            "requests": [
                {"id": "1", "method": "post", "url": "/a", "headers": JSON, "body": {"k": 1}}
            ]
        }
    )
    assert parsed[0].method == "POST" and parsed[0].body == b'{"k": 1}'
