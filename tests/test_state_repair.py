"""`idpctl state mv|rm|pull|push` end to end: repairs of the state that never touch Graph,
each refused while another run holds the lock."""

from __future__ import annotations

import json

import pytest

from idpctl.state.store import LocalStateStore
from workspace import actions

CONTOSO = """\
kind: oidcIdentityProvider
displayName: %s
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
GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
ENV = {"GOOGLE_SECRET": "CANARY-g1", "CONTOSO_SECRET": "CANARY-c1"}
OIDC = "oidcIdentityProvider/"


@pytest.fixture
def applied(workspace):
    workspace.write("contoso.yaml", CONTOSO % "Contoso")
    workspace.write("google.yaml", GOOGLE)
    workspace.apply(env=ENV)
    workspace.emulator.admin.clear_requests()
    return workspace


def graph_requests(ws) -> list[dict]:
    return [
        r
        for r in ws.emulator.admin.requests()
        if "/identity/" in r["path"] or "$batch" in r["path"]
    ]


def test_mv_follows_a_rename_in_the_files(applied) -> None:
    ws = applied
    ws.write("contoso.yaml", CONTOSO % "Contoso Partners")
    assert sorted(actions(ws.plan(env=ENV))) == ["create", "delete"]
    ws.emulator.admin.clear_requests()
    moved = ws.run("state", "mv", OIDC + "Contoso", OIDC + "Contoso Partners")
    assert moved.code == 0, moved.text
    assert graph_requests(ws) == []
    record = ws.state()["providers"][OIDC + "Contoso Partners"]
    assert record["key"] == "Contoso Partners" and OIDC + "Contoso" not in ws.state()["providers"]
    assert actions(ws.plan(env=ENV)) == {"update": [OIDC + "Contoso Partners"]}
    ws.apply(env=ENV)
    ws.assert_converged(env=ENV)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (OIDC + "Contoso", "socialIdentityProvider/Contoso", "kind cannot change"),
        (OIDC + "Contoso", "socialIdentityProvider/Google", "kind cannot change"),
        ("socialIdentityProvider/Google", "socialIdentityProvider/Google", "already in the state"),
        (OIDC + "Contosso", OIDC + "X", "did you mean oidcIdentityProvider/Contoso"),
    ],
)
def test_mv_refusals(applied, old, new, message) -> None:
    before = applied.state_path.read_bytes()
    refused = applied.run("state", "mv", old, new)
    assert refused.code == 1 and message in refused.err
    assert applied.state_path.read_bytes() == before


def test_rm_forgets_without_touching_graph(applied) -> None:
    ws = applied
    removed = ws.run("state", "rm", "socialIdentityProvider/Google")
    assert removed.code == 0 and "left as it is" in removed.out
    assert "socialIdentityProvider/Google" not in ws.state()["providers"]
    assert graph_requests(ws) == [] and any(p["id"] == "Google-OAUTH" for p in ws.live())
    assert actions(ws.plan(env=ENV)) == {"adopt": ["socialIdentityProvider/Google"]}


def test_pull_prints_the_state_and_push_replaces_it(applied, tmp_path) -> None:
    ws = applied
    pulled = ws.run("state", "pull")
    assert pulled.code == 0 and json.loads(pulled.out) == ws.state()
    backup = tmp_path / "backup.json"
    backup.write_text(pulled.out)
    assert ws.run("state", "rm", "socialIdentityProvider/Google").code == 0
    older = ws.run("state", "push", str(backup))
    assert older.code == 1 and "lower than" in older.err
    data = json.loads(pulled.out)
    data["serial"] = ws.state()["serial"]
    backup.write_text(json.dumps(data))
    pushed = ws.run("state", "push", str(backup))
    assert pushed.code == 0, pushed.text
    assert "socialIdentityProvider/Google" in ws.state()["providers"]
    assert ws.state()["serial"] == data["serial"] + 1
    ws.assert_converged(env=ENV)


def test_push_refuses_another_lineage_unless_forced_and_invalid_files(applied, tmp_path) -> None:
    ws = applied
    data = ws.state()
    lineage = data["lineage"]
    other = {**data, "lineage": "00000000-0000-4000-8000-000000000000", "serial": 99}
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    refused = ws.run("state", "push", str(path))
    assert refused.code == 1 and "lineage" in refused.err and "--force" in refused.err
    forced = ws.run("state", "push", "--force", str(path))
    assert forced.code == 0, forced.text
    assert ws.state()["lineage"] == lineage and ws.state()["serial"] == 99
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1, "serial": "x"}')
    before = ws.state_path.read_bytes()
    invalid = ws.run("state", "push", str(bad))
    assert invalid.code == 1 and invalid.err.startswith("Error: ")
    assert len(invalid.err.strip().splitlines()) == 1
    assert ws.state_path.read_bytes() == before


@pytest.mark.parametrize(
    "argv",
    [
        ("mv", OIDC + "Contoso", OIDC + "Other"),
        ("rm", "socialIdentityProvider/Google"),
        ("push", "state.json"),
        ("pull",),
    ],
)
def test_each_repair_is_refused_while_locked(applied, argv) -> None:
    before = applied.state_path.read_bytes()
    with LocalStateStore(applied.state_path).lock(operation="apply") as info:
        refused = applied.run("state", *argv)
    assert refused.code == 1 and "locked" in refused.err and info.lock_id in refused.err
    assert refused.out == ""
    assert applied.state_path.read_bytes() == before


def test_pull_help_says_the_fingerprint_key_is_in_it(workspace) -> None:
    from idpctl.cli.main import build_parser

    text = build_parser().format_help()
    assert "drift" in text and "export" in text and "import" in text
    state = workspace.run("state", "--help")
    assert "fingerprint key" in state.out
