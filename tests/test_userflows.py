"""User flows end to end against the emulator: attach and detach re-plan empty per tenant
kind, `userFlows: []`, unknown flows, drift from the portal, deletes of a provider a flow
still offers, and no flow reads when nothing asks for them (docs/userflows.md)."""

from __future__ import annotations

from dataclasses import replace as replace_
from typing import Any

import pytest

from idpctl.errors import PlanError
from idpctl.model import (
    Action,
    Change,
    FieldChange,
    Flow,
    Flows,
    LiveProvider,
    ManagedRecord,
    Plan,
    Provider,
    State,
)
from idpctl.plan.userflows import needed, plan_links
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
SEEDS = {
    "external": [{"displayName": "Customers"}, {"displayName": "Partners"}],
    "b2c": [{"id": "SignUpSignIn"}, {"id": "Partners"}],
    "workforce": [{"id": "Customers"}, {"id": "Partners"}],
}
NAMES = {
    "external": ("Customers", "Partners"),
    "b2c": ("B2C_1_SignUpSignIn", "Partners"),
    "workforce": ("Customers", "B2X_1_Partners"),
}


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
    assert "Google-OAUTH" in next(
        v for k, v in links(ws).items() if first.endswith(k) or k.endswith(first)
    )
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
    workspace.emulator.admin.call(
        "PATCH",
        f"/userflows/{ids['Partners']}",
        {"identityProviders": ["EmailPassword-OAUTH", "Google-OAUTH"]},
    )
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
    assert links(workspace) == {
        "Customers": ["EmailPassword-OAUTH", "Facebook-OAUTH"],
        "Partners": ["EmailPassword-OAUTH"],
    }


def test_unmanaged_flows_are_detached_before_a_delete(workspace: Any) -> None:
    ids = seeded(workspace)
    workspace.write("google.yaml", google(None))
    workspace.write("facebook.yaml", FACEBOOK)
    workspace.apply(env=ENV)
    workspace.emulator.admin.call(
        "PATCH",
        f"/userflows/{ids['Customers']}",
        {"identityProviders": ["EmailPassword-OAUTH", "Facebook-OAUTH", "Google-OAUTH"]},
    )
    workspace.write("google.yaml", GOOGLE + "ensure: absent\n")
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"delete": [ADDRESS]}
    assert "leaves user flow(s) Customers" in plan["changes"][0]["notes"]
    workspace.apply("--allow-destroy", env=ENV)
    assert links(workspace)["Customers"] == ["EmailPassword-OAUTH", "Facebook-OAUTH"]


@pytest.mark.parametrize("kind", ["external", "b2c", "workforce"])
def test_a_delete_always_detaches_from_the_flows_first(make_workspace: Any, kind: str) -> None:
    """No provider sets userFlows, yet a delete reads the flows, shows that the provider
    leaves them, and detaches it before the DELETE: one apply, converged (issue 13.2)."""
    ws = make_workspace(kind)
    ids = seeded(ws)
    ws.write("google.yaml", google(None))
    ws.apply(env=ENV)
    first, second = (ids[n] for n in NAMES[kind])
    keep = ["EmailPassword-OAUTH"] if kind == "external" else []  # a flow keeps one
    for flow_id in (first, second):
        ws.emulator.admin.call(
            "PATCH", f"/userflows/{flow_id}", {"identityProviders": [*keep, "Google-OAUTH"]}
        )
    ws.remove("google.yaml")
    plan = ws.plan(env=ENV)
    assert actions(plan) == {"delete": [ADDRESS]}
    assert any(n.startswith("leaves user flow(s) ") for n in plan["changes"][0]["notes"])
    assert len(flow_field(plan)["before"]) == 2 and flow_field(plan)["after"] == []
    ws.emulator.admin.clear_requests()
    done = ws.run("apply", "--auto-approve", "--allow-destroy", env=ENV)
    assert done.code == 0, done.text
    assert not any(p["id"] == "Google-OAUTH" for p in ws.live())
    assert not any("Google-OAUTH" in v for v in links(ws).values())
    ws.assert_converged(env=ENV)


