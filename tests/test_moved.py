"""Renames in review: `moved: {from: KIND/OLD KEY}` in a provider file.

Against the emulator: plan shows an in-place rename (a displayName update on the same Graph
object, never a delete and a create), apply records the new address, the declaration is then
a no-op, and a saved plan carries the rename. Plain planner calls cover the conflicts (two
files claiming one old key, a chain, an old key still declared, a move onto a live key, a
kind change), each a located error."""

from __future__ import annotations

import pytest

from idpctl.errors import PlanError
from idpctl.kinds import load_kinds
from idpctl.model import Action, LiveProvider, Location, ManagedRecord, Provider, State
from idpctl.plan import build as planner

KINDS = load_kinds()
OLD, NEW = "oidcIdentityProvider/Contoso", "oidcIdentityProvider/Contoso Partners"
ENV = {"G_SECRET": "CANARY-contoso-moved"}
GOOGLE = """\
kind: oidcIdentityProvider
displayName: {name}
clientId: contoso-client
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: openid
clientAuthentication: {{method: client_secret_post, clientSecret: {{env: G_SECRET}}}}
inboundClaimMapping: {{sub: sub, email: email}}
{extra}"""


def _applied(ws):
    ws.write("google.yaml", GOOGLE.format(name="Contoso", extra=""))
    assert ws.apply(env=ENV).code == 0
    ws.assert_converged(env=ENV)
    return ws.state()["providers"][OLD]["id"]


def test_a_rename_by_moved_is_an_in_place_update_then_a_no_op(workspace) -> None:
    graph_id = _applied(workspace)
    workspace.write(
        "google.yaml", GOOGLE.format(name="Contoso Partners", extra=f'moved: {{from: "{OLD}"}}\n')
    )
    plan = workspace.plan(env=ENV)
    [change] = plan["changes"]
    assert change["action"] == "update" and change["address"] == NEW
    assert change["graphId"] == graph_id if "graphId" in change else True
    names = [f["name"] for f in change["fields"]]
    assert names == ["address", "displayName"]
    text = workspace.run("plan", env=ENV).out
    assert f"moved from {OLD}" in text and "to delete" in text and "0 to delete" in text
    assert workspace.apply(env=ENV).code == 0
    state = workspace.state()["providers"]
    assert OLD not in state and state[NEW]["id"] == graph_id
    assert state[NEW]["secrets"]["clientAuthentication.clientSecret"]["source"] == "env:G_SECRET"
    [live] = [p for p in workspace.live() if p["id"] == graph_id]
    assert live["displayName"] == "Contoso Partners"
    workspace.assert_converged(env=ENV)  # the moved: declaration is now a no-op
    assert workspace.run("plan", "--detailed-exitcode", env=ENV).code == 0


def test_a_saved_plan_carries_the_rename(workspace) -> None:
    graph_id = _applied(workspace)
    workspace.write(
        "google.yaml", GOOGLE.format(name="Contoso Partners", extra=f'moved: {{from: "{OLD}"}}\n')
    )
    saved = workspace.run("plan", "--out", "rename.plan.json", env=ENV)
    assert saved.code == 0, saved.text
    assert workspace.run("apply", "rename.plan.json", env=ENV).code == 0
    assert workspace.state()["providers"][NEW]["id"] == graph_id
    workspace.assert_converged(env=ENV)


def test_without_moved_the_same_edit_is_a_delete_and_a_create(workspace) -> None:
    """The control: what `moved` saves a reviewer from."""
    _applied(workspace)
    workspace.write("google.yaml", GOOGLE.format(name="Contoso Partners", extra=""))
    plan = workspace.plan(env=ENV)
    assert sorted(c["action"] for c in plan["changes"]) == ["create", "delete"]


# -- conflicts, as plain planner calls -------------------------------------------------------


K = "oidcIdentityProvider"
AUTH = "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
SAME = {
    "clientId": "c",
    "issuer": "https://i/",
    "responseType": "code",
    "scope": "openid",
    "wellKnownEndpoint": "https://i/.well-known/openid-configuration",
    "inboundClaimMapping": {"sub": "sub", "email": "email"},
    "clientAuthentication": {"@odata.type": AUTH},
}


