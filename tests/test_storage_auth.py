"""idpctl.graph.storage_auth: the three ways idpctl authorises Azure Storage requests, and the
log filter that keeps a SAS signature out of httpx's request lines."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from idpctl.errors import ConfigError
from idpctl.graph import storage_auth as sa
from idpctl.model import Secret

KEY = base64.b64encode(b"CANARY-storage-account-key-bytes").decode()
SIG = "CANARY-sas-signature"


def _signed(
    auth: httpx.Auth, url: str = "https://acct.blob.core.windows.net/c/state.json"
) -> httpx.Request:
    request = httpx.Request(
        "GET",
        url,
        headers={"x-ms-date": "Thu, 03 Dec 2026 12:00:00 GMT", "x-ms-version": "2021-08-06"},
    )
    return next(auth.auth_flow(request))


def test_development_storage_is_azurite() -> None:
    url, auth = sa.parse_connection_string("UseDevelopmentStorage=true;")
    assert url == "http://127.0.0.1:10000/devstoreaccount1"
    assert isinstance(auth, sa.SharedKey)


def test_account_key_signs_each_request_and_never_shows_the_key() -> None:
    text = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=x.net"
    url, auth = sa.parse_connection_string(text)
    assert url == "https://acct.blob.x.net"
    header = _signed(auth).headers["Authorization"]
    assert header.startswith("SharedKey acct:") and KEY not in header
    assert _signed(auth).headers["Authorization"] == header  # deterministic
    assert _signed(auth, "https://acct.blob.x.net/c/other").headers["Authorization"] != header
    assert KEY not in repr(auth)


def test_a_sas_goes_into_the_query_and_not_into_repr() -> None:
    url, auth = sa.parse_connection_string(
        f"BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=?sv=1&sig={SIG}"
    )
    assert url == "https://acct.blob.core.windows.net"
    assert isinstance(auth, sa.Sas)
    assert dict(_signed(auth).url.params) == {"sv": "1", "sig": SIG}
    assert SIG not in repr(auth)


def test_bearer_asks_for_a_token_per_request() -> None:
    tokens = iter(["t1", "t2"])
    auth = sa.Bearer(lambda: next(tokens))
    assert _signed(auth).headers["Authorization"] == "Bearer t1"
    assert _signed(auth).headers["Authorization"] == "Bearer t2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("AccountKey=abc", "names no BlobEndpoint and no AccountName"),
        ("AccountName=acct", "needs AccountName and AccountKey"),
        (f"BlobEndpoint=https://x/;AccountKey={KEY}", "needs AccountName and AccountKey"),
    ],
)
def test_incomplete_connection_strings_are_refused_without_echoing_them(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        sa.parse_connection_string(text)
    assert KEY not in str(caught.value)


def test_the_log_filter_masks_a_sas_signature(caplog: pytest.LogCaptureFixture) -> None:
    sa.install_redaction()
    sa.install_redaction()
    log = logging.getLogger("httpx")
    assert sum(isinstance(f, sa._RedactSas) for f in log.filters) == 1
    with caplog.at_level(logging.INFO, logger="httpx"):
        # the form httpx logs each request in (its arguments hold the URL)
        log.info(
            'HTTP Request: %s %s "%s %d %s"',
            "GET",
            httpx.URL(f"https://a/c?sv=1&sig={SIG}"),
            "HTTP/1.1",
            200,
            "OK",
        )
    assert SIG not in caplog.text
    assert "sig=(sensitive)" in caplog.text


@pytest.mark.parametrize(
    "line", [f"GET https://a/c?sv=1&sig={SIG}", f"GET https://a/c?sv=1&SIG={SIG}"]
)
def test_the_log_filter_masks_a_message_without_arguments(
    caplog: pytest.LogCaptureFixture, line: str
) -> None:
    """A line logged whole (no %-arguments) is masked too, in any case of `sig=`."""
    sa.install_redaction()
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info(line)
    assert SIG not in caplog.text
    assert "(sensitive)" in caplog.text


def test_secret_values_stay_wrapped() -> None:
    key = Secret(KEY, source="key")
    assert KEY not in repr(sa.SharedKey("acct", key))
