"""Preflight around plan and apply, end to end against the emulator and its sample IdPs:
discovery findings in the plan (text, JSON, Markdown), exit codes and flags, validate --online,
the permission preflight, the tenant capability matrix and availableProviderTypes."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from idpctl.cli.main import main
from idpctl.errors import AuthError
from idpctl.kinds import load_kinds
from idpctl.model import Action, Change, Finding, Plan
from idpctl.preflight import checks
from idpctl_emulator import sampleidp
from workspace import CLIENT_SECRET_ENV, Workspace

ENV = {"CONTOSO_SECRET": "CANARY-contoso-oidc", "GOOGLE_SECRET": "CANARY-google"}

OIDC = """\
kind: oidcIdentityProvider
displayName: Contoso
clientId: contoso-client
issuer: ${{var.idpBase}}/_idp/{name}/
wellKnownEndpoint: ${{var.idpBase}}/_idp/{name}/.well-known/openid-configuration
responseType: code
scope: openid profile email
clientAuthentication:
  method: {method}
  clientSecret: {{env: CONTOSO_SECRET}}
inboundClaimMapping: {{sub: sub, email: email}}
"""
GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""


def preflight_workspace(
    make_workspace: Callable[..., Workspace], *, idp_base: str | None = None, kind: str = "external"
) -> Workspace:
    ws = make_workspace(kind, preflight=True)
    base = idp_base or ws.emulator.base_url
    ws.extra_config = (
        f"variables: {{idpBase: '{base}'}}\npreflight: {{caBundle: {ws.emulator.ca_path}}}\n"
    )
    ws.write_config()
    return ws


def oidc_file(ws: Workspace, name: str, method: str = "client_secret_post") -> Path:
    return ws.write("contoso.yaml", OIDC.format(name=name, method=method))


# -- the emulator's sample IdPs ----------------------------------------------------------------


def test_sample_idps_are_served(emulator) -> None:
    with httpx.Client(verify=emulator.ssl_context()) as http:
        for name in sampleidp.SAMPLES:
            doc = http.get(f"{emulator.base_url}/_idp/{name}/.well-known/openid-configuration")
            assert doc.status_code == 200 and doc.json()["jwks_uri"].endswith(f"/{name}/jwks")
            keys = http.get(doc.json()["jwks_uri"]).json()["keys"]
            assert keys[0]["use"] == "sig" and keys[0]["kid"]
        contoso = http.get(f"{emulator.base_url}/_idp/contoso/.well-known/openid-configuration")
        assert contoso.json()["issuer"] == f"{emulator.base_url}/_idp/contoso/"
        assert http.get(f"{emulator.base_url}/_idp/nope/jwks").status_code == 404
        assert http.post(f"{emulator.base_url}/_idp/contoso/jwks").status_code == 405


# -- plan and apply ----------------------------------------------------------------------------


def test_a_good_idp_plans_and_applies_with_the_preflight_on(make_workspace) -> None:
    ws = preflight_workspace(make_workspace)
    oidc_file(ws, "contoso", method="private_key_jwt")
    ws.write(
        "contoso.yaml",
        OIDC.format(name="contoso", method="private_key_jwt").replace(
            "  clientSecret: {env: CONTOSO_SECRET}\n", ""
        ),
    )
    plan = ws.plan(env=ENV)
    assert plan["findings"] == [] and plan["summary"]["create"] == 1
    ws.apply(env=ENV)
    ws.assert_converged(env=ENV)


def test_a_wrong_issuer_stops_plan_and_apply(make_workspace) -> None:
    ws = preflight_workspace(make_workspace)
    oidc_file(ws, "wrong-issuer")
    text = ws.run("plan", env=ENV)
    assert text.code == 1, text.text
    assert (
        "Preflight findings:\n  oidcIdentityProvider/Contoso:\n    error [discovery.issuer]"
        in text.out
    )
    assert "Plan: 1 to create" in text.out
    assert text.err.startswith("Error: preflight: oidcIdentityProvider/Contoso: issuer ")
    as_json = ws.run("plan", "--format", "json", env=ENV)
    assert as_json.code == 1
    (finding,) = json.loads(as_json.out)["findings"]
    assert finding["check"] == "discovery.issuer" and finding["severity"] == "error"
    as_markdown = ws.run("plan", "--format", "markdown", env=ENV)
    assert "> [!CAUTION]" in as_markdown.out and "`discovery.issuer`" in as_markdown.out
    refused = ws.run("apply", "--auto-approve", env=ENV)
    assert refused.code == 1 and "--skip-preflight" in refused.err
    assert [p for p in ws.live() if p.get("displayName") == "Contoso"] == []
    assert ws.run("plan", "--offline", "--detailed-exitcode", env=ENV).code == 2
    assert ws.run("plan", "--skip-preflight", env=ENV).code == 0
    ws.apply("--skip-preflight", env=ENV)
    assert [p for p in ws.live() if p.get("displayName") == "Contoso"]


def test_basic_only_idp_is_an_error_in_the_plan(make_workspace) -> None:
    ws = preflight_workspace(make_workspace)
    oidc_file(ws, "basic-only")
    result = ws.run("plan", "--format", "json", env=ENV)
    assert result.code == 1
    assert [f["check"] for f in json.loads(result.out)["findings"]] == ["discovery.auth_method"]


def test_an_unreachable_idp_warns_and_blocks_only_when_strict(make_workspace) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ws = preflight_workspace(make_workspace, idp_base=f"https://127.0.0.1:{port}")
    oidc_file(ws, "contoso")
    plan = ws.plan(env=ENV)
    (finding,) = plan["findings"]
    assert finding["severity"] == "warning" and "unreachable" in finding["message"]
    assert ws.run("plan", "--strict-preflight", env=ENV).code == 1
    assert ws.run("apply", "--auto-approve", "--strict-preflight", env=ENV).code == 1
    ws.apply(env=ENV)


def test_validate_online_locates_findings(make_workspace) -> None:
    ws = preflight_workspace(make_workspace)
    oidc_file(ws, "wrong-issuer")
    result = ws.run("validate", "--online")
    assert result.code == 1
    assert result.out.startswith(
        "providers/contoso.yaml:1:1: oidcIdentityProvider/Contoso: issuer "
    ), result.out
    assert result.err == "validate: 1 problem found\n"
    oidc_file(ws, "contoso")
    assert ws.run("validate", "--online").code == 0


# -- permissions -------------------------------------------------------------------------------


def test_apply_without_the_write_permission_says_what_to_grant(make_workspace) -> None:
    ws = make_workspace("external")
    client_id, secret = str(uuid.uuid4()), f"CANARY-reader-{uuid.uuid4().hex}"
    ws.emulator.admin.register_client(
        {"clientId": client_id, "secret": secret, "roles": ["IdentityProvider.Read.All"]}
    )
    ws.config.write_text(ws.config.read_text().replace(ws.emulator.client_id, client_id))
    ws.write("google.yaml", GOOGLE)
    env = {**ENV, CLIENT_SECRET_ENV: secret}
    assert ws.run("plan", "--detailed-exitcode", env=env).code == 2
    ws.emulator.admin.clear_requests()
    refused = ws.run("apply", "--auto-approve", env=env)
    assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
    assert "lacks IdentityProvider.ReadWrite.All" in refused.err
    assert "External Identity Provider Administrator" in refused.err
    writes = [
        r
        for r in ws.emulator.admin.requests()
        if r["method"] != "GET" and not r["path"].endswith("/token")
    ]
    assert writes == []
    graph_refuses = ws.run("apply", "--auto-approve", "--skip-preflight", env=env)
    assert graph_refuses.code == 1 and "403" in graph_refuses.err


def test_needed_permissions_follow_the_plan() -> None:
    create = Change(Action.CREATE, "socialIdentityProvider", "Google", body={"a": 1})
    forget = Change(Action.DELETE, "socialIdentityProvider", "Facebook", graph_id=None)
    state_only = Change(Action.ADOPT, "socialIdentityProvider", "Google", graph_id="G")
    assert checks.needed_permissions(Plan(changes=())) == {}
    assert checks.needed_permissions(Plan(changes=(forget, state_only))) == {}
    assert list(checks.needed_permissions(Plan(changes=(create,)))) == [checks.WRITE_PROVIDERS]
    flows = {"IdentityUserFlow.ReadWrite.All": "to link flows"}
    needed = checks.needed_permissions(
        Plan(changes=(create,)), rules=[*checks.PERMISSION_RULES, lambda plan: flows]
    )
    assert set(needed) == {checks.WRITE_PROVIDERS, "IdentityUserFlow.ReadWrite.All"}
    checks.require_permissions(Plan(changes=(create,)), {"scp": "IdentityProvider.ReadWrite.All"})
    with pytest.raises(AuthError, match=r"lacks IdentityProvider\.ReadWrite\.All"):
        checks.require_permissions(Plan(changes=(create,)), {"roles": ["X"]})


# -- tenant capabilities -----------------------------------------------------------------------


def test_capability_matrix_per_tenant_kind() -> None:
    matrix = checks.capability_matrix(load_kinds())
    assert set(matrix["workforce"]) == {"socialIdentityProvider", "builtInIdentityProvider"}
    assert "openIdConnectIdentityProvider" in matrix["b2c"]
    assert "oidcIdentityProvider" not in matrix["b2c"]
    assert "oidcIdentityProvider" in matrix["external"]
    assert "openIdConnectIdentityProvider" not in matrix["external"]
    assert matrix["external"]["oidcIdentityProvider"] == ("beta", "v1.0")
    assert matrix["b2c"]["openIdConnectIdentityProvider"] == ("beta",)


B2C_OIDC = """\
kind: openIdConnectIdentityProvider
displayName: Partner
clientId: c
clientSecret: {env: CONTOSO_SECRET}
metadataUrl: https://partner.test/.well-known/openid-configuration
responseMode: form_post
responseType: code
scope: openid
claimsMapping: {userId: sub, displayName: name}
"""
APPLE = """\
kind: appleManagedIdentityProvider
displayName: Apple
developerId: D
serviceId: S
keyId: K
certificateData: {env: CONTOSO_SECRET}
"""


@pytest.mark.parametrize(
    ("tenant_kind", "refused"),
    [
        (
            "workforce",
            [
                "appleManagedIdentityProvider",
                "openIdConnectIdentityProvider",
                "oidcIdentityProvider",
            ],
        ),
        ("b2c", ["oidcIdentityProvider"]),
        ("external", ["openIdConnectIdentityProvider"]),
    ],
)
def test_validate_refuses_kinds_the_tenant_kind_cannot_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tenant_kind: str, refused: list[str]
) -> None:
    providers = tmp_path / "providers"
    providers.mkdir()
    (tmp_path / "idpctl.yaml").write_text(
        f"tenant: t.onmicrosoft.com\ntenantKind: {tenant_kind}\n"
        "variables: {idpBase: 'https://idp.test'}\n"
    )
    files = {
        "oidcIdentityProvider": OIDC.format(name="x", method="client_secret_post"),
        "openIdConnectIdentityProvider": B2C_OIDC,
        "appleManagedIdentityProvider": APPLE,
        "socialIdentityProvider": GOOGLE,
    }
    for kind, text in files.items():
        (providers / f"{kind}.yaml").write_text(text)
    assert main(["validate", "-c", str(tmp_path / "idpctl.yaml")]) == 1
    out = capsys.readouterr().out
    named = sorted(kind for kind in files if f"{kind} is not available in" in out)
    assert named == sorted(refused), out


def test_social_types_the_tenant_does_not_offer() -> None:
    google = Change(Action.CREATE, "socialIdentityProvider", "Google")
    amazon = Change(Action.CREATE, "socialIdentityProvider", "Amazon")
    assert checks.social_type_findings([google], ["Google", "Facebook"]) == []
    (finding,) = checks.social_type_findings([google, amazon], ["google", "Facebook"])
    assert finding == Finding(
        "socialIdentityProvider/Amazon",
        "error",
        "tenant.provider_types",
        "this tenant does not offer Amazon (availableProviderTypes: google, Facebook)",
    )


def test_plan_reads_available_provider_types_for_new_social_providers(make_workspace) -> None:
    ws = make_workspace("b2c")
    ws.write("google.yaml", GOOGLE)
    ws.emulator.admin.clear_requests()
    assert ws.plan(env=ENV)["findings"] == []
    paths = [r["path"] for r in ws.emulator.admin.requests()]
    assert "/v1.0/identity/identityProviders/availableProviderTypes" in paths
    ws.emulator.admin.add_fault(method="GET", path="availableProviderTypes$", status=403)
    (finding,) = ws.plan(env=ENV)["findings"]
    assert finding["severity"] == "warning" and finding["check"] == "tenant.provider_types"
    ws.emulator.admin.clear_faults()
    ws.apply(env=ENV)
    ws.emulator.admin.clear_requests()
    ws.assert_converged(env=ENV)
    assert not [r for r in ws.emulator.admin.requests() if "availableProviderTypes" in r["path"]]


def test_b2c_metadata_url_is_checked_against_the_sample_idps(make_workspace) -> None:
    ws = preflight_workspace(make_workspace, kind="b2c")
    partner = B2C_OIDC.replace("https://partner.test", "${var.idpBase}/_idp/fabrikam")
    ws.write("partner.yaml", partner)
    assert ws.plan(env=ENV)["findings"] == []
    ws.write("partner.yaml", partner.replace("fabrikam", "basic-only"))
    result = ws.run("plan", "--format", "json", env=ENV)
    assert result.code == 1
    assert [f["check"] for f in json.loads(result.out)["findings"]] == ["discovery.auth_method"]
