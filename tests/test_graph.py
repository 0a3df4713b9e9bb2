"""GraphClient, batching and the request budget.

Pure parts (encoding, redaction, Retry-After, backoff, bucket, packing) are plain calls; the
client's behaviour on the wire runs against the emulator over HTTPS (test_graph_live.py-style
tests at the bottom, using the `emulator` fixture).
"""

from __future__ import annotations

import json

import pytest

from idpctl.batching import MAX_BATCH, BatchRequest, pack
from idpctl.errors import GraphError
from idpctl.graph import GraphClient, _redact
from idpctl.model import UNKNOWN, Secret
from idpctl.ratelimit import Backoff, TokenBucket, parse_retry_after

CANARY = "CANARY-graph-secret-1234"


class _NoTokens:
    def token(self, resource: str = "") -> str:
        return "header.payload.sig"


def _client(**kwargs: object) -> GraphClient:
    return GraphClient("https://127.0.0.1:9", token_provider=_NoTokens(), **kwargs)


# -- encoding, scrubbing, redaction ----------------------------------------------------------


def test_encoder_reveals_secrets_and_scrub_hides_them_again() -> None:
    client = _client()
    body = {"clientAuthentication": {"clientSecret": Secret(CANARY, source="env:X")},
            "list": (1, Secret("CANARY-two", source="env:Y"))}
    sent = json.loads(client._encode(body))
    assert sent["clientAuthentication"]["clientSecret"] == CANARY
    assert sent["list"] == [1, "CANARY-two"]
    echoed = {"clientSecret": CANARY, "message": f"bad secret {CANARY} given", "n": 3}
    scrubbed = client.scrub(echoed)
    assert scrubbed["clientSecret"] == "********"
    assert CANARY not in json.dumps(scrubbed)
    assert scrubbed["n"] == 3
    client.close()


def test_encoder_refuses_unknown() -> None:
    with pytest.raises(GraphError, match="masked"):
        _client()._encode({"clientSecret": UNKNOWN})


def test_trace_redaction_masks_secret_named_fields() -> None:
    body = {"clientSecret": "plain", "nested": [{"certificateData": "pem", "keyId": "k"}]}
    assert _redact(body) == {"clientSecret": "(sensitive)",
                             "nested": [{"certificateData": "(sensitive)", "keyId": "k"}]}


def test_error_line_has_status_code_message_and_request_id() -> None:
    client = _client()
    client._encode({"s": Secret(CANARY, source="env:X")})
    error = client._error(400, {"request-id": "hdr"}, {"error": {
        "code": "invalidRequest", "message": f"secret {CANARY}\nis wrong",
        "innerError": {"request-id": "abc-123"}}})
    assert str(error) == (
        "Graph 400 invalidRequest: secret (sensitive) is wrong (request-id abc-123)")
    assert error.status == 400 and error.code == "invalidRequest"
    auth = client._error(403, {}, {"error": {"code": "accessDenied", "message": "no"}})
    assert "IdentityProvider.ReadWrite.All" in str(auth)
    assert type(auth).__name__ == "AuthError"
    odd = client._error(502, {"request-id": "r9"}, None)
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


def test_bucket_waits_off_its_debt() -> None:
    now = [0.0]
    slept: list[float] = []
    bucket = TokenBucket(60.0, burst=2, clock=lambda: now[0], sleep=slept.append)
    assert bucket.acquire() == 0 and bucket.acquire() == 0
    assert bucket.acquire(3) == pytest.approx(3.0)  # 60/min = 1/s, three tokens in debt
    bucket.pause(5.0)
    assert bucket.acquire() == pytest.approx(5.0)
    assert TokenBucket(None).acquire(100) == 0


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


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


@pytest.mark.parametrize("requests", [
    [_req("a"), _req("A")],
    [_req("a", "missing")],
    [_req("0")] + [_req(str(i), str(i - 1)) for i in range(1, 21)],
])
def test_pack_refuses_bad_input(requests: list[BatchRequest]) -> None:
    with pytest.raises(ValueError):
        pack(requests)
