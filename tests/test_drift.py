"""`idpctl drift` end to end against the emulator: each finding class, exit codes, renderings,
a throttled or failing read (exit 1, never drift), and proof that drift writes nothing."""

from __future__ import annotations

import json

import pytest

from idpctl.errors import Problem
from idpctl.reports import drift
from workspace import Workspace

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
CONTOSO = """\
kind: oidcIdentityProvider
displayName: Contoso
clientId: contoso-client
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: openid profile
clientAuthentication:
  method: client_secret_post
  clientSecret: {env: CONTOSO_SECRET}
inboundClaimMapping: {sub: sub, email: email}
"""
ENV = {"GOOGLE_SECRET": "CANARY-g1", "CONTOSO_SECRET": "CANARY-c1"}
SOCIAL = "#microsoft.graph.socialIdentityProvider"
BUILTIN = "#microsoft.graph.builtInIdentityProvider"


def converged(ws: Workspace) -> Workspace:
    ws.write("google.yaml", GOOGLE)
    ws.write("contoso.yaml", CONTOSO)
    ws.apply(env=ENV)
    return ws


def run_drift(ws: Workspace, *args: str) -> tuple[int, dict]:
    result = ws.run("drift", "--format", "json", *args)
    return result.code, json.loads(result.out)


def kinds_of(report: dict) -> list[tuple[str, str | None]]:
    return [(f["kind"], f["address"]) for f in report["findings"]]


def test_clean_tenant_exits_0_with_only_informational_findings(workspace) -> None:
    converged(workspace)
    code, report = run_drift(workspace)  # no secret in the environment: drift needs none
    assert code == 0 and report["status"] == "clean" and report["format_version"] == 1
    assert kinds_of(report) == [
        ("secret-unverifiable", "oidcIdentityProvider/Contoso"),
        ("secret-unverifiable", "socialIdentityProvider/Google"),
    ]
    assert all(f["informational"] for f in report["findings"])
    text = workspace.run("drift")
    assert text.code == 0 and "No drift" in text.out


def test_changed_field_by_field(workspace) -> None:
    converged(workspace)
    workspace.emulator.admin.drift("Google-OAUTH", {"clientId": "portal-edit"})
    code, report = run_drift(workspace)
    assert code == 2 and report["status"] == "drift"
    changed = [f for f in report["findings"] if f["kind"] == "changed"]
    assert len(changed) == 1 and changed[0]["address"] == "socialIdentityProvider/Google"
    assert changed[0]["fields"] == [
        {"name": "clientId", "desired": "google-client", "live": "portal-edit"}
    ]
    assert changed[0]["location"]["file"].endswith("google.yaml")
    text = workspace.run("drift")
    assert text.code == 2 and 'files "google-client", tenant "portal-edit"' in text.out


def age_state(ws: Workspace) -> None:
    """Make every record old, so the plan's replication guard does not apply."""
    data = ws.state()
    for record in data["providers"].values():
        record["created_at"] = "2020-01-01T00:00:00Z"
    data["serial"] += 1
    ws.state_path.write_text(json.dumps(data))


def test_missing_provider(workspace) -> None:
    converged(workspace)
    age_state(workspace)
    with workspace.emulator.graph() as client:
        client.delete("/beta/identity/identityProviders/Google-OAUTH").raise_for_status()
    workspace.write("facebook.yaml", GOOGLE.replace("Google", "Facebook"))
    code, report = run_drift(workspace)
    assert code == 2
    missing = [f for f in report["findings"] if f["kind"] == "missing"]
    assert [f["address"] for f in missing] == [
        "socialIdentityProvider/Facebook",
        "socialIdentityProvider/Google",
    ]
    assert "deleted outside idpctl" in missing[1]["message"]


def test_a_provider_just_created_and_not_listed_yet_is_not_missing(workspace) -> None:
    converged(workspace)  # just created: Graph may not list it yet (replication delay)
    with workspace.emulator.graph() as client:
        client.delete("/beta/identity/identityProviders/Google-OAUTH").raise_for_status()
    code, report = run_drift(workspace)
    assert code == 0 and "missing" not in report["summary"]


