"""The emulator's GitHub Actions OIDC, managed identity and Key Vault stand-ins, over HTTPS."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import msal
import pytest
import requests
from msal.managed_identity import APP_SERVICE, get_managed_identity_source

from idpctl_emulator import wire
from test_emulator_tokens import GRAPH, Emu, aadsts, claims_of, emu  # noqa: F401

EXCHANGE = "api://AzureADTokenExchange"
VAULT = "https://vault.azure.net/.default"


def admin(emu: Emu, method: str, path: str, body: Any = None) -> wire.Response:  # noqa: F811
    """The identity side's admin handler, called as the server routes it."""
    raw = json.dumps(body).encode() if body is not None else b""
    response = emu.identity.handle_admin(wire.Request(method, path, {}, {}, raw))
    assert response is not None
    return response


# -- GitHub Actions OIDC token service -----------------------------------------------------


def github_token(emu: Emu, **params: str) -> httpx.Response:  # noqa: F811
    settings = admin(emu, "GET", "/_emulator/github").json()
    return emu.http.get(
        settings["requestUrl"],
        params=params,
        headers={"Authorization": f"Bearer {settings['requestToken']}"},
    )


def test_github_issuer_metadata_and_token(emu: Emu) -> None:  # noqa: F811
    issuer = f"{emu.base}/_github"
    doc = emu.http.get(f"{issuer}/.well-known/openid-configuration").json()
    assert doc["issuer"] == issuer
    assert emu.http.get(doc["jwks_uri"]).json()["keys"][0]["kty"] == "RSA"
    claims = claims_of(github_token(emu, audience=EXCHANGE).json()["value"])
    assert claims["iss"] == issuer and claims["aud"] == EXCHANGE
    assert claims["sub"] == "repo:contoso/idp-config:ref:refs/heads/main"
    assert claims["repository"] == "contoso/idp-config" and claims["ref"] == "refs/heads/main"
    assert claims["exp"] - claims["iat"] <= 600
    default_aud = claims_of(github_token(emu).json()["value"])["aud"]
    assert default_aud == "https://github.com/contoso"
    env = claims_of(
        github_token(emu, subject="repo:contoso/idp-config:environment:prod").json()["value"]
    )
    assert env["environment"] == "prod"


def test_github_token_service_wants_the_request_token(emu: Emu) -> None:  # noqa: F811
    url = admin(emu, "GET", "/_emulator/github").json()["requestUrl"]
    assert emu.http.get(url).status_code == 401
    assert emu.http.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_github_federation_through_real_msal(emu: Emu) -> None:  # noqa: F811
    branch = "repo:contoso/idp-config:ref:refs/heads/main"
    client = emu.register(federated=[{"issuer": f"{emu.base}/_github", "subject": branch}])

    def assertion() -> str:
        return github_token(emu, audience=EXCHANGE).json()["value"]

    result = emu.token(client, {"client_assertion": assertion})
    assert claims_of(result["access_token"])["appid"] == client
    assert emu.graph(result["access_token"]).status_code == 200
    pr = github_token(emu, audience=EXCHANGE, subject="repo:contoso/idp-config:pull_request")
    refused = emu.post_token(
        client_id=client,
        client_assertion=pr.json()["value"],
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    )
    assert aadsts(refused) == 700213


def test_github_settings_can_be_changed(emu: Emu) -> None:  # noqa: F811
    before = admin(emu, "GET", "/_emulator/github").json()
    try:
        changed = admin(
            emu,
            "PUT",
            "/_emulator/github",
            {
                "subject": "repo:fabrikam/idp:ref:refs/heads/dev",
                "lifetimeSeconds": 60,
                "claims": {"workflow": "plan"},
            },
        ).json()
        assert changed["subject"] == "repo:fabrikam/idp:ref:refs/heads/dev"
        claims = claims_of(github_token(emu, audience=EXCHANGE).json()["value"])
        assert claims["sub"] == changed["subject"] and claims["workflow"] == "plan"
        assert claims["exp"] - claims["iat"] == 60
        assert admin(emu, "PUT", "/_emulator/github", {"lifetimeSeconds": 0}).status == 400
    finally:
        admin(
            emu,
            "PUT",
            "/_emulator/github",
            {
                "subject": before["subject"],
                "lifetimeSeconds": before["lifetimeSeconds"],
                "claims": {},
            },
        )


# -- managed identity (App Service protocol) -----------------------------------------------