def test_no_flow_reads_unless_asked(workspace: Any) -> None:
    """Flows are read only when a provider sets userFlows or the plan deletes or replaces:
    a plan of creates and updates alone costs no flow request."""
    seeded(workspace)
    workspace.write("google.yaml", google(None))
    workspace.apply(env=ENV)
    workspace.emulator.admin.clear_requests()
    workspace.assert_converged(env=ENV)
    workspace.write("google.yaml", GOOGLE.replace("clientId: google-client", "clientId: g2"))
    workspace.plan(env=ENV)
    paths = [r["path"] for r in workspace.emulator.admin.requests()]
    assert paths and not any("authenticationEventsFlows" in p for p in paths)
    workspace.write("google.yaml", google(["Customers"]))
    workspace.emulator.admin.clear_requests()
    workspace.plan(env=ENV)
    flow_reads = [
        r for r in workspace.emulator.admin.requests() if "authenticationEventsFlows" in r["path"]
    ]
    assert len(flow_reads) == 1
    workspace.write("google.yaml", GOOGLE + "ensure: absent\n")
    workspace.emulator.admin.clear_requests()
    workspace.plan(env=ENV)
    assert (
        len(
            [
                r
                for r in workspace.emulator.admin.requests()
                if "authenticationEventsFlows" in r["path"]
            ]
        )
        == 1
    )


@pytest.mark.parametrize("kind", ["b2c", "workforce"])
def test_b2c_and_b2x_links_are_read_through_documented_endpoints(
    make_workspace: Any, kind: str
) -> None:
    """The flow list without a query, then each flow's userFlowIdentityProviders list in one
    parallel $batch: 1 + ceil(flows / 20) requests, no undocumented $expand (issue 12.2)."""
    ws = make_workspace(kind)
    seeded(ws)
    ws.write("google.yaml", google([NAMES[kind][0]]))
    ws.emulator.admin.clear_requests()
    ws.plan(env=ENV)
    log = ws.emulator.admin.requests()
    outer = [r for r in log if not r.get("batch")]
    coll = {"b2c": "b2cUserFlows", "workforce": "b2xUserFlows"}[kind]
    lists = [r for r in outer if r["path"].endswith(f"/identity/{coll}")]
    assert len(lists) == 1 and not lists[0].get("query")
    batch_ids = {r["requestId"] for r in outer if r["path"].endswith("/$batch")}
    items = [r for r in log if r.get("batch") in batch_ids]
    assert len(batch_ids) == 1 and len(items) == 2
    assert all(
        r["method"] == "GET" and r["path"].endswith("/userFlowIdentityProviders") for r in items
    )
    assert "expand" not in str([r["path"] + str(r.get("query", "")) for r in log]).lower()


# ---- the pure part ------------------------------------------------------------------------

FLOWS = Flows(
    "b2c",
    (
        Flow("B2C_1_A", "B2C_1_A", ("Google-OAUTH",), "/identity/b2cUserFlows/B2C_1_A/x"),
        Flow("B2C_1_B", "B2C_1_B", (), "/identity/b2cUserFlows/B2C_1_B/x"),
    ),
)
STATE = State(serial=1, lineage="l", fingerprint_key=b"k")
LIVE = (
    LiveProvider(
        id="Google-OAUTH",
        odata_type="#microsoft.graph.socialIdentityProvider",
        kind="socialIdentityProvider",
        key="Google",
        fields={},
    ),
)


def _provider(flows: tuple[str, ...] | None) -> Provider:
    return Provider(kind="socialIdentityProvider", key="Google", fields={}, user_flows=flows)


def test_flows_are_read_only_when_needed() -> None:
    plan = Plan(changes=(), unchanged=(ADDRESS,))
    assert not needed(plan, [_provider(None)])
    assert needed(plan, [_provider(())])
    delete = Change(
        action=Action.DELETE, kind="socialIdentityProvider", key="Google", graph_id="Google-OAUTH"
    )
    assert needed(Plan(changes=(delete,)), [])
    assert not needed(Plan(changes=(replace_(delete, graph_id=None),)), [])
    assert plan_links(plan, [_provider(None)], LIVE, STATE, flows=None) is plan
    assert plan_links(plan, [_provider(None)], LIVE, STATE, flows=FLOWS) == plan
    linked = plan_links(plan, [_provider(("A", "b"))], LIVE, STATE, flows=FLOWS)
    change = linked.changes[0]
    assert change.action is Action.UPDATE and linked.unchanged == ()
    assert [(link.flow_id, link.attach) for link in change.links] == [("B2C_1_B", True)]
    assert change.fields[0].before == ["A"] and change.fields[0].after == ["A", "b"]