def _p(key: str, moved: str | None = None, line: int = 1, kind: str = K) -> Provider:
    return Provider(
        kind=kind,
        key=key,
        fields={"displayName": key, **SAME},
        auth_method="private_key_jwt",
        location=Location(f"providers/{key}.yaml", line, 1),
        moved_from=moved,
    )


def _live(key: str, graph_id: str) -> LiveProvider:
    return LiveProvider(
        id=graph_id,
        odata_type=f"#microsoft.graph.{K}",
        kind=K,
        key=key,
        fields={"displayName": key, **SAME},
    )


def _state(*keys: str) -> State:
    return State(
        serial=1,
        lineage="l",
        fingerprint_key=b"k" * 32,
        providers={
            f"{K}/{k}": ManagedRecord(kind=K, key=k, id=f"id-{k}", auth_method="private_key_jwt")
            for k in keys
        },
    )


def _plan(desired, live, state):
    return planner.build(desired, live, state, kinds=KINDS)


def test_planner_renames_in_place() -> None:
    plan = _plan([_p("B", f"{K}/A")], [_live("A", "id-A")], _state("A"))
    [change] = plan.changes
    assert change.action is Action.UPDATE and change.graph_id == "id-A"
    assert planner.moved_from(change) == f"{K}/A"
    assert change.body == {"@odata.type": f"#microsoft.graph.{K}", "displayName": "B"}


def test_planner_applied_move_is_a_no_op() -> None:
    state = State(
        serial=1,
        lineage="l",
        fingerprint_key=b"k" * 32,
        providers={
            f"{K}/B": ManagedRecord(kind=K, key="B", id="id-A", auth_method="private_key_jwt")
        },
    )
    assert not _plan([_p("B", f"{K}/A")], [_live("B", "id-A")], state).has_changes


@pytest.mark.parametrize(
    ("desired", "live", "managed", "message"),
    [
        (
            [_p("B", "oidcIdentityProvider/A", 3), _p("C", "oidcIdentityProvider/A", 4)],
            [_live("A", "id-A")],
            ("A",),
            r"^providers/C.yaml:4:1: oidcIdentityProvider/C moved.from oidcIdentityProvider/A: "
            r"also claimed by oidcIdentityProvider/B at providers/B.yaml:3:1",
        ),
        (
            [_p("B", "oidcIdentityProvider/A"), _p("C", "oidcIdentityProvider/B", 7)],
            [_live("A", "id-A")],
            ("A",),
            r"^providers/C.yaml:7:1: .*a chain",
        ),
        (
            [_p("A"), _p("B", "oidcIdentityProvider/A", 2)],
            [_live("A", "id-A")],
            ("A",),
            r"^providers/B.yaml:2:1: .*oidcIdentityProvider/A is still declared at "
            r"providers/A.yaml",
        ),
        (
            [_p("B", "oidcIdentityProvider/A", 5)],
            [_live("A", "id-A"), _live("B", "id-B")],
            ("A",),
            r"^providers/B.yaml:5:1: .*already has a provider oidcIdentityProvider/B \(id id-B\)",
        ),
        (
            [_p("B", "openIdConnectIdentityProvider/A", 6)],
            [],
            (),
            r"^providers/B.yaml:6:1: .*keeps the kind",
        ),
        (
            [_p("B", "socialIdentityProvider/A", 6, kind="socialIdentityProvider")],
            [],
            (),
            r"keyed by identityProviderType, which Graph cannot change in place",
        ),
        ([_p("B", "oidcIdentityProvider/B", 6)], [], (), r"names the provider itself"),
    ],
)
def test_planner_move_conflicts_are_located_errors(desired, live, managed, message) -> None:
    with pytest.raises(PlanError, match=message):
        _plan(desired, live, _state(*managed))


def test_validate_reports_a_wrong_moved_at_its_line(workspace) -> None:
    workspace.write("a.yaml", GOOGLE.format(name="Contoso", extra=""))
    workspace.write(
        "b.yaml", GOOGLE.format(name="Contoso Partners", extra=f'moved: {{from: "{OLD}"}}\n')
    )
    out = workspace.run("validate")
    assert out.code == 1
    assert (
        "b.yaml:10:15: moved.from oidcIdentityProvider/Contoso: oidcIdentityProvider/"
        "Contoso is still declared at"
    ) in out.out, out.text
