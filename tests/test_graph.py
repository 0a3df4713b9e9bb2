"""GraphClient, batching and the request budget.

Pure parts (encoding, redaction, Retry-After, backoff, bucket, packing) are plain calls; the
client's behaviour on the wire runs against the emulator over HTTPS (test_graph_live.py-style
tests at the bottom, using the `emulator` fixture).
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import threading
import time
from typing import ClassVar

import pytest

from idpctl.errors import AuthError, GraphError, ThrottledError, WriteOutcomeUnknown
from idpctl.graph import wire
from idpctl.graph.batch import MAX_BATCH, BatchOutcomeUnknown, BatchRequest, pack
from idpctl.graph.client import GraphClient
from idpctl.graph.hints import permission_hint
from idpctl.graph.trace import redact_sensitive
from idpctl.model import UNKNOWN, Secret
from idpctl.net.ratelimit import Budget, BudgetSpec
from idpctl.net.retry import Backoff, parse_retry_after

CANARY = "CANARY-graph-secret-1234"


class _NoTokens:
    def token(self, resource: str = "") -> str:
        return "header.payload.sig"


def _client(**kwargs: object) -> GraphClient:
    return GraphClient("https://127.0.0.1:9", token_provider=_NoTokens(), **kwargs)


# -- encoding, scrubbing, redaction ----------------------------------------------------------


def test_encoder_reveals_secrets_and_the_answer_stays_data() -> None:
    body = {
        "clientAuthentication": {"clientSecret": Secret(CANARY, source="env:X")},
        "list": (1, Secret("CANARY-two", source="env:Y")),
    }
    sent = json.loads(wire.encode(body))
    assert sent["clientAuthentication"]["clientSecret"] == CANARY
    assert sent["list"] == [1, "CANARY-two"]
    echoed = {"displayName": "CANARY-two", "n": 3}
    parsed = wire.parse(json.dumps(echoed).encode(), {}, 200)
    assert parsed == echoed  # never scrubbed: output is scrubbed at the gate, not data


def test_encoder_refuses_unknown() -> None:
    with pytest.raises(GraphError, match="masked"):
        wire.encode({"clientSecret": UNKNOWN})


def test_trace_redaction_masks_secret_named_fields() -> None:
    body = {"clientSecret": "plain", "nested": [{"certificateData": "pem", "keyId": "k"}]}
    assert redact_sensitive(body) == {
        "clientSecret": "(sensitive)",
        "nested": [{"certificateData": "(sensitive)", "keyId": "k"}],
    }


def test_error_line_has_status_code_message_and_request_id() -> None:
    wire.encode({"s": Secret(CANARY, source="env:X")})
    hint = permission_hint(_NoTokens())  # an app's sign-in: the application permission
    error = wire.error_for(
        400,
        {"request-id": "hdr"},
        hint=hint,
        body={
            "error": {
                "code": "invalidRequest",
                "message": f"secret {CANARY}\nis wrong",
                "innerError": {"request-id": "abc-123"},
            }
        },
    )
    assert str(error) == (
        "Graph 400 invalidRequest: secret (sensitive) is wrong (request-id abc-123)"
    )
    assert error.status == 400 and error.code == "invalidRequest"
    auth = wire.error_for(403, {}, {"error": {"code": "accessDenied", "message": "no"}}, hint=hint)
    assert "IdentityProvider.ReadWrite.All" in str(auth)
    assert type(auth).__name__ == "AuthError"
    odd = wire.error_for(502, {"request-id": "r9"}, None, hint=hint)
    assert str(odd) == "Graph 502 error: no error details (request-id r9)"


def test_next_link_must_stay_on_the_graph_host() -> None:
    client = _client()
    assert client._next_link(None) is None
    assert client._next_link("https://127.0.0.1:9/beta/x?$skiptoken=1")
    with pytest.raises(GraphError, match="refused"):
        client._next_link("https://evil.example/beta/x")
    with pytest.raises(GraphError):
        client._next_link(5)


# -- Retry-After, backoff, bucket --------------------------------------------------------------


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2.128"}) == pytest.approx(2.128)
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "-4"}) == 0.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_backoff_honours_retry_after_and_budget() -> None:
    backoff = Backoff(base=1.0, cap=4.0, max_total=10.0)
    assert backoff.next_wait(6.0) == 6.0  # never earlier than asked, even above the cap
    waits = [backoff.next_wait() for _ in range(3)]
    assert all(w is None or 0 <= w <= 4.0 for w in waits)
    assert Backoff(max_total=1.0).next_wait(5.0) is None


def test_budget_admits_a_burst_then_waits_for_the_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = Budget(
        BudgetSpec(per_app=10, per_tenant=30, window=10.0, margin=0.0),
        clock=lambda: now[0],
        sleep=sleep,
    )
    first = budget.acquire(4)
    budget.acquire(6)
    assert slept == []  # a burst of the whole window
    now[0] = 1.0
    budget.answered(first)  # its answer came a second later: it counts from then
    budget.acquire(1)
    assert now[0] == pytest.approx(11.2)  # the first 4 leave the padded window after 10.2 s
    budget.pause(5.0)
    assert budget.resume_in() == pytest.approx(5.0)
    off = Budget(BudgetSpec(per_app=None, per_tenant=None), sleep=slept.append)
    off.acquire(100)
    assert len(slept) == 1


# -- packing -----------------------------------------------------------------------------------


def _req(i: str, *deps: str) -> BatchRequest:
    return BatchRequest(i, "POST", "/identity/identityProviders", {"n": i}, tuple(deps))


def test_pack_fills_batches_of_twenty_in_order() -> None:
    batches = pack([_req(str(i)) for i in range(45)])
    assert [len(b) for b in batches] == [20, 20, 5]
    assert [r.id for r in batches[0]] == [str(i) for i in range(20)]


def test_pack_keeps_dependency_groups_together() -> None:
    requests = [_req(str(i)) for i in range(19)] + [_req("del"), _req("create", "del")]
    batches = pack(requests)
    together = next(b for b in batches if any(r.id == "create" for r in b))
    assert {"del", "create"} <= {r.id for r in together}
    assert all(len(b) <= MAX_BATCH for b in batches)


@pytest.mark.parametrize(
    "requests",
    [
        [_req("a"), _req("A")],
        [_req("a", "missing")],
        [_req("0")] + [_req(str(i), str(i - 1)) for i in range(1, 21)],
    ],
)
def test_pack_refuses_bad_input(requests: list[BatchRequest]) -> None:
    with pytest.raises(ValueError):
        pack(requests)


# == against the emulator over HTTPS =========================================================

OIDC = "#microsoft.graph.oidcIdentityProvider"


def _oidc(name: str, secret: str = CANARY) -> dict:
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
            "clientSecret": Secret(secret, source="env:TEST"),
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


def _graph_calls(emu, method: str | None = None) -> list[dict]:
    calls = [r for r in emu.admin.requests() if r["path"].startswith("/beta")]
    return [r for r in calls if method is None or r["method"] == method]


@pytest.fixture
def graph(emulator):
    client = _graph(emulator)
    yield client
    client.close()


def test_crud_round_trip(emulator, graph) -> None:
    created = graph.create_provider(_oidc("contoso"))
    assert created["id"] and created["displayName"] == "contoso"
    assert created["clientAuthentication"]["clientSecret"].strip("*") == ""
    graph.update_provider(created["id"], {"@odata.type": OIDC, "displayName": "contoso2"})
    assert graph.get_provider(created["id"])["displayName"] == "contoso2"
    assert any(p["id"] == created["id"] for p in graph.list_providers())
    graph.delete_provider(created["id"])
    assert graph.get_provider(created["id"]) is None
    assert "OpenIdConnect" in graph.available_provider_types()
    assert all(r["path"].startswith("/beta/") for r in _graph_calls(emulator))


def test_paging_follows_every_next_link(emulator_factory) -> None:
    emu = emulator_factory(page_size=2, rate_limit="off")
    client = _graph(emu)
    for i in range(5):
        client.create_provider(_oidc(f"p{i}"))
    emu.admin.clear_requests()
    items = client.list_providers()
    names = {p.get("displayName") for p in items}
    assert {f"p{i}" for i in range(5)} <= names
    assert len({p["id"] for p in items}) == len(items)
    pages = _graph_calls(emu, "GET")
    assert len(pages) == -(-len(items) // 2) >= 3
    client.close()


def test_get_retries_429_honouring_retry_after(emulator, graph) -> None:
    emulator.admin.add_fault(
        method="GET", path="identityProviders$", status=429, retry_after=0.3, count=2
    )
    started = time.monotonic()
    graph.list_providers()
    assert time.monotonic() - started >= 0.6
    assert [r["status"] for r in _graph_calls(emulator, "GET")] == [429, 429, 200]


def test_503_then_success_and_throttled_past_the_budget(emulator) -> None:
    emulator.admin.add_fault(method="GET", path="identityProviders$", status=503, count=1)
    client = _graph(emulator, max_retries=2)
    assert isinstance(client.list_providers(), list)
    emulator.admin.add_fault(
        method="GET", path="identityProviders$", status=429, retry_after=0.01, count=-1
    )
    with pytest.raises(ThrottledError, match=r"^Graph 429 TooManyRequests: .*request-id"):
        client.list_providers()
    client.close()


def test_write_dropped_after_it_took_effect_is_never_resent(emulator, graph) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", action="drop", when="after")
    with pytest.raises(WriteOutcomeUnknown) as caught:
        graph.create_provider(_oidc("dropped"))
    assert CANARY not in str(caught.value)
    assert len(_graph_calls(emulator, "POST")) == 1
    assert any(p.get("displayName") == "dropped" for p in graph.list_providers())


@pytest.mark.parametrize(
    "rule",
    [
        {"status": 500, "when": "after"},
        {"status": 502},
        {"status": 504, "when": "after"},
        {"status": 503},  # no Retry-After: Graph may have done it
        {"delay_ms": 900, "when": "after"},  # read timeout after sending
    ],
)
def test_write_outcome_unknown_cases(emulator, rule: dict) -> None:
    client = _graph(emulator, timeout=0.4)
    emulator.admin.add_fault(method="PATCH", path="identityProviders/", **rule)
    created = client.create_provider(_oidc("target"))
    with pytest.raises(WriteOutcomeUnknown):
        client.update_provider(created["id"], {"@odata.type": OIDC, "displayName": "t2"})
    deadline = time.monotonic() + 5  # a delayed request is logged once it has finished
    while not _graph_calls(emulator, "PATCH") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_graph_calls(emulator, "PATCH")) == 1
    client.close()


@pytest.mark.parametrize(
    "rule", [{"status": 429, "retry_after": 0.05}, {"status": 503, "retry_after": 0.05}]
)
def test_write_refused_by_throttling_is_retried_and_done_once(emulator, graph, rule) -> None:
    emulator.admin.add_fault(method="POST", path="identityProviders$", **rule)
    created = graph.create_provider(_oidc("once"))
    assert [r["status"] for r in _graph_calls(emulator, "POST")] == [rule["status"], 201]
    twins = [p for p in graph.list_providers() if p.get("displayName") == "once"]
    assert [p["id"] for p in twins] == [created["id"]]


def test_graph_error_is_one_line_with_request_id_and_no_secret(emulator, graph) -> None:
    body = _oidc("bad")
    del body["inboundClaimMapping"]
    with pytest.raises(GraphError) as caught:
        graph.create_provider(body)
    line = str(caught.value)
    assert re.fullmatch(r"Graph 400 \w+: .+ \(request-id [0-9a-f-]{36}\)", line), line
    assert "\n" not in line and CANARY not in line
    assert caught.value.status == 400 and caught.value.request_id


def test_missing_permission_is_an_auth_error_naming_it(emulator) -> None:
    emulator.admin.register_client(
        {
            "clientId": "reader-app",
            "secret": "CANARY-reader",
            "roles": ["IdentityProvider.Read.All"],
        }
    )
    from idpctl.graph.auth import token_provider

    tokens = token_provider(
        {},
        tenant=emulator.tenant,
        authority_root=emulator.base_url,
        verify=emulator.ca_path,
        env={"AZURE_CLIENT_ID": "reader-app", "AZURE_CLIENT_SECRET": "CANARY-reader"},
    )
    with GraphClient(emulator.base_url, token_provider=tokens, verify=emulator.ca_path) as client:
        client.list_providers()
        with pytest.raises(
            AuthError, match=r"^Graph 403 .*IdentityProvider\.ReadWrite\.All"
        ) as caught:
            client.create_provider(_oidc("nope"))
    assert "application permission with admin consent" in str(caught.value)
    assert "directory role" not in str(caught.value)  # an app has no role to ask for


def test_wrong_ca_fails_fast_with_a_hint(emulator) -> None:
    client = GraphClient(emulator.base_url, token_provider=_NoTokens(), verify=True)
    started = time.monotonic()
    with pytest.raises(GraphError, match="caBundle"):
        client.list_providers()
    assert time.monotonic() - started < 5
    client.close()


def test_trace_redacts_authorization_and_secrets(emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="idpctl.graph.trace")
    client = _graph(emulator, trace=True)
    token = client._tokens.token(client.resource)
    created = client.create_provider(_oidc("traced"))
    client.update_provider(
        created["id"],
        {
            "@odata.type": OIDC,
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                "clientSecret": Secret("CANARY-rotated", source="env:R"),
            },
        },
    )
    client.close()
    text = caplog.text
    assert "Bearer (redacted)" in text and "-> PATCH" in text and "<- 201" in text
    assert token not in text and CANARY not in text and "CANARY-rotated" not in text
    assert emulator.client_secret not in text


# -- $batch ------------------------------------------------------------------------------------

COLLECTION = "/identity/identityProviders"


def _create(i: int | str, *deps: str) -> BatchRequest:
    return BatchRequest(f"c{i}", "POST", COLLECTION, _oidc(f"b{i}"), tuple(deps))


def _batch_posts(emu) -> list[dict]:
    return [
        r for r in emu.admin.requests() if r["method"] == "POST" and r["path"].endswith("/$batch")
    ]


def test_batch_of_45_goes_in_3_requests_and_maps_every_result(emulator, graph) -> None:
    results = graph.batch([_create(i) for i in range(45)], concurrency=3)
    assert sorted(results) == sorted(f"c{i}" for i in range(45))
    assert {r.status for r in results.values()} == {201}
    assert results["c7"].body["displayName"] == "b7"
    assert CANARY not in json.dumps([r.body for r in results.values()])
    assert len(_batch_posts(emulator)) == 3
    assert (
        len([p for p in graph.list_providers() if p.get("displayName", "").startswith("b")]) == 45
    )


def test_batch_depends_on_orders_delete_before_create(emulator, graph) -> None:
    old = graph.create_provider(_oidc("replace-me"))
    results = graph.batch(
        [
            BatchRequest("del", "DELETE", f"{COLLECTION}/{old['id']}"),
            BatchRequest("new", "POST", COLLECTION, _oidc("replace-me"), ("del",)),
        ]
    )
    assert results["del"].status == 204 and results["new"].status == 201
    live = [p for p in graph.list_providers() if p.get("displayName") == "replace-me"]
    assert [p["id"] for p in live] == [results["new"].body["id"]]


def test_batch_failed_dependency_fails_its_dependents(emulator, graph) -> None:
    results = graph.batch(
        [
            BatchRequest("del", "DELETE", f"{COLLECTION}/no-such-id"),
            BatchRequest("new", "POST", COLLECTION, _oidc("after-failure"), ("del",)),
        ]
    )
    assert results["del"].status == 404 and results["new"].status == 424
    assert not [p for p in graph.list_providers() if p.get("displayName") == "after-failure"]


def test_batch_throttled_item_is_retried_alone(emulator, graph) -> None:
    created = graph.batch([_create(i) for i in range(5)])
    ids = {key: result.body["id"] for key, result in created.items()}
    emulator.admin.clear_requests()
    emulator.admin.add_fault(
        method="PATCH",
        path="^/beta/identity/identityProviders/",
        status=429,
        retry_after=0.2,
        nth=3,
    )
    started = time.monotonic()
    results = graph.batch(
        [
            BatchRequest(
                f"p{i}",
                "PATCH",
                f"{COLLECTION}/{ids[f'c{i}']}",
                {"@odata.type": "#microsoft.graph.oidcIdentityProvider", "scope": "openid email"},
            )
            for i in range(5)
        ]
    )
    assert time.monotonic() - started >= 0.2
    assert {r.status for r in results.values()} == {204}
    sent = [[item["id"] for item in p["body"]["requests"]] for p in _batch_posts(emulator)]
    assert sent[0] == ["p0", "p1", "p2", "p3", "p4"]
    assert len(sent) == 2 and len(sent[1]) == 1  # the throttled one alone


def test_batch_throttled_create_is_handed_back_not_resent(emulator, graph) -> None:
    emulator.admin.add_fault(
        method="POST", path="^/beta/identity/identityProviders$", status=429, retry_after=0.2, nth=3
    )
    results = graph.batch([_create(i) for i in range(5)])
    assert sorted(r.status for r in results.values()) == [201, 201, 201, 201, 429]
    assert len(_batch_posts(emulator)) == 1
    names = [p.get("displayName") for p in graph.list_providers()]
    assert len([n for n in names if n and n.startswith("b")]) == 4


def test_batch_lost_answer_makes_its_writes_outcome_unknown(emulator, graph) -> None:
    emulator.admin.add_fault(method="POST", path=r"/\$batch$", action="drop", when="after")
    with pytest.raises(BatchOutcomeUnknown) as caught:
        graph.batch([_create(i) for i in range(3)] + [BatchRequest("read", "GET", COLLECTION)])
    assert sorted(caught.value.ids) == ["c0", "c1", "c2"]
    assert isinstance(caught.value, WriteOutcomeUnknown)
    assert len(_batch_posts(emulator)) == 1


def test_batch_items_count_against_the_budget(emulator) -> None:
    client = _graph(emulator, budget=BudgetSpec(per_app=20, per_tenant=20, window=1.0, margin=0))
    started = time.monotonic()
    client.batch([_create(i) for i in range(30)])  # 20 items fill the window, 10 wait ~1 s
    assert time.monotonic() - started >= 0.8
    client.close()


# -- hostile answers: a tiny local server for what the emulator will not send -------------------


class _Hostile(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self) -> None:
        status, ctype, body = self.answers.get(self.path, (404, "text/plain", b"nope"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def answer(
        body: bytes | str | object,
        *,
        status: int = 200,
        ctype: str = "application/json",
        path: str = "/beta/identity/identityProviders",
    ) -> GraphClient:
        if not isinstance(body, bytes):
            body = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        _Hostile.answers[path] = (status, ctype, body)
        return GraphClient(base, token_provider=_NoTokens(), max_retries=1, backoff_base=0.01)

    answer.base = base  # type: ignore[attr-defined]
    yield answer
    _Hostile.answers.clear()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("<html>sign in</html>", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        ({"values": []}, "without a 'value' array"),
        ({"value": {"a": 1}}, "without a 'value' array"),
        ([1, 2], "without a 'value' array"),
        ({"value": [], "@odata.nextLink": 7}, "not a string"),
        ({"value": [], "@odata.nextLink": "https://elsewhere.example/beta/x"}, "refused"),
    ],
)
def test_hostile_list_answers_are_clear_graph_errors(hostile, body, match: str) -> None:
    with pytest.raises(GraphError, match=match):
        hostile(body).list_providers()


def test_paging_loop_is_stopped(hostile) -> None:
    client = hostile({"value": []})
    loop = f"{hostile.base}/beta/identity/identityProviders"
    _Hostile.answers["/beta/identity/identityProviders"] = (
        200,
        "application/json",
        json.dumps({"value": [], "@odata.nextLink": loop}).encode(),
    )
    with pytest.raises(GraphError, match="paging did not end"):
        client.list_providers()


def test_huge_answer_is_refused(hostile, monkeypatch) -> None:
    monkeypatch.setattr("idpctl.graph.wire.MAX_RESPONSE_BYTES", 1000)
    with pytest.raises(GraphError, match="exceeded 1000 bytes"):
        hostile({"value": ["x" * 5000]}).list_providers()


def test_non_json_error_body_still_gives_one_line(hostile) -> None:
    client = hostile("<h1>Bad Request</h1>", status=400, ctype="text/html")
    with pytest.raises(GraphError, match=r"^Graph 400 error: no error details$"):
        client.list_providers()


def test_hostile_item_types_reach_live_as_graph_errors(hostile) -> None:
    from idpctl.graph.live import fetch

    with pytest.raises(GraphError):
        fetch(hostile({"value": ["not an object"]}), {})
    got = fetch(hostile({"value": [{"id": "x", "@odata.type": "#microsoft.graph.newThing"}]}), {})
    assert got[0].kind is None


@pytest.mark.parametrize(
    ("value", "limit"),
    [(None, 200), ("off", None), ("OFF", None), ("default", 200), (90, 90), ("120", 120)],
)
def test_rate_limit_setting_forms(value: object, limit: int | None) -> None:
    spec = _client(rate_limit=value).budget.spec
    assert (None if spec.off else spec.per_app) == limit


@pytest.mark.parametrize("value", ["fast", 0, -5])
def test_rate_limit_nonsense_is_refused(value: object) -> None:
    with pytest.raises(GraphError, match="rateLimit"):
        _client(rate_limit=value)


def _hammer(client: GraphClient, threads: int, each: int) -> None:
    def work() -> None:
        for _ in range(each):
            client.list_providers()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_budget_below_graphs_means_no_429(emulator) -> None:
    client = _graph(emulator, budget=BudgetSpec(per_app=40, per_tenant=40, window=1.0))
    client.list_providers()  # sign in first
    emulator.admin.set_rate_limit(40, per_app=40, window_seconds=1)
    emulator.admin.clear_requests()
    _hammer(client, 4, 10)
    statuses = [r["status"] for r in _graph_calls(emulator)]
    assert len(statuses) == 40 and set(statuses) == {200}
    client.close()


def test_429_storm_pauses_every_thread(emulator) -> None:
    client = _graph(emulator, max_wait=30, max_retries=20)
    client.list_providers()
    emulator.admin.set_rate_limit(5, per_app=5, window_seconds=1)
    emulator.admin.clear_requests()
    started = time.monotonic()
    _hammer(client, 3, 4)
    elapsed = time.monotonic() - started
    statuses = [r["status"] for r in _graph_calls(emulator)]
    assert statuses.count(200) == 12
    # one shared pause per throttled window: at most the requests in flight get a 429
    assert statuses.count(429) <= 3 * (int(elapsed) + 2)
    client.close()


def test_throttle_percentage_header_slows_the_client_down() -> None:
    client = _client()
    allowed = client.budget.spec.allowed
    client._ease_off({"x-ms-throttle-limit-percentage": "0.9"})  # another client spends 90%
    assert client.budget._current(client.budget._clock()) <= allowed * 0.2
    client._ease_off({"x-ms-throttle-limit-percentage": "nonsense"})
    client._ease_off({})


@pytest.mark.parametrize(
    ("url", "resource"),
    [
        ("https://graph.microsoft.com", "https://graph.microsoft.com"),
        ("https://graph.microsoft.us/", "https://graph.microsoft.us"),
        ("https://microsoftgraph.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
        ("https://127.0.0.1:8443", "https://graph.microsoft.com"),
    ],
)
def test_token_is_asked_for_the_clouds_graph(url: str, resource: str) -> None:
    client = GraphClient(url, token_provider=_NoTokens())
    assert client.resource == resource
    assert client.root == url.rstrip("/") + "/beta"
    client.close()
