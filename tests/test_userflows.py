"""User flows end to end against the emulator: attach and detach re-plan empty per tenant
kind, `userFlows: []`, unknown flows, drift from the portal, deletes of a provider a flow
still offers, and no flow reads when nothing asks for them (docs/userflows.md)."""

from __future__ import annotations

from typing import Any

import pytest

from idpctl.errors import PlanError
from idpctl.model import (
    Action,
    Change,
    FieldChange,
    LiveProvider,
    Plan,
    Provider,
    State,
)
from idpctl.userflows import Flow, Flows, plan_links
from workspace import CLIENT_SECRET_ENV, actions

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
ENV = {"GOOGLE_SECRET": "CANARY-uf-g", "FACEBOOK_SECRET": "CANARY-uf-f"}
# a second provider that manages its flows: with it, idpctl reads the flows on every plan
FACEBOOK = """\
kind: socialIdentityProvider
identityProviderType: Facebook
displayName: Facebook
clientId: facebook-client
clientSecret: {env: FACEBOOK_SECRET}
userFlows: [Customers]
"""
ADDRESS = "socialIdentityProvider/Google"
SEEDS = {"external": [{"displayName": "Customers"}, {"displayName": "Partners"}],
         "b2c": [{"id": "SignUpSignIn"}, {"id": "Partners"}],
         "workforce": [{"id": "Customers"}, {"id": "Partners"}]}
NAMES = {"external": ("Customers", "Partners"), "b2c": ("B2C_1_SignUpSignIn", "Partners"),
         "workforce": ("Customers", "B2X_1_Partners")}


def google(flows: list[str] | None) -> str:
    if flows is None:
        return GOOGLE
    return GOOGLE + "userFlows: [" + ", ".join(flows) + "]\n"


def seeded(ws: Any) -> dict[str, str]:
    """Seed the tenant kind's two flows; {name as written: flow id}."""
    out = {}
    for body, name in zip(SEEDS[ws.emulator.kind], NAMES[ws.emulator.kind], strict=True):
        out[name] = ws.emulator.admin.call("POST", "/userflows", body)["id"]
    return out


def links(ws: Any) -> dict[str, list[str]]:
    """{flow id or display name: linked provider ids} from the emulator."""
    flows = ws.emulator.admin.call("GET", "/userflows")["userFlows"]
    return {f.get("displayName") or f["id"]: f["identityProviders"] for f in flows}


def flow_field(plan: dict[str, Any]) -> dict[str, Any]:
    change = next(c for c in plan["changes"] if c["address"] == ADDRESS)
    return next(f for f in change["fields"] if f["name"] == "userFlows")


@pytest.mark.parametrize("kind", ["external", "b2c", "workforce"])
def test_attach_then_detach_replans_empty(make_workspace: Any, kind: str) -> None:
    ws = make_workspace(kind)
    first, second = NAMES[kind]
    seeded(ws)
    ws.write("google.yaml", google([first]))
    plan = ws.plan(env=ENV)
    assert actions(plan) == {"create": [ADDRESS]}
    assert flow_field(plan)["after"] == [first]
    ws.apply(env=ENV)
    ws.assert_converged(env=ENV)
    assert "Google-OAUTH" in next(v for k, v in links(ws).items() if first.endswith(k)
                                  or k.endswith(first))
    ws.write("google.yaml", google([second]))
    plan = ws.plan(env=ENV)
    assert actions(plan) == {"update": [ADDRESS]}
    field = flow_field(plan)
    # a flow the files no longer name shows under its own name (B2X flows: B2X_1_<name>)
    gone = {"workforce": "B2X_1_Customers"}.get(kind, first)
    assert (field["before"], field["after"]) == ([gone], [second])
    assert field["note"] == f"detach from {gone}; attach to {second}"
    ws.apply(env=ENV)
    ws.assert_converged(env=ENV)
    linked = [k for k, v in links(ws).items() if "Google-OAUTH" in v]
    assert len(linked) == 1 and (second.endswith(linked[0]) or linked[0].endswith(second))