@pytest.fixture
def msi_env(emu: Emu, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:  # noqa: F811
    settings = admin(emu, "GET", "/_emulator/managed-identity").json()
    monkeypatch.setenv("IDENTITY_ENDPOINT", settings["endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", settings["header"])
    for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return settings


def mi_token(identity: Any, resource: str = "https://graph.microsoft.com") -> dict[str, Any]:
    client = msal.ManagedIdentityClient(identity, http_client=requests.Session())
    return client.acquire_token_for_client(resource=resource)


def test_system_assigned_identity_through_real_msal(emu: Emu, msi_env: dict) -> None:  # noqa: F811
    assert get_managed_identity_source() is APP_SERVICE
    result = mi_token(msal.SystemAssignedManagedIdentity())
    assert "access_token" in result, result
    claims = claims_of(result["access_token"])
    assert claims["appid"] == msi_env["systemAssigned"]["clientId"]
    assert claims["iss"] == f"https://sts.windows.net/{emu.tenant}/"
    assert emu.graph(result["access_token"]).status_code == 200


def test_user_assigned_identity_by_client_id_and_resource_id(
    emu: Emu,  # noqa: F811
    msi_env: dict,
) -> None:
    mi_id = str(uuid.uuid4())
    arm_id = (
        "/subscriptions/0000/resourceGroups/ci/providers/Microsoft.ManagedIdentity/"
        "userAssignedIdentities/idpctl"
    )
    emu.register(
        clientId=mi_id,
        managedIdentity="user",
        resourceId=arm_id,
        roles=["IdentityProvider.Read.All"],
    )
    by_client = mi_token(msal.UserAssignedManagedIdentity(client_id=mi_id))
    claims = claims_of(by_client["access_token"])
    assert claims["appid"] == mi_id and claims["roles"] == ["IdentityProvider.Read.All"]
    by_arm = mi_token(msal.UserAssignedManagedIdentity(resource_id=arm_id))
    assert claims_of(by_arm["access_token"])["xms_mirid"] == arm_id
    unknown = mi_token(msal.UserAssignedManagedIdentity(client_id=str(uuid.uuid4())))
    assert "access_token" not in unknown and "No User Assigned" in unknown["error_description"]


def test_managed_identity_endpoint_checks_header_and_version(
    emu: Emu,  # noqa: F811
    msi_env: dict,
) -> None:
    url = msi_env["endpoint"]
    params = {"api-version": "2019-08-01", "resource": "https://graph.microsoft.com"}
    good = {"X-IDENTITY-HEADER": msi_env["header"]}
    ok = emu.http.get(url, params=params, headers=good).json()
    assert set(ok) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert emu.http.get(url, params=params).status_code == 400
    assert emu.http.get(url, params=params, headers={"X-IDENTITY-HEADER": "no"}).status_code == 400
    old = dict(params, **{"api-version": "2017-09-01"})
    assert emu.http.get(url, params=old, headers=good).status_code == 400


# -- Key Vault secrets ---------------------------------------------------------------------


def vault_get(emu: Emu, path: str, token: str | None, **params: str) -> httpx.Response:  # noqa: F811
    params.setdefault("api-version", "7.4")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return emu.http.get(emu.base + path, params=params, headers=headers)


@pytest.fixture
def vault_token(emu: Emu) -> str:  # noqa: F811
    client = emu.register(secret="CANARY-kv-reader")  # default grant includes vault reads
    return emu.token(client, "CANARY-kv-reader", VAULT)["access_token"]


def test_key_vault_reads_latest_and_specific_versions(emu: Emu, vault_token: str) -> None:  # noqa: F811
    first = admin(emu, "PUT", "/_emulator/keyvault/secrets/idp-google", {"value": "CANARY-v1"})
    second = admin(emu, "PUT", "/_emulator/keyvault/secrets/idp-google", {"value": "CANARY-v2"})
    assert first.status == 200 and first.json()["id"].endswith("/" + first.json()["version"])
    latest = vault_get(emu, "/secrets/idp-google", vault_token).json()
    assert latest["value"] == "CANARY-v2" and latest["id"] == second.json()["id"]
    assert latest["attributes"]["enabled"] is True
    old = vault_get(emu, f"/secrets/idp-google/{first.json()['version']}", vault_token).json()
    assert old["value"] == "CANARY-v1"
    listing = admin(emu, "GET", "/_emulator/keyvault/secrets").json()
    assert "CANARY" not in json.dumps(listing)


def test_key_vault_challenge_and_token_checks(emu: Emu, vault_token: str) -> None:  # noqa: F811
    admin(emu, "PUT", "/_emulator/keyvault/secrets/challenge", {"value": "CANARY-c"})
    missing = vault_get(emu, "/secrets/challenge", None)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "Unauthorized"
    assert missing.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{emu.base}/{emu.tenant}", resource="https://vault.azure.net"'
    )
    client = emu.register(secret="CANARY-kv-graph")
    graph_token = emu.token(client, "CANARY-kv-graph")["access_token"]
    wrong_aud = vault_get(emu, "/secrets/challenge", graph_token)
    assert wrong_aud.status_code == 401 and "AKV10022" in wrong_aud.json()["error"]["message"]
    assert vault_get(emu, "/secrets/challenge", "garbage").status_code == 401
    assert "CANARY" not in missing.text + wrong_aud.text


def test_key_vault_forbidden_not_found_and_bad_requests(emu: Emu, vault_token: str) -> None:  # noqa: F811
    admin(emu, "PUT", "/_emulator/keyvault/secrets/locked", {"value": "CANARY-l", "enabled": False})
    graph_only = emu.register(secret="CANARY-kv-no", roles=["IdentityProvider.ReadWrite.All"])
    no_role = emu.token(graph_only, "CANARY-kv-no", VAULT)["access_token"]
    forbidden = vault_get(emu, "/secrets/locked", no_role)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["innererror"]["code"] == "ForbiddenByRbac"
    disabled = vault_get(emu, "/secrets/locked", vault_token)
    assert disabled.status_code == 403
    assert disabled.json()["error"]["innererror"]["code"] == "SecretDisabled"
    gone = vault_get(emu, "/secrets/nothing-here", vault_token)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "SecretNotFound"
    assert "(name/id) nothing-here " in gone.json()["error"]["message"]
    no_version = vault_get(emu, "/secrets/locked/" + "0" * 32, vault_token)
    assert no_version.status_code == 404
    no_api = emu.http.get(
        emu.base + "/secrets/locked", headers={"Authorization": f"Bearer {vault_token}"}
    )
    assert no_api.status_code == 400 and no_api.json()["error"]["code"] == "BadParameter"
    bad_seed = admin(emu, "PUT", "/_emulator/keyvault/secrets/x", {"value": 3})
    assert bad_seed.status == 400
