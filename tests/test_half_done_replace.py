"""A replace whose delete ran and whose create failed is reported as half done: the old object
is gone (and out of its user flows), the new one does not exist; exit 1; the next plan
creates it and links it again."""

from __future__ import annotations

from typing import Any

from workspace import actions

ADDRESS = "oidcIdentityProvider/Contoso"
CONTOSO = """\
kind: oidcIdentityProvider
displayName: Contoso
clientId: contoso-client
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: openid profile
clientAuthentication:
%s
inboundClaimMapping: {sub: sub, email: email}
userFlows: [Customers]
"""
SECRET_AUTH = "  method: client_secret_post\n  clientSecret: {env: CONTOSO_SECRET}"
JWT_AUTH = "  method: private_key_jwt"
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
    workspace.emulator.admin.add_fault(method="POST", path="^/beta/identity/identityProviders$",
                                       status=400, count=1)
    result = workspace.run("apply", "--auto-approve", "--allow-destroy", env=ENV)
    assert result.code == 1, result.text
    assert contoso_ids(workspace) == [] and old_id not in customers(workspace)
    assert ADDRESS not in workspace.state()["providers"]  # the old id is dead: forgotten
    assert (f"{ADDRESS}: half done: the old object (id {old_id}) was deleted and left user "
            "flow(s) Customers; the new one was not created") in result.err, result.err
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
