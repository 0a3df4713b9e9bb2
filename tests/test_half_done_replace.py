"""A replace whose delete ran and whose create failed is reported as half done: the old object
is gone (and out of its user flows), the new one does not exist; exit 1; the next plan
creates it and links it again: to the flows its file names, or (no `userFlows` in the
file) to the flows the old object left, which the state keeps until the new one is in them."""

from __future__ import annotations

from typing import Any

import pytest

from test_userflows import CONTOSO, JWT_AUTH
from workspace import actions

ADDRESS = "oidcIdentityProvider/Contoso"
SECRET_AUTH = "  method: client_secret_post\n  clientSecret: {env: CONTOSO_SECRET}"
ENV = {"CONTOSO_SECRET": "CANARY-hd-c"}


def customers(ws: Any) -> list[str]:
    flows = ws.emulator.admin.call("GET", "/userflows")["userFlows"]
    return next(f["identityProviders"] for f in flows if f.get("displayName") == "Customers")


def contoso_ids(ws: Any) -> list[str]:
    return [p["id"] for p in ws.live() if p.get("displayName") == "Contoso"]


def test_a_failed_create_after_the_delete_is_reported_half_done(workspace: Any) -> None:
    workspace.emulator.admin.call("POST", "/userflows", {"displayName": "Customers"})
    workspace.write("contoso.yaml", CONTOSO % SECRET_AUTH)
    workspace.apply(env=ENV)
    [old_id] = contoso_ids(workspace)
    workspace.write("contoso.yaml", CONTOSO % JWT_AUTH)
    workspace.emulator.admin.add_fault(
        method="POST", path="^/beta/identity/identityProviders$", status=400, count=1
    )
    result = workspace.run("apply", "--auto-approve", "--allow-destroy", env=ENV)
    assert result.code == 1, result.text
    assert contoso_ids(workspace) == [] and old_id not in customers(workspace)
    assert ADDRESS not in workspace.state()["providers"]  # the old id is dead: forgotten
    assert (
        f"{ADDRESS}: half done: the old object (id {old_id}) was deleted and left user "
        "flow(s) Customers; the new one was not created"
    ) in result.err, result.err
    assert "0 change(s) done, 1 half done, 0 not done" in result.err
    assert "half done: the old object" in result.out  # the progress line says it too
    assert "Traceback" not in result.text

    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"create": [ADDRESS]} and plan["changes"][0]["notes"] == []
    flows = next(f for f in plan["changes"][0]["fields"] if f["name"] == "userFlows")
    assert flows["after"] == ["Customers"]
    workspace.apply(env=ENV)
    [new_id] = contoso_ids(workspace)
    assert new_id in customers(workspace)
    workspace.assert_converged(env=ENV)


# ---- a provider whose file does not set userFlows: the state keeps the flows to re-join ----

OIDC = {
    "external": (
        "oidcIdentityProvider/Contoso",
        CONTOSO.replace("userFlows: [Customers]\n", ""),
        SECRET_AUTH,
        JWT_AUTH,
        {"displayName": "Customers"},
        "Customers",
    ),
    "b2c": (
        "openIdConnectIdentityProvider/Partner",
        """\
kind: openIdConnectIdentityProvider
displayName: Partner
clientId: c
clientSecret: {env: CONTOSO_SECRET}
metadataUrl: https://%s.test/.well-known/openid-configuration
responseMode: form_post
responseType: code
scope: openid
claimsMapping: {userId: sub, displayName: name}
""",
        "partner",
        "partner2",
        {"id": "SignUpSignIn"},
        "B2C_1_SignUpSignIn",
    ),
}


def _half_done(ws: Any, kind: str) -> tuple[str, str, str]:
    """Apply the provider, link it to a flow outside idpctl, then a replace whose create
    fails: (address, flow id, flow name)."""
    address, text, before, after, seed, name = OIDC[kind]
    flow_id = ws.emulator.admin.call("POST", "/userflows", seed)["id"]
    ws.write("p.yaml", text % before)
    ws.apply(env=ENV)
    [old] = [p["id"] for p in ws.live() if p.get("displayName") in ("Contoso", "Partner")]
    keep = ["EmailPassword-OAUTH"] if kind == "external" else []
    ws.emulator.admin.call("PATCH", f"/userflows/{flow_id}", {"identityProviders": [*keep, old]})
    ws.write("p.yaml", text % after)
    ws.emulator.admin.add_fault(
        method="POST", path="^/beta/identity/identityProviders$", status=400, count=1
    )
    result = ws.run("apply", "--auto-approve", "--allow-destroy", env=ENV)
    assert result.code == 1, result.text
    assert f"deleted and left user flow(s) {name}" in result.err, result.err
    return address, flow_id, name


