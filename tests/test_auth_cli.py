"""auth.mode azureCli: a person's Azure CLI login, with a stand-in `az` on PATH that answers
`az account get-access-token` as the real one does (a token from the emulator, a person's
token with directory roles, or "Please run 'az login'"); `whoami` for a person."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from idpctl import redact
from idpctl.cli.whoami import describe
from idpctl.errors import AuthError
from idpctl.graph.apps import AzureCli
from idpctl.graph.auth import choose_mode

STAND_IN = """#!{python}
import json, os, sys, time
with open(os.environ["FAKE_AZ_ARGV"], "a", encoding="utf-8") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
mode = os.environ.get("FAKE_AZ_MODE", "emulator")
if mode == "logged-out":
    sys.stderr.write("ERROR: Please run 'az login' to setup account.\\n")
    sys.exit(1)
scope = sys.argv[sys.argv.index("--scope") + 1]
if mode == "person":
    def part(data):
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    import base64
    token = part({{"alg": "none", "typ": "JWT"}}) + "." + part(json.loads(
        os.environ["FAKE_AZ_CLAIMS"])) + ".sig"
else:
    import httpx
    answer = httpx.post(os.environ["FAKE_AZ_TOKEN_URL"], verify=os.environ["FAKE_AZ_CA"], data={{
        "grant_type": "client_credentials", "client_id": os.environ["FAKE_AZ_CLIENT_ID"],
        "client_secret": os.environ["FAKE_AZ_SECRET"], "scope": scope}}).json()
    token = answer["access_token"]
print(json.dumps({{"accessToken": token, "expiresOn": "2030-01-01 00:00:00.000000",
                  "expires_on": int(time.time()) + 3600, "subscription": "s",
                  "tenant": "t", "tokenType": "Bearer"}}))
