"""idpctl.net.github_oidc: the one GitHub Actions OIDC token fetch (federated sign-in and Vault
JWT login both use it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idpctl import redact
from idpctl.net import github_oidc
from idpctl.net.endpoints import Allowance
from idpctl.net.github_oidc import TokenRequest, TokenServiceError, fetch_token, request_from_env

BEARER = "CANARY-request-token-0123456789"
TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.CANARY-oidc-token"


class _Service(BaseHTTPRequestHandler):
    """Answers the queued (status, headers, body) in turn, then 200 with a token."""

    queue: list[tuple[int, dict, object]] = []
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = self.queue.pop(0) if self.queue else (200, {}, {"value": TOKEN})
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def _server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def service(_server: str) -> str:
    _Service.queue, _Service.seen = [], []
    return _server


def _fetch(url: str, **kwargs: object) -> tuple[str, list[float]]:
    slept: list[float] = []
    return fetch_token(TokenRequest(url, BEARER), sleep=slept.append, **kwargs), slept


def test_request_from_env_needs_both_variables() -> None:
    none = Allowance()
    assert request_from_env({}, allowance=none) is None
    assert request_from_env({"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"}, allowance=none) is None
    assert request_from_env({"ACTIONS_ID_TOKEN_REQUEST_TOKEN": BEARER}, allowance=none) is None
    request = request_from_env(
        {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x/t", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": BEARER},
        allowance=none,
    )
    assert request == TokenRequest("https://x/t", BEARER)
    assert BEARER not in repr(request)


def test_request_from_env_refuses_plain_http_and_registers_the_bearer_first() -> None:
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/t",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": BEARER,
    }
    with pytest.raises(TokenServiceError, match="ACTIONS_ID_TOKEN_REQUEST_URL must be https"):
        request_from_env(env, allowance=Allowance())
    assert BEARER not in redact.scrub(f"leaked {BEARER}")
    allowed = Allowance.from_sources({}, endpoints=["http://127.0.0.1:9"])
    assert request_from_env(env, allowance=allowed) is not None


def test_fetch_sends_the_bearer_and_audience_and_registers_the_token(service: str) -> None:
    token, slept = _fetch(service, audience="api://AzureADTokenExchange")
    assert token == TOKEN and slept == []
    path, authorization = _Service.seen[-1]
    assert path.endswith("?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange")
    assert authorization == f"Bearer {BEARER}"
    assert TOKEN not in redact.scrub(f"token {TOKEN}")
    _fetch(service.split("?")[0])
    assert _Service.seen[-1][0] == "/token"  # no audience: GitHub's default


def test_fetch_retries_throttling_and_server_errors(service: str) -> None:
    """New with the shared fetch: neither sign-in nor Vault login retried the token service."""
    _Service.queue = [(503, {}, {}), (429, {"Retry-After": "2"}, {})]
    token, slept = _fetch(service)
    assert token == TOKEN and slept == [0.5, 2.0] and len(_Service.seen) == 3


def test_fetch_gives_up_after_three_tries_with_a_clear_line(service: str) -> None:
    _Service.queue = [(502, {}, {})] * 3
    with pytest.raises(TokenServiceError, match="answered 502") as caught:
        _fetch(service)
    assert len(_Service.seen) == 3 and BEARER not in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((401, {}, {"message": "bad token"}), "answered 401 .*id-token: write"),
        ((200, {}, {"value": ""}), "answered no token"),
        ((200, {}, ["value"]), "answered no token"),
    ],
)
def test_fetch_refusals_are_not_retried(service: str, answer: tuple, message: str) -> None:
    _Service.queue = [answer]
    with pytest.raises(TokenServiceError, match=message):
        _fetch(service)
    assert len(_Service.seen) == 1


def test_fetch_unreachable_or_bad_bundle_is_one_value_free_line(tmp_path) -> None:
    with pytest.raises(TokenServiceError, match="unreachable \\(ConnectError\\)") as caught:
        _fetch("http://127.0.0.1:9/token")
    assert BEARER not in str(caught.value)
    with pytest.raises(TokenServiceError, match=r"cannot reach .* \(FileNotFoundError\)"):
        _fetch("https://127.0.0.1:9/token", verify=str(tmp_path / "missing.pem"))


def test_both_callers_use_this_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Federated sign-in and Vault JWT login hold no token fetch of their own: both go
    through `fetch_token` with their audience, and both reword its error as their own."""
    from idpctl.errors import AuthError
    from idpctl.graph.credentials import GitHubAssertion
    from idpctl.secrets.context import SourceError
    from idpctl.secrets.sources.vault import VaultClient, VaultSettings

    asked: list[tuple[TokenRequest, str | None]] = []

    def fake(request: TokenRequest, *, audience: str | None = None, **_: object) -> str:
        asked.append((request, audience))
        raise TokenServiceError("GitHub Actions OIDC token request answered 403")

    monkeypatch.setattr(github_oidc, "fetch_token", fake)
    with pytest.raises(AuthError, match="answered 403"):
        GitHubAssertion("https://gh.example/t", BEARER, verify=True)()
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh.example/v",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": BEARER,
    }
    settings = VaultSettings.from_block(
        {"auth": {"method": "jwt", "role": "ci", "audience": "vault"}}, env
    )
    client = VaultClient(
        settings,
        resolve=lambda ref: None,
        env=env,  # type: ignore[arg-type]
        allowance=Allowance(),
    )
    with pytest.raises(SourceError, match="answered 403"):
        client._jwt()
    assert asked == [
        (TokenRequest("https://gh.example/t", BEARER), "api://AzureADTokenExchange"),
        (TokenRequest("https://gh.example/v", BEARER), "vault"),
    ]
