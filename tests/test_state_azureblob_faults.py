"""The Azure Blob state backend when storage blinks: transient failures (ServerBusy, 5xx,
timeouts, dropped connections) are retried, a retried write that had landed is recognised as
this store's own, and the lease and ETag guarantees hold as without faults. Faults come from
an httpx transport wrapped around a real Azurite."""

from __future__ import annotations

import http.server
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from azurite import ACCOUNT, ACCOUNT_KEY, Azurite, running_azurite
from idpctl.errors import LockError, StateError
from idpctl.graph.storage_auth import parse_connection_string
from idpctl.model import ManagedRecord, State
from idpctl.state import codec
from idpctl.state.azureblob import AzureBlobStateStore
from workspace import ALLOW_ENV, origin

Match = Callable[[httpx.Request], bool]


@dataclass
class _Rule:
    match: Match
    fault: str  # busy | connect | lost (runs, answer lost) | late500 (runs, then 500)
    times: int
    before: Callable[[], None] | None = None


class Flaky(httpx.BaseTransport):
    """Azurite behind faults: each rule hits the next `times` requests it matches."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.rules: list[_Rule] = []
        self.hits: list[str] = []

    def add(
        self, match: Match, fault: str, *, times: int = 1, before: Callable[[], None] | None = None
    ) -> None:
        self.rules.append(_Rule(match, fault, times, before))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        rule = next((r for r in self.rules if r.times and r.match(request)), None)
        if rule is None:
            return self.inner.handle_request(request)
        rule.times -= 1
        self.hits.append(f"{rule.fault} {request.method} {request.url.params.get('comp', '')}")
        if rule.before is not None:
            rule.before()
        if rule.fault == "busy":
            return httpx.Response(
                503, headers={"x-ms-error-code": "ServerBusy", "retry-after": "0"}
            )
        if rule.fault == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        answer = self.inner.handle_request(request)  # it runs on the server
        answer.read()
        answer.close()
        if rule.fault == "lost":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(500, headers={"x-ms-error-code": "OperationTimedOut"})

    def close(self) -> None:
        self.inner.close()


def put_blob(request: httpx.Request) -> bool:
    return (
        request.method == "PUT"
        and "comp" not in request.url.params
        and "restype" not in request.url.params
    )


def lease(action: str) -> Match:
    return lambda r: (
        r.url.params.get("comp") == "lease" and r.headers.get("x-ms-lease-action") == action
    )


def comp(name: str, method: str = "PUT") -> Match:
    return lambda r: r.method == method and r.url.params.get("comp") == name


def method(name: str) -> Match:
    return lambda r: r.method == name


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture
def blob() -> str:
    return f"state-{uuid.uuid4().hex[:12]}.json"


def store(
    azurite: Azurite, blob: str, transport: httpx.BaseTransport | None = None, **options: float
) -> AzureBlobStateStore:
    url, auth = parse_connection_string(azurite.connection_string)
    return AzureBlobStateStore(
        account_url=url,
        container="idpctl",
        blob=blob,
        auth=auth,
        transport=transport,
        backoff_base=0.01,
        sleep=lambda seconds: None,
        **options,
    )  # type: ignore[arg-type]


def grown(target: AzureBlobStateStore, name: str) -> State:
    record = ManagedRecord(kind="socialIdentityProvider", key=name, id=f"{name}-OAUTH")
    return codec.with_record(target.load(), record)


def test_a_retried_save_that_had_landed_is_not_a_conflict(azurite: Azurite, blob: str) -> None:
    flaky = Flaky()
    mine = store(azurite, blob, flaky)
    mine.save(grown(mine, "Google"))  # a new blob (If-None-Match: *)
    flaky.add(put_blob, "lost")
    later = grown(mine, "Facebook")
    flaky.add(put_blob, "lost")
    mine.save(later)  # If-Match: the retry answers 412 to this store's own write
    assert flaky.hits == ["lost PUT ", "lost PUT "]
    assert store(azurite, blob).load().serial == later.serial
    mine.save(grown(mine, "Amazon"))  # the ETag it keeps is the blob's real one


def test_a_retried_new_blob_that_had_landed_is_not_a_conflict(azurite: Azurite, blob: str) -> None:
    flaky = Flaky()
    mine = store(azurite, blob, flaky)
    flaky.add(put_blob, "late500")
    first = grown(mine, "Google")
    mine.save(first)
    assert store(azurite, blob).load().serial == first.serial


def test_a_real_conflict_is_still_refused_after_a_retry(azurite: Azurite, blob: str) -> None:
    flaky = Flaky()
    mine, theirs = store(azurite, blob, flaky), store(azurite, blob)
    mine.save(grown(mine, "Base"))
    loaded = grown(mine, "Mine")
    competing = grown(theirs, "Theirs")
    flaky.add(put_blob, "busy", before=lambda: theirs.save(competing))
    with pytest.raises(StateError, match="changed since it was loaded"):
        mine.save(loaded)
    assert set(theirs.load().providers) == {
        "socialIdentityProvider/Base",
        "socialIdentityProvider/Theirs",
    }


def test_a_lost_lease_answer_still_takes_the_lease(azurite: Azurite, blob: str) -> None:
    """The retry proposes the same lease id, which storage grants to the lease's holder."""
    flaky = Flaky()
    mine, other = store(azurite, blob, flaky), store(azurite, blob)
    mine.save(grown(mine, "Base"))
    flaky.add(lease("acquire"), "lost")
    with mine.lock(operation="apply") as held:
        assert other.read_lock() == held
        with pytest.raises(LockError), other.lock(operation="apply"):
            pytest.fail("two holders")
        mine.save(grown(mine, "Locked"))
    assert other.read_lock() is None and flaky.hits == ["lost PUT lease"]