def test_empty_list_detaches_from_every_flow(make_workspace: Any) -> None:
    ws = make_workspace("b2c")
    seeded(ws)
    ws.write("google.yaml", google(["SignUpSignIn", "Partners"]))
    ws.apply(env=ENV)
    assert all("Google-OAUTH" in v for v in links(ws).values())
    ws.write("google.yaml", google([]))
    plan = ws.plan(env=ENV)
    assert flow_field(plan)["after"] == []
    text = ws.run("plan", env=ENV).out
    assert "userFlows:" in text and "detach from" in text
    ws.apply(env=ENV)
    ws.assert_converged(env=ENV)
    assert not any("Google-OAUTH" in v for v in links(ws).values())


def test_unknown_flow_is_a_plan_error(workspace: Any) -> None:
    seeded(workspace)
    workspace.write("google.yaml", google(["Nowhere"]))
    result = workspace.run("plan", env=ENV)
    assert result.code == 1
    assert ADDRESS in result.err and "'Nowhere'" in result.err and "Customers" in result.err


def test_portal_link_is_drift_and_removed(workspace: Any) -> None:
    ids = seeded(workspace)
    workspace.write("google.yaml", google(["Customers"]))
    workspace.apply(env=ENV)
    workspace.emulator.admin.call("PATCH", f"/userflows/{ids['Partners']}",
                                  {"identityProviders": ["EmailPassword-OAUTH", "Google-OAUTH"]})
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"update": [ADDRESS]}
    assert flow_field(plan)["note"] == "detach from Partners"
    workspace.apply(env=ENV)
    workspace.assert_converged(env=ENV)
    assert links(workspace)["Partners"] == ["EmailPassword-OAUTH"]


def test_delete_of_a_linked_provider(workspace: Any) -> None:
    seeded(workspace)
    workspace.write("google.yaml", google(["Customers", "Partners"]))
    workspace.write("facebook.yaml", FACEBOOK)
    workspace.apply(env=ENV)
    workspace.remove("google.yaml")
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"delete": [ADDRESS]}
    change = plan["changes"][0]
    assert "leaves user flow(s) Customers, Partners" in change["notes"]
    text = workspace.run("plan", env=ENV).out
    assert "# leaves user flow(s) Customers, Partners" in text
    assert flow_field(plan)["after"] == []
    refused = workspace.run("apply", "--auto-approve", env=ENV)
    assert refused.code != 0 and "--allow-destroy" in refused.text
    workspace.apply("--allow-destroy", env=ENV)
    workspace.assert_converged(env=ENV)
    assert not any(p["id"] == "Google-OAUTH" for p in workspace.live())
    assert links(workspace) == {"Customers": ["EmailPassword-OAUTH", "Facebook-OAUTH"],
                                "Partners": ["EmailPassword-OAUTH"]}


def test_unmanaged_flows_are_detached_before_a_delete(workspace: Any) -> None:
    ids = seeded(workspace)
    workspace.write("google.yaml", google(None))
    workspace.write("facebook.yaml", FACEBOOK)
    workspace.apply(env=ENV)
    workspace.emulator.admin.call("PATCH", f"/userflows/{ids['Customers']}",
                                  {"identityProviders": ["EmailPassword-OAUTH", "Facebook-OAUTH",
                                                         "Google-OAUTH"]})
    workspace.write("google.yaml", GOOGLE + "ensure: absent\n")
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"delete": [ADDRESS]}
    assert "leaves user flow(s) Customers" in plan["changes"][0]["notes"]
    workspace.apply("--allow-destroy", env=ENV)
    assert links(workspace)["Customers"] == ["EmailPassword-OAUTH", "Facebook-OAUTH"]


