"""The discovery preflight (idpctl.preflight.discovery) against a real OpenID Connect provider (npm
oidc-provider, one instance per set of client authentication methods) and against a local
HTTPS server serving broken discovery documents. Every check has a passing and a failing case.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from counting import Counted, strings
from idpctl.config.settings import load_settings
from idpctl.errors import ConfigError
from idpctl.model import Finding, Location, Provider
from idpctl.preflight import discovery as preflight
from idpservers import (
    LocalIdP,
    OidcProvider,
    Route,
    running_local_idp,
    running_oidc_provider,
    tls_pair,
)

ALL = ("client_secret_post", "client_secret_jwt", "private_key_jwt")
SETS = {"all": ALL, "post": ("client_secret_post",), "basic": ("client_secret_basic",)}


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tls_pair(tmp_path_factory.mktemp("idp-tls"))


@pytest.fixture(scope="session")
def real(tls: tuple[Path, Path]) -> Iterator[dict[str, OidcProvider]]:
    """One oidc-provider per set of token endpoint auth methods."""
    import contextlib

    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(running_oidc_provider(methods, tls))
            for name, methods in SETS.items()
        }


@pytest.fixture
def local(tls: tuple[Path, Path]) -> Iterator[LocalIdP]:
    with running_local_idp(tls) as idp:
        yield idp


def oidc(
    issuer: str,
    url: str,
    *,
    method: str = "client_secret_post",
    scope: str = "openid profile email",
    response_type: str = "code",
    key: str = "Contoso",
) -> Provider:
    return Provider(
        "oidcIdentityProvider",
        key,
        {"issuer": issuer, "wellKnownEndpoint": url, "responseType": response_type, "scope": scope},
        auth_method=method,
        location=Location("p.yaml", 3, 1),
    )


def b2c(
    url: str, *, mode: str = "form_post", response_type: str = "code", scope: str = "openid"
) -> Provider:
    return Provider(
        "openIdConnectIdentityProvider",
        "Partner",
        {"metadataUrl": url, "responseMode": mode, "responseType": response_type, "scope": scope},
    )


def found(providers: list[Provider], tls: tuple[Path, Path] | None, **kw: object) -> list[Finding]:
    return list(preflight.run(providers, ca_bundle=tls[0] if tls else None, **kw))


def checks(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.check, f.severity) for f in findings}


# -- the real OpenID Connect provider --------------------------------------------------------


@pytest.mark.parametrize("method", ALL)
def test_every_method_entra_accepts_passes(real, tls, method: str) -> None:
    idp = real["all"]
    scope = "openid profile email offline_access"
    assert found([oidc(idp.issuer, idp.well_known, method=method, scope=scope)], tls) == []


def test_issuer_must_match_exactly_including_the_trailing_slash(real, tls) -> None:
    idp = real["all"]
    (finding,) = found([oidc(idp.issuer + "/", idp.well_known)], tls)
    assert (finding.check, finding.severity) == ("discovery.issuer", "error")
    assert f"'{idp.issuer}/' does not equal the metadata's issuer '{idp.issuer}'" in finding.message


def test_a_method_the_token_endpoint_does_not_accept_is_an_error(real, tls) -> None:
    idp = real["post"]
    assert found([oidc(idp.issuer, idp.well_known, method="client_secret_post")], tls) == []
    (finding,) = found([oidc(idp.issuer, idp.well_known, method="private_key_jwt")], tls)
    assert finding.check == "discovery.auth_method" and finding.severity == "error"
    assert (
        "private_key_jwt is not in token_endpoint_auth_methods_supported "
        "(client_secret_post)" in finding.message
    )


def test_basic_only_is_an_error_because_entra_refuses_it(real, tls) -> None:
    idp = real["basic"]
    (finding,) = found([oidc(idp.issuer, idp.well_known)], tls)
    assert finding.check == "discovery.auth_method" and finding.severity == "error"
    assert "accepts only client_secret_basic, which Entra refuses" in finding.message


def test_response_type_must_be_listed(real, tls) -> None:
    idp = real["all"]
    assert found([oidc(idp.issuer, idp.well_known, response_type="code")], tls) == []
    (finding,) = found([oidc(idp.issuer, idp.well_known, response_type="token")], tls)
    assert finding.check == "discovery.response_type" and finding.severity == "error"


def test_scopes_not_listed_are_a_warning(real, tls) -> None:
    idp = real["all"]
    (finding,) = found([oidc(idp.issuer, idp.well_known, scope="openid email phone")], tls)
    assert (finding.check, finding.severity) == ("discovery.scopes", "warning")
    assert finding.message == "scopes_supported does not list phone"


def test_b2c_metadata_url_and_response_mode(real, tls) -> None:
    idp = real["all"]
    assert found([b2c(idp.well_known, mode="form_post")], tls) == []
    assert found([b2c(idp.well_known, mode="query")], tls) == []
    (finding,) = found([b2c(idp.well_known, mode="web_message")], tls)
    assert (finding.check, finding.severity) == ("discovery.response_mode", "error")


def test_b2c_code_needs_client_secret_post(real, tls) -> None:
    assert found([b2c(real["post"].well_known)], tls) == []
    assert checks(found([b2c(real["basic"].well_known)], tls)) == {
        ("discovery.auth_method", "error")
    }
    assert found([b2c(real["basic"].well_known, response_type="id_token")], tls) == []


def test_tls_is_verified_against_the_ca_bundle(real, tls) -> None:
    idp = real["all"]
    (finding,) = found([oidc(idp.issuer, idp.well_known)], None)
    assert (finding.check, finding.severity) == ("discovery.fetch", "warning")
    assert "TLS failed: certificate verify failed" in finding.message
    assert "preflight.caBundle" in finding.message


# -- broken discovery, served locally ---------------------------------------------------------


def metadata(base: str, **changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "issuer": f"{base}/tenant/",
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/jwks",
        "token_endpoint_auth_methods_supported": list(ALL),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def serve(idp: LocalIdP, *, jwks: object = None, **changes: object) -> Provider:
    idp.routes["/tenant/.well-known/openid-configuration"] = Route(
        lambda base: json.dumps(metadata(base, **changes)).encode()
    )
    keys = (
        jwks
        if jwks is not None
        else {
            "keys": [{"kty": "EC", "kid": "k1", "use": "sig", "crv": "P-256", "x": "x", "y": "y"}]
        }
    )
    idp.routes["/jwks"] = Route(json.dumps(keys).encode())
    return oidc(f"{idp.base}/tenant/", f"{idp.base}/tenant/.well-known/openid-configuration")


def test_local_baseline_passes(local, tls) -> None:
    assert found([serve(local)], tls) == []


def test_missing_fields_are_an_error(local, tls) -> None:
    (finding,) = found([serve(local, jwks_uri=None, token_endpoint=None)], tls)
    assert (finding.check, finding.severity) == ("discovery.fields", "error")
    assert "lacks token_endpoint, jwks_uri" in finding.message


def test_wrong_issuer_case_is_an_error(local, tls) -> None:
    provider = serve(local, issuer=f"{local.base}/Tenant/")
    assert checks(found([provider], tls)) == {("discovery.issuer", "error")}


def test_basic_only_locally(local, tls) -> None:
    provider = serve(local, token_endpoint_auth_methods_supported=["client_secret_basic"])
    assert checks(found([provider], tls)) == {("discovery.auth_method", "error")}


def test_unreachable_jwks_is_a_warning(local, tls) -> None:
    provider = serve(local, jwks_uri=f"https://127.0.0.1:{closed_port()}/jwks")
    (finding,) = found([provider], tls)
    assert (finding.check, finding.severity) == ("jwks.fetch", "warning")
    assert "unreachable" in finding.message


def test_jwks_needs_a_signing_key(local, tls) -> None:
    no_use = {"keys": [{"kty": "RSA", "kid": "a", "n": "n", "e": "AQAB"}]}
    assert found([serve(local, jwks=no_use)], tls) == []
    encryption_only = {
        "keys": [{"kty": "RSA", "kid": "a", "use": "enc"}, {"kty": "RSA", "use": "sig"}]
    }  # the second has no kid
    (finding,) = found([serve(local, jwks=encryption_only)], tls)
    assert (finding.check, finding.severity) == ("jwks.keys", "error")
    assert checks(found([serve(local, jwks={"nokeys": 1})], tls)) == {("jwks.keys", "error")}


def test_not_json_is_an_error(local, tls) -> None:
    provider = serve(local)
    local.routes["/tenant/.well-known/openid-configuration"] = Route(b"<html>login</html>")
    (finding,) = found([provider], tls)
    assert (finding.check, finding.severity) == ("discovery.json", "error")
    local.routes["/tenant/.well-known/openid-configuration"] = Route(b"[1, 2]")
    assert checks(found([provider], tls)) == {("discovery.json", "error")}


@pytest.mark.parametrize("chunks", [1, 64], ids=["content-length", "chunked"])
def test_a_huge_body_is_refused(local, tls, chunks: int) -> None:
    provider = serve(local)
    huge = b'{"issuer": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    local.routes["/tenant/.well-known/openid-configuration"] = Route(huge, chunks=chunks)
    (finding,) = found([provider], tls)
    assert (finding.check, finding.severity) == ("discovery.fetch", "error")
    assert "larger than 1024 KiB" in finding.message


def test_redirects_are_followed_up_to_a_limit(local, tls) -> None:
    provider = serve(local)
    real_doc = local.routes.pop("/tenant/.well-known/openid-configuration")
    local.routes["/moved/.well-known/openid-configuration"] = real_doc
    local.routes["/tenant/.well-known/openid-configuration"] = Route(
        status=302, headers={"Location": "/moved/.well-known/openid-configuration"}
    )
    assert found([provider], tls) == []
    local.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    local.routes["/tenant/.well-known/openid-configuration"] = Route(
        status=301, headers={"Location": "{base}/loop"}
    )
    (finding,) = found([provider], tls)
    assert (finding.check, finding.severity) == ("discovery.fetch", "error")
    assert "more than 3 redirects" in finding.message


def test_a_redirect_to_plain_http_is_refused(local, tls) -> None:
    provider = serve(local)
    local.routes["/tenant/.well-known/openid-configuration"] = Route(
        status=302, headers={"Location": "http://127.0.0.1:9/x"}
    )
    assert "is not an https URL" in found([provider], tls)[0].message


def test_timeout_is_a_warning(local, tls) -> None:
    provider = serve(local)
    assert found([provider], tls, limits=preflight.Limits(timeout=2.0)) == []
    slow = local.routes["/tenant/.well-known/openid-configuration"]
    slow.delay = 1.0
    (finding,) = found([provider], tls, limits=preflight.Limits(timeout=0.3))
    assert (finding.check, finding.severity) == ("discovery.fetch", "warning")
    assert "timed out after 0.3 s" in finding.message


# -- the job's time is bounded (docs/security.md, control 6) -----------------------------------

DRIP = 0.1  # seconds between bytes: far below the 5 s read timeout, so only a deadline stops it
DRIPPED = b" " * 400 + b"{}"  # 40 s of dripping when nobody hangs up


def assert_hung_up_early(route: Route) -> None:
    """The client went away after a small part of the drip: at one byte per 0.1 s, 50 bytes
    are 5 s, five times the 1 s deadline (bytes counted, no clock read)."""
    assert route.hung_up.wait(30), "the fetch never hung up on the dripping server"
    assert route.sent < 50


@pytest.mark.parametrize("where", ["discovery-headers", "discovery-body", "jwks-body"])
def test_a_dripping_server_is_cut_at_the_provider_deadline(local, tls, where: str) -> None:
    provider = serve(local)
    path = "/jwks" if where == "jwks-body" else "/tenant/.well-known/openid-configuration"
    route = local.routes[path] = Route(DRIPPED, drip=DRIP, drip_headers=where.endswith("headers"))
    limits = preflight.Limits(provider_deadline=1.0)
    (finding,) = found([provider], tls, limits=limits)
    check = "jwks.fetch" if where == "jwks-body" else "discovery.fetch"
    assert (finding.check, finding.severity) == (check, "warning")
    assert "stopped at the 1 s deadline (preflight.providerDeadline)" in finding.message
    assert_hung_up_early(route)


def test_the_whole_preflight_ends_at_the_run_deadline(local, tls) -> None:
    """One worker, three dripping providers: the run deadline stops the second, and the
    third is never requested."""
    providers, routes = [], []
    for name in ("one", "two", "three"):
        path = f"/{name}/.well-known/openid-configuration"
        routes.append(local.routes.setdefault(path, Route(DRIPPED, drip=DRIP)))
        providers.append(oidc(f"{local.base}/{name}/", local.base + path, key=name))
    limits = preflight.Limits(provider_deadline=1.0, run_deadline=1.5)
    findings = found(providers, tls, limits=limits, workers=1)
    assert [f.severity for f in findings] == ["warning"] * 3
    assert "stopped at the" in findings[0].message
    assert (
        "not fetched: stopped at the 1.5 s deadline (preflight.runDeadline)" in findings[2].message
    )
    assert "/three/.well-known/openid-configuration" not in local.hits
    for route in routes[:2]:
        assert_hung_up_early(route)


def test_every_connection_pool_is_bounded_including_a_proxys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deadline lives in the network backend of every pool the client may use: the direct
    one and each proxy's from the environment."""
    from idpctl.preflight import fetch as preflight_fetch

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    with preflight_fetch.Fetcher() as fetcher:
        client = fetcher._client
        transports = [client._transport, *filter(None, client._mounts.values())]
        assert len(transports) == 2
        for transport in transports:
            assert isinstance(transport._pool._network_backend, preflight_fetch._BoundedBackend)