def test_replace_moves_the_links_to_the_new_object() -> None:
    replace = Change(
        action=Action.REPLACE,
        kind="socialIdentityProvider",
        key="Google",
        graph_id="Google-OAUTH",
        fields=(FieldChange("clientId", "a", "b"),),
        body={},
    )
    other = Provider(kind="socialIdentityProvider", key="Facebook", fields={}, user_flows=())
    plan = plan_links(Plan(changes=(replace,)), [_provider(None), other], LIVE, STATE, flows=FLOWS)
    change = plan.changes[0]
    assert [(link.flow_id, link.attach) for link in change.links] == [
        ("B2C_1_A", False),
        ("B2C_1_A", True),
    ]
    assert any(
        "the old object leaves user flow(s) B2C_1_A; the new one joins B2C_1_A" in note
        for note in change.notes
    )


def test_unknown_flow_names_provider_and_flow() -> None:
    with pytest.raises(PlanError, match=r"socialIdentityProvider/Google: userFlows: .*'C'"):
        plan_links(
            Plan(changes=(), unchanged=(ADDRESS,)), [_provider(("C",))], LIVE, STATE, flows=FLOWS
        )


@pytest.mark.parametrize(
    ("kind", "family"), [("b2c", "IdentityUserFlow"), ("external", "EventListener")]
)
def test_apply_without_the_flow_permission_writes_nothing(
    make_workspace: Any, kind: str, family: str
) -> None:
    ws = make_workspace(kind)
    seeded(ws)
    client_id, secret = f"flow-reader-{kind}", f"CANARY-flow-reader-{kind}"
    ws.emulator.admin.register_client(
        {
            "clientId": client_id,
            "secret": secret,
            "roles": ["IdentityProvider.ReadWrite.All", f"{family}.Read.All"],
        }
    )
    ws.config.write_text(ws.config.read_text().replace(ws.emulator.client_id, client_id))
    ws.write("google.yaml", google([NAMES[kind][0]]))
    env = {**ENV, CLIENT_SECRET_ENV: secret}
    planned = ws.run("plan", "--detailed-exitcode", env=env)
    ws.emulator.admin.clear_requests()
    refused = ws.run("apply", "--auto-approve", env=env)
    if kind == "b2c":
        # a B2C flow's provider list names only IdentityUserFlow.ReadWrite.All
        # (b2cidentityuserflow-list-userflowidentityproviders.md): plan already stops
        for result in (planned, refused):
            assert result.code == 1 and "IdentityUserFlow.ReadWrite.All" in result.err
            assert "Traceback" not in result.text and len(result.err.splitlines()) == 1
    else:
        assert planned.code == 2
        assert refused.code == 1 and f"lacks {family}.ReadWrite.All" in refused.err, refused.text
        assert "External ID User Flow Administrator" in refused.err
    writes = [
        r
        for r in ws.emulator.admin.requests()
        if r["method"] != "GET" and not r["path"].endswith(("/token", "/$batch"))
    ]  # batch items count alone
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
    assert any(
        "the old object leaves user flow(s) Customers; the new one joins Customers" in note
        for note in plan["changes"][0]["notes"]
    )
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
    workspace.emulator.admin.call(
        "PATCH",
        f"/userflows/{ids['Partners']}",
        {"identityProviders": ["EmailPassword-OAUTH", "Google-OAUTH"]},
    )
    refused = workspace.run("apply", "plan.json", env=ENV)
    assert refused.code == 1 and "stale" in refused.err and ADDRESS in refused.err
    assert "differs from the saved plan" in refused.err  # the basis does not digest links
    assert links(workspace)["Partners"] == ["EmailPassword-OAUTH", "Google-OAUTH"]