def _offered(ws: Any, flow_id: str) -> list[str]:
    flows = ws.emulator.admin.call("GET", "/userflows")["userFlows"]
    return next(f["identityProviders"] for f in flows if f["id"] == flow_id)


@pytest.mark.parametrize("kind", ["external", "b2c"])
def test_the_next_plan_re_attaches_a_half_done_replace_to_its_old_flows(
    make_workspace: Any, kind: str
) -> None:
    """No file sets userFlows: the state keeps the flows the old object left, the next plan
    creates the provider and re-attaches it to exactly those, apply clears them."""
    ws = make_workspace(kind)
    address, flow_id, name = _half_done(ws, kind)
    assert ws.state()["providers"][address]["relink"] == [flow_id]

    plan = ws.plan(env=ENV)
    assert actions(plan) == {"create": [address]}
    change = plan["changes"][0]
    flows = next(f for f in change["fields"] if f["name"] == "userFlows")
    assert flows["after"] == [name] and f"re-attach to {name}" in flows["note"]
    assert any("replace that did not finish" in note for note in change["notes"])
    assert change["reasons"] == ["create_because_replace_unfinished"]
    markdown = ws.run("plan", "--format", "markdown", env=ENV)
    assert f"re-attach to {name}" in markdown.out, markdown.text

    ws.apply(env=ENV)
    [new] = [p["id"] for p in ws.live() if p.get("displayName") in ("Contoso", "Partner")]
    assert new in _offered(ws, flow_id)
    assert "relink" not in ws.state()["providers"][address]
    ws.assert_converged(env=ENV)


def test_a_failed_re_attach_stays_pending_until_it_is_done(workspace: Any) -> None:
    """The create succeeds and the re-attach fails: the flows stay recorded, the next plan
    attaches the new object, and only then are they cleared."""
    address, flow_id, name = _half_done(workspace, "external")
    workspace.emulator.admin.add_fault(method="POST", path=r"/\$ref$", status=400, count=1)
    result = workspace.run("apply", "--auto-approve", env=ENV)
    assert result.code == 1 and f"attach to user flow {name}" in result.err, result.text
    record = workspace.state()["providers"][address]
    assert record["relink"] == [flow_id] and record["id"] not in _offered(workspace, flow_id)

    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"update": [address]}
    assert [f["name"] for f in plan["changes"][0]["fields"]] == ["userFlows"]
    workspace.apply(env=ENV)
    assert record["id"] in _offered(workspace, flow_id)
    assert "relink" not in workspace.state()["providers"][address]
    # the new object uses private_key_jwt: the old object's secret is not its record's
    assert record["secrets"] == {} and record["auth_method"] == "private_key_jwt"
    workspace.assert_converged(env=ENV)


def test_flows_re_attached_by_hand_are_cleared_in_the_state(workspace: Any) -> None:
    """The new object is put back in the flow outside idpctl before the re-attach ran: the
    next plan is a state-only change clearing the pending flows; then no changes."""
    address, flow_id, name = _half_done(workspace, "external")
    workspace.emulator.admin.add_fault(method="POST", path=r"/\$ref$", status=400, count=1)
    assert workspace.run("apply", "--auto-approve", env=ENV).code == 1
    new = workspace.state()["providers"][address]["id"]
    workspace.emulator.admin.call(
        "PATCH", f"/userflows/{flow_id}", {"identityProviders": ["EmailPassword-OAUTH", new]}
    )
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"update": [address]}
    [field] = plan["changes"][0]["fields"]
    assert (field["name"], field["before"], field["after"], field["state_only"]) == (
        "relink",
        [name],
        [],
        True,
    )
    workspace.apply(env=ENV)
    assert "relink" not in workspace.state()["providers"][address]
    workspace.assert_converged(env=ENV)


def test_a_create_of_unknown_outcome_re_attaches_in_the_same_apply(workspace: Any) -> None:
    """The replace's create is answered 500 (outcome unknown) after the delete ran: the
    re-read finds neither object, the state keeps the flows, and the re-planned rest of the
    same apply creates the provider and re-attaches it."""
    address, text, before, after, seed, _ = OIDC["external"]
    flow_id = workspace.emulator.admin.call("POST", "/userflows", seed)["id"]
    workspace.write("p.yaml", text % before)
    workspace.apply(env=ENV)
    [old] = contoso_ids(workspace)
    workspace.emulator.admin.call(
        "PATCH", f"/userflows/{flow_id}", {"identityProviders": ["EmailPassword-OAUTH", old]}
    )
    workspace.write("p.yaml", text % after)
    workspace.emulator.admin.add_fault(
        method="POST", path="^/beta/identity/identityProviders$", status=500, count=1
    )
    workspace.apply("--allow-destroy", env=ENV)
    [new] = contoso_ids(workspace)
    assert new != old and new in _offered(workspace, flow_id)
    assert "relink" not in workspace.state()["providers"][address]
    workspace.assert_converged(env=ENV)