def test_limits_come_from_idpctl_yaml_within_bounds(tmp_path: Path) -> None:
    (tmp_path / "providers").mkdir()
    config = tmp_path / "idpctl.yaml"
    head = "tenant: contoso.onmicrosoft.com\ntenantKind: external\n"
    config.write_text(head + "preflight: {timeout: 2, providerDeadline: 7.5}\n")
    assert preflight.limits(load_settings(config)) == preflight.Limits(
        timeout=2.0, provider_deadline=7.5
    )
    assert preflight.limits(object()) == preflight.Limits(
        timeout=5.0, provider_deadline=15.0, run_deadline=60.0
    )
    config.write_text(head + "preflight: {runDeadline: 3600}\n")
    with pytest.raises(ConfigError, match=r"idpctl.yaml:3:.*runDeadline"):
        load_settings(config)


def test_scope_checks_are_not_pairwise() -> None:
    """scopes_supported (the IdP's) against the provider's scopes: both are outside input,
    so the check is a set lookup, not a comparison of every pair (counted, not timed)."""
    listed, asked = strings(2000, "listed"), strings(2000, "asked")
    doc = {**metadata("https://idp.test"), "scopes_supported": listed}
    target = preflight.Target("a/b", "https://idp.test/x", None, "code", None, None, tuple(asked))
    (finding,) = preflight._document_checks(target, doc)
    assert finding.check == "discovery.scopes"
    assert Counted.calls < 20 * 2000