@pytest.mark.parametrize(
    "root", ["https://graph.microsoft.us/beta", "https://microsoftgraph.chinacloudapi.cn/beta/"]
)
def test_a_link_names_the_configured_graph_host(root: str) -> None:
    """Sovereign clouds: the `$ref` body's @odata.id names the Graph host idpctl talks to,
    never graph.microsoft.com (issue 12.4)."""
    from idpctl.graph.userflows import link_items
    from idpctl.model import FlowLink

    change = Change(
        action=Action.UPDATE,
        kind="socialIdentityProvider",
        key="Google",
        graph_id="Google-OAUTH",
        links=(FlowLink("B2C_1_A", "A", "/p", True),),
    )
    [item] = link_items(change, "Google-OAUTH", attach=True, root=root)
    assert item["body"] == {
        "@odata.id": root.rstrip("/") + "/identity/identityProviders/Google-OAUTH"
    }
    assert "graph.microsoft.com" not in str(item)


def test_a_pending_re_link_is_planned_from_the_state() -> None:
    """A record whose replace did not finish keeps the flows its old object left: the create
    re-attaches to exactly those (the file does not set userFlows); a file that sets it
    wins; once the provider is back in them the record is cleared (state only). Pure."""
    record = ManagedRecord(
        kind="socialIdentityProvider", key="Google", id="gone", relink=("B2C_1_B",)
    )
    state = State(serial=1, lineage="l", fingerprint_key=b"k", providers={ADDRESS: record})
    create = Change(action=Action.CREATE, kind="socialIdentityProvider", key="Google", body={})
    plan = Plan(changes=(create,))
    assert needed(plan, [_provider(None)], state) and not needed(plan, [_provider(None)])
    change = plan_links(plan, [_provider(None)], (), state, flows=FLOWS).changes[0]
    assert [(link.flow_id, link.attach) for link in change.links] == [("B2C_1_B", True)]
    assert (
        change.fields[-1].after == ["B2C_1_B"] and "re-attach to B2C_1_B" in change.fields[-1].note
    )
    assert any("B2C_1_B" in note for note in change.notes)
    filed = plan_links(plan, [_provider(("A",))], (), state, flows=FLOWS).changes[0]
    assert [(link.flow_id, link.attach) for link in filed.links] == [("B2C_1_A", True)]
    back = State(
        serial=1,
        lineage="l",
        fingerprint_key=b"k",
        providers={ADDRESS: replace_(record, id="Google-OAUTH", relink=("B2C_1_A",))},
    )
    cleared = plan_links(
        Plan(changes=(), unchanged=(ADDRESS,)), [_provider(None)], LIVE, back, flows=FLOWS
    )
    [done] = cleared.changes
    assert done.action is Action.UPDATE and done.links == () and done.fields[0].state_only
    assert (done.fields[0].name, done.fields[0].before, done.fields[0].after) == (
        "relink",
        ["B2C_1_A"],
        [],
    )


def test_planning_gets_the_flows_as_data_never_the_client(monkeypatch: Any) -> None:
    """The reads are the pipeline's: `read_live` hands on a plain tuple (no client rides on
    it), `read_flows` reads the flows only when the draft needs them, and `build_plan` plans
    the links from the flows it is given, with nothing that could send a request."""
    from types import SimpleNamespace

    from idpctl.cli import pipeline
    from idpctl.graph import userflows
    from idpctl.kinds import load_kinds

    class Tenant:
        def __init__(self) -> None:
            self.reads: list[str] = []

        def list_providers(self) -> list[Any]:
            self.reads.append("providers")
            return []

    tenant, kinds = Tenant(), load_kinds()
    live = pipeline.read_live(tenant, kinds)
    assert type(live) is tuple and tenant.reads == ["providers"]
    asked: list[Any] = []
    monkeypatch.setattr(userflows, "read", lambda graph, kind: asked.append(graph) or FLOWS)
    settings = SimpleNamespace(tenant="t", tenant_kind="b2c", api_version=None, path="idpctl.yaml")
    for flows_set, read in ((None, False), (("A", "b"), True)):
        asked.clear()
        desired = pipeline.Desired(settings, kinds, (_provider(flows_set),))
        draft = pipeline.draft_plan(desired, LIVE, STATE)
        flows = pipeline.read_flows(tenant, desired, draft, STATE)
        assert (flows is FLOWS, asked) == (read, [tenant] if read else [])
        plan = pipeline.build_plan(draft, desired, LIVE, STATE, flows=flows)
        links = [(link.flow_id, link.attach) for c in plan.changes for link in c.links]
        assert links == ([("B2C_1_B", True)] if read else [])
