"""Which Graph version each request uses (apiversions.py, docs/api-versions.md): v1.0 where
v1.0 documents the kind, beta otherwise, per kind, overridable in idpctl.yaml; the plan says
which, apply sends it there, and one list walk sees every provider idpctl manages."""

from __future__ import annotations

from typing import Any

import pytest

from idpctl.config import apiversions
from idpctl.errors import ConfigError
from idpctl.kinds import load_kinds
from idpctl.model import Action, Change, FlowLink, Plan
from reliability import ENV, GOOGLE, contoso
from workspace import Workspace

KINDS = load_kinds()
CONTOSO = contoso()


def test_defaults_follow_the_v1_docs_and_metadata() -> None:
    versions = apiversions.choose(KINDS, None, tenant_kind="external")
    assert {k: versions.of(k) for k in KINDS} == {
        "socialIdentityProvider": "v1.0",
        "appleManagedIdentityProvider": "v1.0",
        "builtInIdentityProvider": "v1.0",
        "oidcIdentityProvider": "beta",
        "openIdConnectIdentityProvider": "beta",
    }
    # external manages a beta kind: one beta list sees everything
    assert versions.list_version == "beta"
    assert apiversions.choose(KINDS, None, tenant_kind="workforce").list_version == "v1.0"
    assert apiversions.choose(KINDS, None, tenant_kind="b2c").list_version == "beta"


def test_overrides_per_kind_and_for_all() -> None:
    mine = apiversions.choose(KINDS, {"oidcIdentityProvider": "v1.0"}, tenant_kind="external")
    assert mine.of("oidcIdentityProvider") == "v1.0" and mine.list_version == "v1.0"
    everything = apiversions.choose(KINDS, "beta", tenant_kind="workforce")
    assert {everything.of(k) for k in KINDS} == {"beta"} and everything.list_version == "beta"
    # one version for all: kinds whose metadata lacks it keep beta
    assert (
        apiversions.choose(KINDS, "v1.0", tenant_kind="b2c").of("openIdConnectIdentityProvider")
        == "beta"
    )


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"openIdConnectIdentityProvider": "v1.0"}, "is not in Graph v1.0"),
        ({"nope": "beta"}, "not a provider kind"),
        (3, "expected v1.0 or beta"),
    ],
)
def test_impossible_overrides_are_refused(override: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        apiversions.choose(KINDS, override, tenant_kind="b2c")


def test_a_change_with_user_flow_links_goes_wholly_to_beta() -> None:
    versions = apiversions.choose(KINDS, None, tenant_kind="external")
    link = FlowLink(flow="Customers", flow_id="f1", path="/identity/x", attach=False)
    plain = Change(Action.DELETE, "socialIdentityProvider", "Google", graph_id="Google-OAUTH")
    linked = Change(
        Action.DELETE, "socialIdentityProvider", "Google", graph_id="Google-OAUTH", links=(link,)
    )
    forgotten = Change(Action.DELETE, "socialIdentityProvider", "Google")
    plan = apiversions.annotate(Plan(changes=(plain, linked, forgotten)), versions)
    assert [c.api_version for c in plan.changes] == ["v1.0", "beta", None]


def _api_version(ws: Workspace, value: str) -> None:
    text = ws.config.read_text(encoding="utf-8")
    ws.config.write_text(
        text.replace("graph:\n", f"graph:\n  apiVersion: {value}\n", 1), encoding="utf-8"
    )


def _graph_paths(ws: Workspace) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in ws.emulator.admin.requests()
        if r["path"].startswith(("/v1.0/", "/beta/")) and not r.get("batch")
    ]


def test_plan_says_and_apply_sends_each_kind_to_its_version(workspace: Workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    workspace.write("contoso.yaml", CONTOSO)
    plan = workspace.plan(env=ENV)
    assert {c["address"]: c["api_version"] for c in plan["changes"]} == {
        "socialIdentityProvider/Google": "v1.0",
        "oidcIdentityProvider/Contoso": "beta",
    }
    text = workspace.run("plan", env=ENV).out
    assert "socialIdentityProvider/Google will be created (Graph v1.0)" in text
    markdown = workspace.run("plan", "--format", "markdown", env=ENV).out
    assert "Graph version: `beta`" in markdown
    workspace.emulator.admin.clear_requests()
    workspace.apply(env=ENV)
    paths = _graph_paths(workspace)
    # one list walk (beta: a beta kind is managed), then one $batch per version
    assert paths.count("GET /beta/identity/identityProviders") == 1
    assert "POST /v1.0/$batch" in paths and "POST /beta/$batch" in paths
    items = {
        (r["method"], r["path"]) for r in workspace.emulator.admin.requests() if r.get("batch")
    }
    assert items == {
        ("POST", "/v1.0/identity/identityProviders"),
        ("POST", "/beta/identity/identityProviders"),
    }
    workspace.assert_converged(env=ENV)


def test_override_in_idpctl_yaml_moves_kind_and_list(workspace: Workspace) -> None:
    _api_version(workspace, "{oidcIdentityProvider: v1.0}")
    workspace.write("contoso.yaml", CONTOSO)
    workspace.emulator.admin.clear_requests()
    workspace.apply(env=ENV)
    paths = _graph_paths(workspace)
    assert "GET /v1.0/identity/identityProviders" in paths
    assert not any(p.startswith(("GET /beta", "POST /beta")) for p in paths), paths
    workspace.assert_converged(env=ENV)


def test_a_kind_v1_lacks_is_refused_at_its_line(make_workspace: Any) -> None:
    ws = make_workspace("b2c")
    _api_version(ws, "{openIdConnectIdentityProvider: v1.0}")
    result = ws.run("validate")
    assert result.code == 1 and "Traceback" not in result.text
    assert "idpctl.yaml:4:" in result.text and "is not in Graph v1.0" in result.text, result.text
    planned = ws.run("plan")
    assert planned.code == 1 and "is not in Graph v1.0" in planned.err, planned.text