def test_without_any_userflows_a_linked_delete_stops_with_the_flow_named(workspace: Any
                                                                        ) -> None:
    """No provider sets userFlows: no flow is read (no extra request), so a provider a flow
    still offers is not detached, and the emulator's refusal names the flow."""
    ids = seeded(workspace)
    workspace.emulator.admin.set_readings(errors="detailed")  # the emulator's text names it
    workspace.write("google.yaml", google(None))
    workspace.apply(env=ENV)
    workspace.emulator.admin.call("PATCH", f"/userflows/{ids['Customers']}",
                                  {"identityProviders": ["EmailPassword-OAUTH", "Google-OAUTH"]})
    workspace.remove("google.yaml")
    stopped = workspace.run("apply", "--auto-approve", "--allow-destroy", env=ENV)
    assert stopped.code == 1 and "Customers" in stopped.err and "409" in stopped.err
    assert any(p["id"] == "Google-OAUTH" for p in workspace.live())


def test_no_flow_reads_unless_asked(workspace: Any) -> None:
    seeded(workspace)
    workspace.write("google.yaml", google(None))
    workspace.apply(env=ENV)
    workspace.emulator.admin.clear_requests()
    workspace.assert_converged(env=ENV)
    paths = [r["path"] for r in workspace.emulator.admin.requests()]
    assert paths and not any("authenticationEventsFlows" in p for p in paths)
    workspace.write("google.yaml", google(["Customers"]))
    workspace.emulator.admin.clear_requests()
    workspace.plan(env=ENV)
    flow_reads = [r for r in workspace.emulator.admin.requests()
                  if "authenticationEventsFlows" in r["path"]]
    assert len(flow_reads) == 1


# ---- the pure part ------------------------------------------------------------------------

FLOWS = Flows("b2c", (
    Flow("B2C_1_A", "B2C_1_A", ("Google-OAUTH",), "/identity/b2cUserFlows/B2C_1_A/x"),
    Flow("B2C_1_B", "B2C_1_B", (), "/identity/b2cUserFlows/B2C_1_B/x")))
STATE = State(serial=1, lineage="l", fingerprint_key=b"k")
LIVE = (LiveProvider(id="Google-OAUTH", odata_type="#microsoft.graph.socialIdentityProvider",
                     kind="socialIdentityProvider", key="Google", fields={}),)


def _provider(flows: tuple[str, ...] | None) -> Provider:
    return Provider(kind="socialIdentityProvider", key="Google", fields={}, user_flows=flows)


def test_flows_are_read_only_when_needed() -> None:
    plan = Plan(changes=(), unchanged=(ADDRESS,))

    def boom() -> Flows:
        raise AssertionError("flows read although no provider asked")

    assert plan_links(plan, [_provider(None)], LIVE, STATE, flows=boom) is plan
    linked = plan_links(plan, [_provider(("A", "b"))], LIVE, STATE, flows=lambda: FLOWS)
    change = linked.changes[0]
    assert change.action is Action.UPDATE and linked.unchanged == ()
    assert [(link.flow_id, link.attach) for link in change.links] == [("B2C_1_B", True)]
    assert change.fields[0].before == ["A"] and change.fields[0].after == ["A", "b"]


def test_replace_moves_the_links_to_the_new_object() -> None:
    replace = Change(action=Action.REPLACE, kind="socialIdentityProvider", key="Google",
                     graph_id="Google-OAUTH", fields=(FieldChange("clientId", "a", "b"),),
                     body={})
    other = Provider(kind="socialIdentityProvider", key="Facebook", fields={}, user_flows=())
    plan = plan_links(Plan(changes=(replace,)), [_provider(None), other], LIVE, STATE,
                      flows=lambda: FLOWS)
    change = plan.changes[0]
    assert [(link.flow_id, link.attach) for link in change.links] == [
        ("B2C_1_A", False), ("B2C_1_A", True)]
    assert any("the old object leaves user flow(s) B2C_1_A; the new one joins B2C_1_A" in note
               for note in change.notes)