def test_unmanaged_and_ignore_unmanaged_builtins_never(workspace) -> None:
    converged(workspace)
    workspace.emulator.admin.seed(
        {
            "@odata.type": SOCIAL,
            "displayName": "Facebook",
            "identityProviderType": "Facebook",
            "clientId": "fb",
            "clientSecret": "portal",
        }
    )
    code, report = run_drift(workspace)
    assert code == 2
    assert [a for k, a in kinds_of(report) if k == "unmanaged"] == [
        "socialIdentityProvider/Facebook"
    ]
    assert any(p["@odata.type"].endswith("builtInIdentityProvider") for p in workspace.live())
    assert not any(a and a.startswith("builtInIdentityProvider") for _, a in kinds_of(report))
    code, report = run_drift(workspace, "--ignore-unmanaged")
    assert code == 0 and "unmanaged" not in json.dumps(report["summary"])


def test_markdown_and_step_summary(workspace, tmp_path) -> None:
    converged(workspace)
    workspace.emulator.admin.drift("Google-OAUTH", {"clientId": "portal-edit"})
    summary = tmp_path / "summary.md"
    result = workspace.run(
        "drift", "--format", "markdown", env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.code == 2
    assert result.out.startswith("## ⚠️ idpctl drift") and "### Changed" in result.out
    assert '`clientId`: files `"google-client"`, tenant `"portal-edit"`' in result.out
    assert summary.read_text() == result.out


@pytest.mark.parametrize(
    "rule",
    [
        {"status": 429, "retry_after": 600, "count": -1},
        {"status": 500, "retry_after": 600, "count": -1},
    ],
    ids=["throttled", "500-storm"],
)
def test_failed_read_is_an_error_never_drift(workspace, rule) -> None:
    converged(workspace)
    workspace.emulator.admin.add_fault(method="GET", path="identityProviders", **rule)
    result = workspace.run("drift", env={"IDPCTL_TEST_GRAPH_TIMEOUT": "2"})
    assert result.code == 1
    assert result.out == ""
    errors = [line for line in result.err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: drift: could not read the tenant")
    code, report = run_drift(workspace)
    assert code == 1 and report["status"] == "error"
    assert kinds_of(report) == [("read-error", None)]


def test_drift_never_writes(workspace) -> None:
    converged(workspace)
    workspace.emulator.admin.drift("Google-OAUTH", {"clientId": "portal-edit"})
    before = workspace.state_path.read_bytes()
    workspace.emulator.admin.clear_requests()
    assert workspace.run("drift").code == 2
    assert workspace.run("drift", "--format", "json").code == 2
    assert workspace.state_path.read_bytes() == before
    assert not workspace.state_path.with_name("state.json.lock").exists()
    graph = [
        r
        for r in workspace.emulator.admin.requests()
        if "/identity/" in r["path"] or "$batch" in r["path"]
    ]
    assert graph and {r["method"] for r in graph} == {"GET"}


def test_annotations(workspace) -> None:
    converged(workspace)
    workspace.emulator.admin.drift("Google-OAUTH", {"clientId": "portal-edit"})
    result = workspace.run("drift", env={"GITHUB_ACTIONS": "true"})
    lines = [x for x in result.out.splitlines() if x.startswith("::")]
    assert (
        "::warning file=providers/google.yaml,line=1,col=1,title=idpctl drift%3A changed"
        "::changed: socialIdentityProvider/Google: differs: clientId"
    ) in lines
    assert any(x.startswith("::notice file=providers/contoso.yaml,line=1,col=1,") for x in lines)
    off = workspace.run("drift", "--annotations", "none", env={"GITHUB_ACTIONS": "true"})
    assert "::" not in off.out
    as_json = workspace.run("drift", "--format", "json", "--annotations", "github")
    assert json.loads(as_json.out)["status"] == "drift" and "::warning " in as_json.err


def test_annotation_escaping() -> None:
    from idpctl.render.annotations import annotation

    assert annotation("error", "a%b\nc", file="p/x,y.yaml", line=3, col=5, title="t: u") == (
        "::error file=p/x%2Cy.yaml,line=3,col=5,title=t%3A u::a%25b%0Ac"
    )
    assert annotation("warning", "plain") == "::warning::plain"


def test_report_exit_codes_are_pure() -> None:
    info = drift.Finding("secret-unverifiable", "k/a", "m", informational=True)
    assert drift.Report((info,)).exit_code == 0
    assert drift.Report((info, drift.Finding("changed", "k/a", "m"))).exit_code == 2
    assert drift.read_error("boom").exit_code == 1
    assert Problem  # imported for the validate annotations below


def test_unknown_types_and_builtins_are_never_findings() -> None:
    from idpctl.kinds import load_kinds
    from idpctl.model import LiveProvider
    from idpctl.state.codec import new_state

    kinds = load_kinds()
    live = [
        LiveProvider(
            "x1",
            "#microsoft.graph.futureIdentityProvider",
            None,
            None,
            {"displayName": "From the future"},
        ),
        LiveProvider(
            "AADSignup-OAUTH",
            "#microsoft.graph.builtInIdentityProvider",
            "builtInIdentityProvider",
            "AADSignup",
            {"identityProviderType": "AADSignup"},
        ),
    ]
    report = drift.findings([], live, new_state(), kinds=kinds)
    assert report.findings == () and report.exit_code == 0


def test_expired_secret_from_governance_counts_as_drift(workspace) -> None:
    converged(workspace)
    data = workspace.state()
    for record in data["providers"].values():
        for secret in record["secrets"].values():
            secret["set_at"] = "2020-01-01T00:00:00Z"
    data["serial"] += 1
    workspace.state_path.write_text(json.dumps(data))
    code, report = run_drift(workspace)
    assert code == 2
    expired = [f for f in report["findings"] if f["kind"] == "secret-expired"]
    assert sorted(f["address"] for f in expired) == [
        "oidcIdentityProvider/Contoso",
        "socialIdentityProvider/Google",
    ]
    assert all("env:" in f["message"] and f["location"] for f in expired)


def test_a_flow_link_removed_in_the_portal_is_drift(workspace) -> None:
    """Issue 13.4: Google is taken out of a user flow in the portal (users can no longer pick
    it there): drift reports a flow-link finding in every format and exits 2, while plan
    shows the re-attach; after apply, drift is clean again."""
    flow = workspace.emulator.admin.call("POST", "/userflows", {"displayName": "Customers"})
    workspace.write("google.yaml", GOOGLE + "userFlows: [Customers]\n")
    workspace.apply(env=ENV)
    assert run_drift(workspace)[0] == 0
    workspace.emulator.admin.call(
        "PATCH", f"/userflows/{flow['id']}", {"identityProviders": ["EmailPassword-OAUTH"]}
    )
    code, report = run_drift(workspace)
    assert code == 2 and report["status"] == "drift"
    assert kinds_of(report) == [
        ("flow-link", "socialIdentityProvider/Google"),
        ("secret-unverifiable", "socialIdentityProvider/Google"),
    ]
    finding = report["findings"][0]
    assert finding["fields"] == [
        {"name": "userFlows", "desired": ["Customers"], "live": [], "note": "attach to Customers"}
    ]
    assert finding["location"]["file"].endswith("google.yaml")
    text = workspace.run("drift")
    assert text.code == 2 and "flow-link: socialIdentityProvider/Google" in text.out
    markdown = workspace.run("drift", "--format", "markdown")
    assert markdown.code == 2 and "### User-flow links" in markdown.out
    plan = workspace.plan(env=ENV)
    [change] = plan["changes"]
    assert change["action"] == "update"
    assert [f["name"] for f in change["fields"]] == ["userFlows"]
    workspace.apply(env=ENV)
    assert run_drift(workspace)[0] == 0


def test_flow_links_cost_no_read_when_no_provider_sets_them(workspace) -> None:
    converged(workspace)
    workspace.emulator.admin.clear_requests()
    assert run_drift(workspace)[0] == 0
    assert not any("Flows" in r["path"] for r in workspace.emulator.admin.requests())


def test_the_json_rendering_never_writes_a_secret_by_value() -> None:
    """drift takes secret leaves out before it compares; should one reach a finding anyway,
    the JSON document shows it as `(sensitive)`, never by value."""
    from idpctl.model import Secret, SecretRef
    from idpctl.reports import drift_render

    canary = "CANARY-drift-render-4711"
    value = {"a": Secret(canary, source="env:X"), "b": [SecretRef("env", "Y")], "c": (1, {2})}
    text = json.dumps(drift_render._plain(value))
    assert canary not in text
    assert json.loads(text)["a"] == "(sensitive)"
    assert json.loads(text)["b"] == ["(sensitive)"]