def test_a_lease_held_by_another_is_not_taken_for_a_lost_answer(
    azurite: Azurite, blob: str
) -> None:
    flaky = Flaky()
    mine, other = store(azurite, blob, flaky), store(azurite, blob)
    mine.save(grown(mine, "Base"))
    with other.lock(operation="apply") as held:
        flaky.add(lease("acquire"), "busy")
        with pytest.raises(LockError, match=held.lock_id), mine.lock(operation="apply"):
            pytest.fail("two holders")
        assert other.read_lock() == held


def test_a_whole_locked_run_survives_storage_blinking(azurite: Azurite, blob: str) -> None:
    flaky = Flaky()
    mine = store(azurite, blob, flaky)
    mine.save(grown(mine, "Base"))
    flaky.add(method("GET"), "busy", times=2)
    flaky.add(method("HEAD"), "connect")
    flaky.add(lease("acquire"), "late500")
    flaky.add(comp("metadata"), "lost", times=2)
    flaky.add(put_blob, "lost")
    flaky.add(put_blob, "late500")
    flaky.add(lease("release"), "lost")
    with mine.lock(operation="apply"):
        state = mine.load()
        for name in ("Google", "Facebook", "Amazon"):
            state = codec.with_record(
                state, ManagedRecord(kind="socialIdentityProvider", key=name, id=name)
            )
            state = State(state.serial + 1, state.lineage, state.fingerprint_key, state.providers)
            mine.save(state)
    assert all(rule.times == 0 for rule in flaky.rules), flaky.hits
    other = store(azurite, blob)
    assert other.load().serial == state.serial and len(other.load().providers) == 4
    assert other.read_lock() is None
    with other.lock(operation="apply"):
        pass


def test_storage_busy_past_the_budget_is_one_clear_error(azurite: Azurite, blob: str) -> None:
    flaky = Flaky()
    mine = store(azurite, blob, flaky, max_retries=3)
    flaky.add(method("GET"), "busy", times=10)
    with pytest.raises(StateError) as failed:
        mine.load()
    assert str(failed.value) == (f"state blob {mine.url}: GET answered 503 ServerBusy")
    assert len(flaky.hits) == 4
    flaky.add(method("GET"), "connect", times=10)
    flaky.rules = flaky.rules[-1:]
    with pytest.raises(StateError, match=r"cannot reach state blob .*ConnectError"):
        mine.load()