def test_unknown_flow_names_provider_and_flow() -> None:
    with pytest.raises(PlanError, match=r"socialIdentityProvider/Google: userFlows: .*'C'"):
        plan_links(Plan(changes=(), unchanged=(ADDRESS,)), [_provider(("C",))], LIVE, STATE,
                   flows=lambda: FLOWS)


@pytest.mark.parametrize(("kind", "family"), [("b2c", "IdentityUserFlow"),
                                              ("external", "EventListener")])
def test_apply_without_the_flow_permission_writes_nothing(make_workspace: Any, kind: str,
                                                           family: str) -> None:
    ws = make_workspace(kind)
    seeded(ws)
    client_id, secret = f"flow-reader-{kind}", f"CANARY-flow-reader-{kind}"
    ws.emulator.admin.register_client({"clientId": client_id, "secret": secret, "roles": [
        "IdentityProvider.ReadWrite.All", f"{family}.Read.All"]})
    ws.config.write_text(ws.config.read_text().replace(ws.emulator.client_id, client_id))
    ws.write("google.yaml", google([NAMES[kind][0]]))
    env = {**ENV, CLIENT_SECRET_ENV: secret}
    assert ws.run("plan", "--detailed-exitcode", env=env).code == 2
    ws.emulator.admin.clear_requests()
    refused = ws.run("apply", "--auto-approve", env=env)
    assert refused.code == 1 and f"lacks {family}.ReadWrite.All" in refused.err, refused.text
    assert "External ID User Flow Administrator" in refused.err
    writes = [r for r in ws.emulator.admin.requests() if r["method"] != "GET"
              and not r["path"].endswith("/token")]
    assert writes == []


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
SECRET_AUTH = "  method: client_secret_post\n  clientSecret: {env: GOOGLE_SECRET}"
JWT_AUTH = "  method: private_key_jwt"


def test_replace_moves_the_provider_to_its_new_object(workspace: Any) -> None:
    seeded(workspace)
    workspace.write("contoso.yaml", CONTOSO % SECRET_AUTH)
    workspace.apply(env=ENV)
    old_id = next(p["id"] for p in workspace.live() if p.get("displayName") == "Contoso")
    assert old_id in links(workspace)["Customers"]
    workspace.write("contoso.yaml", CONTOSO % JWT_AUTH)
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"replace": ["oidcIdentityProvider/Contoso"]}
    assert any("the old object leaves user flow(s) Customers; the new one joins Customers"
               in note for note in plan["changes"][0]["notes"])
    workspace.apply("--allow-destroy", env=ENV)
    workspace.assert_converged(env=ENV)
    new_id = next(p["id"] for p in workspace.live() if p.get("displayName") == "Contoso")
    assert new_id != old_id
    assert links(workspace)["Customers"] == ["EmailPassword-OAUTH", new_id]


def test_saved_plan_is_stale_when_a_flow_link_moved_in_the_portal(workspace: Any) -> None:
    ids = seeded(workspace)
    workspace.write("google.yaml", google(["Customers"]))
    workspace.apply(env=ENV)
    workspace.write("google.yaml", google(["Customers", "Partners"]))
    saved = workspace.run("plan", "--offline", "--out", "plan.json", env=ENV)
    assert saved.code == 0, saved.text
    workspace.emulator.admin.call("PATCH", f"/userflows/{ids['Partners']}",
                                  {"identityProviders": ["EmailPassword-OAUTH", "Google-OAUTH"]})
    refused = workspace.run("apply", "plan.json", env=ENV)
    assert refused.code == 1 and "stale" in refused.err and ADDRESS in refused.err
    assert "differs from the saved plan" in refused.err  # the basis does not digest links
    assert links(workspace)["Partners"] == ["EmailPassword-OAUTH", "Google-OAUTH"]
