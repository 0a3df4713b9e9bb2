"""The emulator's Graph surface over real HTTPS: CRUD per type and tenant kind, v1.0 vs beta,
paging, $select, error shape, request-id, tokens and roles, throttling, replication delay."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from idpctl_emulator.harness import EmulatorHandle

PROVIDERS = "/identity/identityProviders"
CLAIMS = {
    "userId": "sub",
    "displayName": "name",
    "givenName": "given_name",
    "surname": "family_name",
    "email": "email",
}

BODIES: dict[str, dict[str, Any]] = {
    "social": {
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": "Google",
        "identityProviderType": "Google",
        "clientId": "google-client",
        "clientSecret": "CANARY-social",
    },
    "apple": {
        "@odata.type": "#microsoft.graph.appleManagedIdentityProvider",
        "displayName": "Sign in with Apple",
        "developerId": "TEAM1",
        "serviceId": "com.contoso.app",
        "keyId": "KEY1",
        "certificateData": "CANARY-apple",
    },
    "b2coidc": {
        "@odata.type": "#microsoft.graph.openIdConnectIdentityProvider",
        "displayName": "Contoso",
        "clientId": "contoso-client",
        "clientSecret": "CANARY-b2c",
        "claimsMapping": CLAIMS,
        "domainHint": "contoso",
        "metadataUrl": "https://idp.contoso.com/.well-known/openid-configuration",
        "responseMode": "form_post",
        "responseType": "code",
        "scope": "openid",
    },
    "oidc": {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Contoso IdP",
        "clientId": "contoso-client",
        "issuer": "https://idp.contoso.com/t/v2.0/",
        "wellKnownEndpoint": "https://idp.contoso.com/t/v2.0/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid profile email",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": "CANARY-oidc",
        },
        "inboundClaimMapping": {"sub": "sub", "name": "name", "email": "email"},
    },
}
# which bodies each tenant kind accepts on /beta (GRAPH.md 2.1)
KINDS = {
    "workforce": ("social",),
    "b2c": ("social", "apple", "b2coidc"),
    "external": ("social", "apple", "oidc"),
}
PATCHES = {
    "social": {"displayName": "Google 2"},
    "apple": {"keyId": "KEY2"},
    "b2coidc": {"responseType": "id_token"},
    "oidc": {"displayName": "Contoso 2"},
}
SECRET_FIELDS = {"social": "clientSecret", "apple": "certificateData", "b2coidc": "clientSecret"}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "innerError"}
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    return error


@pytest.fixture(params=sorted(KINDS))
def any_kind(request: pytest.FixtureRequest) -> EmulatorHandle:
    handle: EmulatorHandle = request.getfixturevalue(f"emulator_{request.param}")
    handle.admin.reset()
    return handle


@pytest.mark.parametrize("version", ["beta", "v1.0"])
def test_crud_for_every_type_and_tenant_kind(any_kind: EmulatorHandle, version: str) -> None:
    names = [n for n in KINDS[any_kind.kind] if version == "beta" or "oidc" not in n]
    with any_kind.graph() as graph:
        for name in names:
            created = graph.post(f"/{version}{PROVIDERS}", json=BODIES[name])
            assert created.status_code == 201, created.text
            item = created.json()
            assert item["@odata.context"].endswith("identityProviders/$entity")
            assert created.headers["Location"].endswith(item["id"])
            url = f"/{version}{PROVIDERS}/{item['id']}"
            got = graph.get(url).json()
            assert got["@odata.type"] == BODIES[name]["@odata.type"]
            if name in SECRET_FIELDS:
                assert set(got[SECRET_FIELDS[name]]) == {"*"}
            assert graph.patch(url, json=PATCHES[name]).status_code == 204
            changed = graph.get(url).json()
            assert all(changed[k] == v for k, v in PATCHES[name].items())
            listed = graph.get(f"/{version}{PROVIDERS}").json()["value"]
            assert item["id"] in [i["id"] for i in listed]
            assert graph.delete(url).status_code == 204
            _error(graph.get(url), 404)


def test_kind_refuses_types_it_does_not_have(emulator_workforce: EmulatorHandle) -> None:
    with emulator_workforce.graph() as graph:
        for name in ("apple", "b2coidc", "oidc"):
            response = graph.post(f"/beta{PROVIDERS}", json=BODIES[name])
            assert response.status_code == 400, name


def test_v1_serves_social_and_external_oidc(emulator: EmulatorHandle) -> None:
    """Both are in the v1.0 metadata (msgraph-metadata clean_v10_metadata/cleanMetadata.xml)."""
    with emulator.graph() as graph:
        created = graph.post(f"/v1.0{PROVIDERS}", json=BODIES["social"])
        assert created.status_code == 201
        assert graph.get(f"/v1.0{PROVIDERS}/{created.json()['id']}").status_code == 200
        oidc = graph.post(f"/v1.0{PROVIDERS}", json=BODIES["oidc"])
        assert oidc.status_code == 201, oidc.text
        v1_ids = [i["id"] for i in graph.get(f"/v1.0{PROVIDERS}").json()["value"]]
        assert oidc.json()["id"] in v1_ids and created.json()["id"] in v1_ids
        assert (
            graph.get(f"/v1.0{PROVIDERS}")
            .json()["@odata.context"]
            .startswith(f"{emulator.base_url}/v1.0/$metadata")
        )


def test_paging_follows_next_link(emulator_factory: Any) -> None:
    emu = emulator_factory(tenant_kind="b2c", page_size=2, rate_limit="off")
    for kind in ("Google", "Amazon", "GitHub", "Facebook", "LinkedIn"):
        emu.admin.seed({**BODIES["social"], "identityProviderType": kind, "displayName": kind})
    seen: list[str] = []
    with emu.graph() as graph:
        url: str | None = f"/beta{PROVIDERS}?$select=displayName"
        while url:
            page = graph.get(url).json()
            assert len(page["value"]) <= 2
            assert all(set(i) == {"@odata.type", "id", "displayName"} for i in page["value"])
            seen += [i["displayName"] for i in page["value"]]
            url = page.get("@odata.nextLink")
            if url:
                assert url.startswith(emu.base_url) and "$select=displayName" in url
    assert sorted(seen) == ["Amazon", "Facebook", "GitHub", "Google", "LinkedIn"]


def test_select_on_get_and_bad_queries(emulator: EmulatorHandle) -> None:
    with emulator.graph() as graph:
        item = graph.post(f"/beta{PROVIDERS}", json=BODIES["social"]).json()
        got = graph.get(f"/beta{PROVIDERS}/{item['id']}", params={"$select": "clientId"})
        assert set(got.json()) == {"@odata.context", "@odata.type", "id", "clientId"}
        assert "(clientId)" in got.json()["@odata.context"]
        _error(graph.get(f"/beta{PROVIDERS}", params={"$select": "nope"}), 400)
        _error(graph.get(f"/beta{PROVIDERS}", params={"$filter": "id eq 'x'"}), 400)
        _error(graph.get(f"/beta{PROVIDERS}", params={"$skiptoken": "!!"}), 400)


def test_available_provider_types(emulator_b2c: EmulatorHandle) -> None:
    with emulator_b2c.graph() as graph:
        for path in ("availableProviderTypes", "availableProviderTypes()"):
            body = graph.get(f"/beta{PROVIDERS}/{path}").json()
            assert "Amazon" in body["value"] and "OpenIdConnect" in body["value"]
            assert body["@odata.context"].endswith("#Collection(Edm.String)")


def test_error_shape_request_id_and_client_request_id(emulator: EmulatorHandle) -> None:
    with emulator.graph() as graph:
        mine = str(uuid.uuid4())
        response = graph.get(f"/beta{PROVIDERS}/nope", headers={"client-request-id": mine})
        error = _error(response, 404)
        assert error["innerError"]["client-request-id"] == mine
        assert response.headers["client-request-id"] == mine
        _error(graph.put(f"/beta{PROVIDERS}", json={}), 405)
        _error(graph.get("/beta/identity/nothing"), 400)
        _error(
            graph.post(
                f"/beta{PROVIDERS}",
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            ),
            400,
        )
        ok = graph.get(f"/beta{PROVIDERS}")
        assert ok.headers["request-id"] != response.headers["request-id"]


def test_retired_identity_providers_api(emulator: EmulatorHandle) -> None:
    with emulator.graph() as graph:
        assert graph.get("/beta/identityProviders").json()["value"] == []
        _error(graph.post("/v1.0/identityProviders", json={"type": "Google"}), 400)
        _error(graph.get("/beta/identityProviders/Google-OAUTH"), 404)


def test_missing_invalid_and_underprivileged_tokens(emulator: EmulatorHandle) -> None:
    verify = emulator.ssl_context()
    url = f"{emulator.base_url}/beta{PROVIDERS}"
    _error(httpx.get(url, verify=verify), 401)
    _error(httpx.get(url, verify=verify, headers={"Authorization": "Bearer nope"}), 401)
    emulator.admin.register_client(
        {"clientId": "reader", "secret": "CANARY-reader", "roles": ["IdentityProvider.Read.All"]}
    )
    reader = emulator.token(client_id="reader", client_secret="CANARY-reader")
    with emulator.graph(token=reader) as graph:
        assert graph.get(f"/beta{PROVIDERS}").status_code == 200
        _error(graph.post(f"/beta{PROVIDERS}", json=BODIES["social"]), 403)
    _error(httpx.post(f"{emulator.base_url}/beta/$batch", verify=verify, json={}), 401)


def test_msal_client_credentials_against_the_emulator(emulator: EmulatorHandle) -> None:
    msal = pytest.importorskip("msal")
    requests = pytest.importorskip("requests")
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    session.verify = emulator.ca_path
    app = msal.ConfidentialClientApplication(
        emulator.client_id,
        client_credential=emulator.client_secret,
        authority=emulator.authority,
        http_client=session,
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result.get("error_description")
    with emulator.graph(token=result["access_token"]) as graph:
        assert graph.get(f"/beta{PROVIDERS}").status_code == 200


def test_tenant_and_app_budgets_answer_429_with_retry_after(emulator_factory: Any) -> None:
    emu = emulator_factory(rate_limit=6, per_app=4)
    emu.admin.register_client({"clientId": "second", "secret": "CANARY-second"})
    with (
        emu.graph() as first,
        emu.graph(token=emu.token(client_id="second", client_secret="CANARY-second")) as b,
    ):
        assert [first.get(f"/beta{PROVIDERS}").status_code for _ in range(4)] == [200] * 4
        app_limited = first.get(f"/beta{PROVIDERS}")
        _error(app_limited, 429)
        assert float(app_limited.headers["Retry-After"]) > 0
        assert app_limited.headers["x-ms-throttle-scope"].startswith("Tenant_Application/4/")
        # the tenant budget (6) counts the throttled request too: one left for the second app
        assert b.get(f"/beta{PROVIDERS}").status_code == 200
        tenant_limited = b.get(f"/beta{PROVIDERS}")
        assert _error(tenant_limited, 429)["code"] == "TooManyRequests"
        scope = tenant_limited.headers["x-ms-throttle-scope"]
        assert scope.startswith("Tenant/6/") and scope.endswith(emu.tenant)
        assert 0 < float(tenant_limited.headers["Retry-After"]) <= 60


def test_short_window_recovers_after_retry_after(emulator_factory: Any) -> None:
    emu = emulator_factory(rate_limit=2, per_app=2, rate_window=0.5)
    with emu.graph() as graph:
        assert graph.get(f"/beta{PROVIDERS}").status_code == 200
        assert graph.get(f"/beta{PROVIDERS}").status_code == 200
        limited = graph.get(f"/beta{PROVIDERS}")
        assert limited.status_code == 429
        time.sleep(float(limited.headers["Retry-After"]))
        assert graph.get(f"/beta{PROVIDERS}").status_code == 200


def test_replication_delay_hides_new_provider_from_get_and_list(emulator_factory: Any) -> None:
    emu = emulator_factory(replication_delay=0.6, rate_limit="off")
    with emu.graph() as graph:
        item = graph.post(f"/beta{PROVIDERS}", json=BODIES["social"]).json()
        url = f"/beta{PROVIDERS}/{item['id']}"
        _error(graph.get(url), 404)
        assert item["id"] not in [i["id"] for i in graph.get(f"/beta{PROVIDERS}").json()["value"]]
        time.sleep(0.7)
        assert graph.get(url).status_code == 200
        assert item["id"] in [i["id"] for i in graph.get(f"/beta{PROVIDERS}").json()["value"]]


def test_concurrent_clients(emulator: EmulatorHandle) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = emulator.token()

    def work(n: int) -> list[int]:
        with emulator.graph(token=token) as graph:
            return [graph.get(f"/beta{PROVIDERS}/").status_code for _ in range(5)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [code for codes in pool.map(work, range(16)) for code in codes]
    assert results == [200] * 80


def test_plain_http_mode(emulator_factory: Any) -> None:
    emu = emulator_factory(http=True, rate_limit="off")
    assert emu.base_url.startswith("http://")
    with emu.graph() as graph:
        assert graph.get(f"/beta{PROVIDERS}").status_code == 200
    assert emu.admin.store()["providers"] is not None


def test_throttle_retry_after_is_exact_with_a_clock() -> None:
    from idpctl_emulator.throttle import Throttle, budget_for, retry_after_header

    now = [0.0]
    throttle = Throttle(budget_for(3, per_app=2, window=10), clock=lambda: now[0])
    assert throttle.admit("a") is None
    now[0] = 1
    assert throttle.admit("a") is None
    now[0] = 2
    verdict = throttle.admit("a")
    assert verdict is not None and (verdict.scope, verdict.retry_after) == ("app", 9)
    now[0] = 3
    verdict = throttle.admit("b")
    assert verdict is not None and (verdict.scope, verdict.retry_after) == ("tenant", 8)
    now[0] = 11.5
    assert throttle.admit("b") is None
    assert retry_after_header(2.1281) == "2.129"
    assert budget_for(300).per_app == 200 and budget_for(1).per_app == 1
    assert budget_for(None).off


def test_unreadable_requests_get_graphs_error_shape(emulator: EmulatorHandle) -> None:
    import socket

    host, port = emulator.base_url.removeprefix("https://").split(":")
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        emulator.ssl_context().wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"BREW /beta HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = tls.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501") and b"request-id:" in head.lower()
    assert b'"innerError"' in body