"""
PERSON = {
    "upn": "ada@contoso.test",
    "scp": "Directory.AccessAsUser.All User.Read",
    "tid": "t",
    "wids": ["be2f45a1-457d-42af-a067-6ec1fa63bc45"],
}
GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""


@pytest.fixture
def az(tmp_path: Path) -> dict[str, str]:
    """A stand-in `az` first on PATH; returns the environment that puts it there."""
    folder = tmp_path / "azbin"
    folder.mkdir()
    script = folder / "az"
    script.write_text(STAND_IN.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    return {
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_AZ_ARGV": str(tmp_path / "az-argv"),
    }


def _calls(env: dict[str, str]) -> list[list[str]]:
    return [
        json.loads(line)
        for line in Path(env["FAKE_AZ_ARGV"]).read_text(encoding="utf-8").splitlines()
    ]


def _cli_workspace(workspace, az: dict[str, str]) -> dict[str, str]:
    e = workspace.emulator
    text = workspace.config.read_text(encoding="utf-8")
    start = text.index("auth:\n")
    end = text.index("state:")
    workspace.config.write_text(
        text[:start] + "auth: {mode: azureCli}\n" + text[end:], encoding="utf-8"
    )
    return {
        **az,
        "FAKE_AZ_TOKEN_URL": f"{e.base_url}/{e.tenant}/oauth2/v2.0/token",
        "FAKE_AZ_CA": str(e.ca_path),
        "FAKE_AZ_CLIENT_ID": e.client_id,
        "FAKE_AZ_SECRET": e.client_secret,
        "GOOGLE_SECRET": "CANARY-azcli-google",
    }


def test_plan_and_apply_with_the_cli_login(workspace, az) -> None:
    env = _cli_workspace(workspace, az)
    workspace.write("google.yaml", GOOGLE)
    plan = workspace.run("plan", env=env)
    assert plan.code == 0, plan.text
    assert "socialIdentityProvider/Google" in plan.out
    workspace.apply(env=env)
    workspace.assert_converged(env=env)
    calls = _calls(env)
    resource = calls[0][calls[0].index("--scope") + 1]
    assert calls[0] == [
        "account",
        "get-access-token",
        "--output",
        "json",
        "--scope",
        resource,
        "--tenant",
        workspace.emulator.tenant,
    ]
    assert resource.endswith("/.default")


def test_whoami_names_the_person_and_what_their_roles_allow(workspace, az) -> None:
    env = {
        **_cli_workspace(workspace, az),
        "FAKE_AZ_MODE": "person",
        "FAKE_AZ_CLAIMS": json.dumps(PERSON),
    }
    result = workspace.run("whoami", env=env)
    assert result.code == 0, result.text
    assert "signed in:  ada@contoso.test" in result.out
    assert "auth mode:  azureCli (Azure CLI login)" in result.out
    assert "External Identity Provider Administrator" in result.out
    assert "plan:       allowed" in result.out and "apply:      allowed" in result.out
    reader = {**PERSON, "wids": ["f2ef992c-3afb-46b9-b7cf-a126ee74c451"]}
    denied = workspace.run("whoami", env={**env, "FAKE_AZ_CLAIMS": json.dumps(reader)})
    assert denied.code == 1
    assert "apply:      not allowed" in denied.out and "fix:" in denied.out


def test_not_logged_in_is_one_line_that_says_az_login(workspace, az) -> None:
    env = {**_cli_workspace(workspace, az), "FAKE_AZ_MODE": "logged-out"}
    result = workspace.run("plan", env=env)
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: auth.mode azureCli: az account get-access-token failed: ERROR: Please run "
        f"'az login' to setup account. (sign in with `az login --tenant "
        f"{workspace.emulator.tenant}`)"
    ]
    assert "Traceback" not in result.err


def test_no_az_on_path(tmp_path: Path) -> None:
    cli = AzureCli(tenant="t", env={"PATH": str(tmp_path)})
    with pytest.raises(AuthError, match=r"the Azure CLI \(az\) is not on PATH"):
        cli.acquire("https://graph.microsoft.com")


def test_tokens_are_cached_and_registered_with_the_scrubber(az) -> None:
    env = {**az, "FAKE_AZ_MODE": "person", "FAKE_AZ_CLAIMS": json.dumps(PERSON)}
    from idpctl.graph.tokens import TokenProvider

    tokens = TokenProvider(
        mode="azureCli",
        detail="Azure CLI login",
        client_id=None,
        tenant="t",
        make_app=lambda: AzureCli(tenant="t", env=env),
    )
    token = tokens.token("https://graph.microsoft.com")
    assert tokens.token("https://graph.microsoft.com") == token
    assert len(_calls(env)) == 1  # reused until 5 minutes before it expires
    assert token not in redact.scrub(f"the token was {token}")


def test_a_403_for_a_person_asks_for_a_directory_role_and_delegated_scope(emulator, az) -> None:
    """The CLI login of an account that may only read: the write's 403 names what a person
    needs (role, delegated scope), not an application permission (tests/test_graph.py has the
    app's wording)."""
    from idpctl.graph.client import GraphClient
    from idpctl.graph.tokens import TokenProvider
    from test_graph import _oidc

    emulator.admin.register_client(
        {
            "clientId": "reader-person",
            "secret": "CANARY-reader",
            "roles": ["IdentityProvider.Read.All"],
        }
    )
    env = {
        **az,
        "FAKE_AZ_TOKEN_URL": f"{emulator.base_url}/{emulator.tenant}/oauth2/v2.0/token",
        "FAKE_AZ_CA": str(emulator.ca_path),
        "FAKE_AZ_CLIENT_ID": "reader-person",
        "FAKE_AZ_SECRET": "CANARY-reader",
    }
    tokens = TokenProvider(
        mode="azureCli",
        detail="Azure CLI login",
        client_id=None,
        tenant=emulator.tenant,
        make_app=lambda: AzureCli(tenant=emulator.tenant, env=env),
    )
    with GraphClient(emulator.base_url, token_provider=tokens, verify=emulator.ca_path) as client:
        client.list_providers()
        with pytest.raises(AuthError, match=r"^Graph 403 ") as caught:
            client.create_provider(_oidc("nope"))
    message = str(caught.value)
    assert "External Identity Provider Administrator directory role" in message
    assert "delegated scope IdentityProvider.ReadWrite.All" in message
    assert "application permission with admin consent" not in message
    assert "CANARY-" not in message


def test_auto_prefers_a_pipeline_credential_then_the_cli_login(az) -> None:
    assert choose_mode({}, {"PATH": az["PATH"]}) == "azureCli"
    assert choose_mode({}, {"PATH": az["PATH"], "AZURE_CLIENT_SECRET": "x"}) == "secret"
    assert (
        choose_mode({}, {"PATH": az["PATH"], "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"})
        == "federated"
    )
    assert (
        choose_mode({}, {"PATH": az["PATH"], "MSI_ENDPOINT": "http://127.0.0.1:1"})
        == "managedIdentity"
    )
    with pytest.raises(AuthError, match="az login"):
        choose_mode({}, {"PATH": "/nonexistent"})


def test_describe_an_app_is_unchanged_by_the_person_rules() -> None:
    lines, ok = describe(
        {"roles": ["IdentityProvider.ReadWrite.All"], "appid": "a"},
        tenant="t",
        mode="secret",
        detail="env:X",
        client_id="a",
        authority="https://login",
        graph_url="https://graph",
    )
    assert ok and not any(line.startswith("signed in:") for line in lines)


# docs/auth.md's person samples are this run's output: a stand-in `az` that hands out a person's
# token, whoami against the emulator; the emulator's port is the one thing replaced
DOC_PERSON = {
    "upn": "ada@contoso.com",
    "scp": "Directory.AccessAsUser.All User.Read",
    "tid": "4bc8a210-5f7e-4c1a-9d3b-2e6f8a0c7d15",
    "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    "wids": ["be2f45a1-457d-42af-a067-6ec1fa63bc45"],
}
DOC_SAMPLE = re.compile(
    r"(<!-- captured by tests/test_auth_cli.py: whoami (\w+) -->\n```text\n)"
    r"(.*?)(```)",
    re.S,
)


def test_docs_auth_whoami_samples_are_captured_from_a_run(workspace, az) -> None:
    """`IDPCTL_UPDATE_DOCS=1 pytest tests/test_auth_cli.py -k docs` rewrites the blocks."""
    env = {**_cli_workspace(workspace, az), "FAKE_AZ_MODE": "person"}
    # the emulator's tenant is a fresh GUID each session: the sample names a stable one
    # (a person's whoami reads the CLI's token and sends nothing to Graph)
    workspace.config.write_text(
        workspace.config.read_text(encoding="utf-8").replace(
            workspace.emulator.tenant, "contoso.onmicrosoft.com"
        ),
        encoding="utf-8",
    )
    runs = {"allowed": DOC_PERSON, "denied": {**DOC_PERSON, "upn": "sam@contoso.com", "wids": []}}
    doc_path = Path(__file__).parents[1] / "docs" / "auth.md"
    doc = doc_path.read_text(encoding="utf-8")
    samples = {}
    for name, claims in runs.items():
        result = workspace.run("whoami", env={**env, "FAKE_AZ_CLAIMS": json.dumps(claims)})
        assert result.code == (0 if name == "allowed" else 1), result.text
        samples[name] = "$ idpctl whoami\n" + result.out.replace(
            workspace.emulator.base_url, "https://127.0.0.1:<port>"
        )
    captured = DOC_SAMPLE.sub(lambda m: m[1] + samples[m[2]] + m[4], doc)
    if os.environ.get("IDPCTL_UPDATE_DOCS") == "1":
        doc_path.write_text(captured, encoding="utf-8")
        doc = captured
    assert {m[2] for m in DOC_SAMPLE.finditer(doc)} == set(runs)
    assert captured == doc, "docs/auth.md: run with IDPCTL_UPDATE_DOCS=1 to capture again"