def test_a_redirect_never_leaves_https(local, tls) -> None:
    """An attacker's redirect to plain http: refused, and the listener receives nothing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        provider = serve(local)
        for location in (f"http://127.0.0.1:{port}/x", f"HTTP://127.0.0.1:{port}/x"):
            local.routes["/tenant/.well-known/openid-configuration"] = Route(
                status=307, headers={"Location": location}
            )
            (finding,) = found([provider], tls)
            assert (finding.check, finding.severity) == ("discovery.fetch", "error")
            assert "is not an https URL" in finding.message
        with pytest.raises(TimeoutError):
            listener.accept()


def test_status_codes(local, tls) -> None:
    provider = serve(local)
    local.routes["/tenant/.well-known/openid-configuration"] = Route(b"{}", status=404)
    assert checks(found([provider], tls)) == {("discovery.fetch", "error")}
    local.routes["/tenant/.well-known/openid-configuration"] = Route(b"{}", status=503)
    assert checks(found([provider], tls)) == {("discovery.fetch", "warning")}


def test_unreachable_discovery_is_a_warning(tls) -> None:
    port = closed_port()
    provider = oidc(
        f"https://127.0.0.1:{port}/", f"https://127.0.0.1:{port}/.well-known/openid-configuration"
    )
    (finding,) = found([provider], tls)
    assert (finding.check, finding.severity) == ("discovery.fetch", "warning")
    assert "unreachable" in finding.message


def test_each_url_is_fetched_once_and_absent_providers_are_skipped(local, tls) -> None:
    first = serve(local)
    second = oidc(first.fields["issuer"], first.fields["wellKnownEndpoint"], key="Twin")
    gone = Provider(
        "oidcIdentityProvider", "Gone", {"wellKnownEndpoint": "https://x.test/"}, absent=True
    )
    assert found([first, second, gone], tls) == []
    assert local.hits.count("/tenant/.well-known/openid-configuration") == 1
    assert local.hits.count("/jwks") == 1


def test_check_gives_located_problems(local, tls) -> None:
    provider = serve(local, issuer="https://elsewhere.test/")

    class Settings:
        preflight_ca_bundle = tls[0]
        path = Path("idpctl.yaml")

    (problem,) = preflight.check([provider], settings=Settings())
    assert (problem.file, problem.line, problem.severity) == ("p.yaml", 3, "error")
    assert str(problem).startswith("p.yaml:3:1: oidcIdentityProvider/Contoso: issuer ")


def test_blocking() -> None:
    error = Finding("a/b", "error", "c", "m")
    warning = Finding("a/b", "warning", "c", "m")
    assert preflight.blocking([error, warning]) == [error]
    assert preflight.blocking([error, warning], strict=True) == [error, warning]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