class BlinkingStorage:
    """A proxy in front of Azurite for a whole idpctl run: every `every`-th request is answered
    503 ServerBusy without reaching storage, and the first `lose` state writes reach storage
    but their answer is lost (the connection closes)."""

    def __init__(self, target: str, *, every: int = 3, lose: int = 1) -> None:
        self.target, self.every, self.lose = target.rstrip("/"), every, lose
        self.count, self.busy, self.lost = 0, 0, 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=10)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                proxy.relay(self)

            do_GET = do_PUT = do_HEAD = do_DELETE = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def relay(self, handler: Any) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.count += 1
            busy = self.count % self.every == 0
            write = (
                handler.command == "PUT"
                and "comp=" not in handler.path
                and "restype=" not in handler.path
                and b"providers" in body
            )
            lose = not busy and write and self.lost < self.lose
            self.busy += busy
            self.lost += lose
        if busy:
            handler.send_response(503)
            handler.send_header("x-ms-error-code", "ServerBusy")
            handler.send_header("content-length", "0")
            handler.end_headers()
            return
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in ("host", "content-length", "connection")
        }
        answer = self._http.request(
            handler.command, self.target + handler.path, headers=headers, content=body
        )
        if lose:
            handler.close_connection = True
            return
        handler.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in (
                "transfer-encoding",
                "content-length",
                "connection",
                "content-encoding",
                "date",
                "server",
            ):
                handler.send_header(name, value)
        handler.send_header("content-length", str(len(answer.content)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(answer.content)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._http.close()


GOOGLE_AND_FACEBOOK = {
    "google.yaml": "kind: socialIdentityProvider\nidentityProviderType: Google\n"
    "displayName: Google\nclientId: g\nclientSecret: {env: G_SECRET}\n",
    "facebook.yaml": "kind: socialIdentityProvider\nidentityProviderType: Facebook\n"
    "displayName: Facebook\nclientId: f\nclientSecret: {env: F_SECRET}\n",
}


def test_an_apply_with_blinking_state_storage_completes(
    emulator: Any,
    azurite: Azurite,
    blob: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from idpctl.cli.main import main

    storage = BlinkingStorage(azurite.account_url.rsplit("/", 1)[0], every=3, lose=1)
    try:
        (tmp_path / "providers").mkdir()
        for name, text in GOOGLE_AND_FACEBOOK.items():
            (tmp_path / "providers" / name).write_text(text)
        (tmp_path / "idpctl.yaml").write_text(
            f"tenant: {emulator.tenant}\ntenantKind: external\n"
            f"graph: {{url: {emulator.base_url}, authority: {emulator.base_url}, "
            f"caBundle: {emulator.ca_path}}}\n"
            "auth: {clientId: {env: T_CLIENT_ID}, clientSecret: {env: T_CLIENT_SECRET}}\n"
            f"state: {{backend: azureblob, container: idpctl, blob: {blob}, "
            "connectionString: {env: T_STATE_CS}}\n"
        )
        for name, value in {
            "T_CLIENT_ID": emulator.client_id,
            "T_CLIENT_SECRET": emulator.client_secret,
            "T_STATE_CS": f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
            f"AccountKey={ACCOUNT_KEY};BlobEndpoint={storage.url}/{ACCOUNT};",
            "G_SECRET": "CANARY-blink-g",
            "F_SECRET": "CANARY-blink-f",
        }.items():
            monkeypatch.setenv(name, value)
        # the operator lets idpctl send the account key to the blinking proxy (docs/auth.md)
        monkeypatch.setenv(
            ALLOW_ENV,
            ",".join(e for e in (os.environ.get(ALLOW_ENV, ""), origin(storage.url)) if e),
        )
        config = str(tmp_path / "idpctl.yaml")
        assert main(["apply", "--auto-approve", "-c", config]) == 0, capsys.readouterr()
        assert storage.busy >= 3 and storage.lost == 1, (storage.busy, storage.lost)
        assert main(["plan", "--detailed-exitcode", "-c", config]) == 0, capsys.readouterr()
        out, err = capsys.readouterr()
        assert "CANARY" not in out + err
    finally:
        storage.close()
    state = store(azurite, blob).load()
    assert set(state.providers) == {
        "socialIdentityProvider/Google",
        "socialIdentityProvider/Facebook",
    }
    assert store(azurite, blob).read_lock() is None
