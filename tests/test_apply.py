"""End-to-end plan/apply behaviour against the emulator: adoption, hands-off, stale plans,
locking, the rebinding guard, portal drift, targets, rotation and unknown write outcomes."""

from __future__ import annotations

import hashlib
import json
import threading

from workspace import actions, changed_fields

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
issuer: %(issuer)s
wellKnownEndpoint: %(issuer)s.well-known/openid-configuration
responseType: code
scope: openid profile
clientAuthentication:
  method: client_secret_post
  clientSecret: {env: CONTOSO_SECRET}
inboundClaimMapping: {sub: sub, email: email}
"""
ENV = {"GOOGLE_SECRET": "CANARY-g1", "CONTOSO_SECRET": "CANARY-c1"}
SOCIAL = "#microsoft.graph.socialIdentityProvider"


def contoso(issuer: str = "https://idp.contoso.test/") -> str:
    return CONTOSO % {"issuer": issuer}


def by_name(ws, name: str) -> dict:
    return next(p for p in ws.live() if p.get("displayName") == name)


def test_adopts_a_provider_made_in_the_portal(workspace) -> None:
    workspace.emulator.admin.seed(
        {
            "@odata.type": SOCIAL,
            "displayName": "Google",
            "identityProviderType": "Google",
            "clientId": "old",
            "clientSecret": "portal-secret",
        }
    )
    workspace.write("google.yaml", GOOGLE)
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"adopt": ["socialIdentityProvider/Google"]}
    assert sorted(changed_fields(plan, "socialIdentityProvider/Google")) == [
        "clientId",
        "clientSecret",
    ]
    workspace.apply(env=ENV)
    workspace.assert_converged(env=ENV)
    googles = [p for p in workspace.live() if p.get("identityProviderType") == "Google"]
    assert len(googles) == 1 and googles[0]["clientId"] == "google-client"
    assert workspace.state()["providers"]["socialIdentityProvider/Google"]["id"] == "Google-OAUTH"


def test_never_touches_an_unmanaged_provider(workspace) -> None:
    seeded = workspace.emulator.admin.seed(
        {
            "@odata.type": SOCIAL,
            "displayName": "Facebook",
            "identityProviderType": "Facebook",
            "clientId": "fb",
            "clientSecret": "portal",
        }
    )
    workspace.write("google.yaml", GOOGLE)
    plan = workspace.plan(env=ENV)
    assert "socialIdentityProvider/Facebook" not in json.dumps(plan["changes"])
    assert any(u["id"] == seeded["id"] for u in plan["unmanaged"])
    workspace.apply("--allow-destroy", env=ENV)
    assert by_name(workspace, "Facebook")["clientId"] == "fb"
    sent = [r for r in workspace.emulator.admin.requests() if "Facebook" in r["path"]]
    assert sent == []


def test_stale_plan_file_is_refused(workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    workspace.apply(env=ENV)
    workspace.write("google.yaml", GOOGLE.replace("google-client", "google-client-2"))
    saved = workspace.run("plan", "--out", "plan.json", env=ENV)
    assert saved.code == 0, saved.text
    workspace.emulator.admin.drift("Google-OAUTH", {"displayName": "Changed in the portal"})
    refused = workspace.run("apply", "plan.json", env=ENV)
    assert refused.code == 1
    assert "stale" in refused.err and "socialIdentityProvider/Google" in refused.err
    assert by_name(workspace, "Changed in the portal")["clientId"] == "google-client"


def test_saved_plan_applies_exactly_and_show_renders_it(workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    assert workspace.run("plan", "--out", "plan.json", env=ENV).code == 0
    shown = workspace.run("show", "plan.json", "--format", "markdown")
    assert shown.code == 0 and "socialIdentityProvider/Google" in shown.out
    applied = workspace.run("apply", "plan.json", env=ENV)
    assert applied.code == 0, applied.text
    workspace.assert_converged(env=ENV)


def test_show_and_apply_refuse_a_format_2_plan_file_in_one_line(workspace) -> None:
    from test_planfile import format_2

    workspace.write("google.yaml", GOOGLE)
    assert workspace.run("plan", "--out", "plan.json", env=ENV).code == 0
    path = workspace.root / "plan.json"
    path.write_text(
        json.dumps(format_2(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8"
    )
    for args in (("show", "plan.json"), ("apply", "plan.json")):
        refused = workspace.run(*args, env=ENV)
        assert refused.code == 1 and refused.out == "", refused.text
        assert refused.err.strip().splitlines() == [
            "Error: plan.json: plan file format_version 2 is not supported (this idpctl "
            "reads 3): make a new one with idpctl plan --out"
        ], refused.err
    assert not [p for p in workspace.live() if p.get("identityProviderType") == "Google"]


def test_second_concurrent_apply_is_refused_naming_the_holder(make_workspace) -> None:
    workspace = make_workspace("external", graph_timeout=4)
    workspace.write("google.yaml", GOOGLE)
    workspace.emulator.admin.add_fault(
        method="POST", path=r"/(v1\.0|beta)/\$batch", action="hang", count=1
    )
    first: dict = {}
    thread = threading.Thread(
        target=lambda: first.setdefault(
            "result", workspace.run_process("apply", "--auto-approve", env=ENV)
        )
    )
    thread.start()
    try:
        lock = workspace.state_path.with_name("state.json.lock")
        for _ in range(200):
            if lock.exists():
                break
            threading.Event().wait(0.05)
        second = workspace.run_process("apply", "--auto-approve", env=ENV)
        assert second.code == 1
        assert "locked" in second.err and "idpctl state unlock" in second.err
        assert "pid" in second.err
    finally:
        thread.join(timeout=60)


def test_issuer_change_sends_the_fresh_secret_with_it(workspace) -> None:
    workspace.write("contoso.yaml", contoso())
    workspace.apply(env=ENV)
    workspace.emulator.admin.clear_requests()
    env = {**ENV, "CONTOSO_SECRET": "CANARY-c2"}
    workspace.write("contoso.yaml", contoso("https://idp2.contoso.test/"))
    workspace.apply(env=env)
    patches = [
        r
        for r in workspace.emulator.admin.requests()
        if r["method"] == "PATCH" or r["path"].endswith("$batch")
    ]
    body = json.dumps([r.get("body") for r in patches])
    assert hashlib.sha256(b"CANARY-c2").hexdigest() in body
    workspace.assert_converged(env=env)


def test_claims_member_added_in_the_portal_is_shown_then_removed(workspace) -> None:
    workspace.write("contoso.yaml", contoso())
    workspace.apply(env=ENV)
    live = by_name(workspace, "Contoso")
    mapping = {**live["inboundClaimMapping"], "given_name": "given_name"}
    workspace.emulator.admin.drift(live["id"], {"inboundClaimMapping": mapping})
    plan = workspace.plan(env=ENV)
    assert changed_fields(plan, "oidcIdentityProvider/Contoso") == ["inboundClaimMapping"]
    assert "given_name" in workspace.run("plan", env=ENV).out
    workspace.apply(env=ENV)
    assert by_name(workspace, "Contoso")["inboundClaimMapping"].get("given_name") is None
    workspace.assert_converged(env=ENV)


def test_ensure_absent_on_a_provider_never_managed(workspace) -> None:
    workspace.emulator.admin.seed(
        {
            "@odata.type": SOCIAL,
            "displayName": "Google",
            "identityProviderType": "Google",
            "clientId": "x",
            "clientSecret": "y",
        }
    )
    workspace.write("google.yaml", GOOGLE + "ensure: absent\n")
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"delete": ["socialIdentityProvider/Google"]}
    assert plan["changes"][0]["reasons"] == ["delete_because_ensure_absent_unmanaged"]
    assert "ensure: absent (not yet managed)" in workspace.run("plan", env=ENV).out
    assert workspace.run("apply", "--auto-approve", env=ENV).code == 1
    workspace.apply("--allow-destroy", env=ENV)
    assert not [p for p in workspace.live() if p.get("identityProviderType") == "Google"]
    workspace.assert_converged(env=ENV)


def test_protected_provider_is_never_deleted(workspace) -> None:
    workspace.write("google.yaml", GOOGLE + "protected: true\n")
    workspace.apply(env=ENV)
    workspace.remove("google.yaml")
    refused = workspace.run("apply", "--auto-approve", "--allow-destroy", env=ENV)
    assert refused.code == 1 and "protected" in refused.err
    assert by_name(workspace, "Google")


def test_target_limits_the_plan_and_the_apply(workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    workspace.write("contoso.yaml", contoso())
    plan = workspace.plan("--target", "socialIdentityProvider/Google", env=ENV)
    assert actions(plan) == {"create": ["socialIdentityProvider/Google"]}
    workspace.apply("--target", "socialIdentityProvider/Google", env=ENV)
    assert [p["displayName"] for p in workspace.live() if "Contoso" in p["displayName"]] == []
    bad = workspace.run("plan", "--target", "Google", env=ENV)
    assert bad.code == 1 and "KIND/KEY" in bad.err


def test_rotate_resends_an_unchanged_secret(workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    workspace.apply(env=ENV)
    plan = workspace.plan("--rotate", "socialIdentityProvider/Google", env=ENV)
    assert changed_fields(plan, "socialIdentityProvider/Google") == ["clientSecret"]
    workspace.emulator.admin.clear_requests()
    workspace.apply("--rotate", "socialIdentityProvider/Google", env=ENV)
    sent = json.dumps([r.get("body") for r in workspace.emulator.admin.requests()])
    assert hashlib.sha256(b"CANARY-g1").hexdigest() in sent
    workspace.assert_converged(env=ENV)


def test_dropped_connection_after_a_create_makes_no_twin(workspace) -> None:
    workspace.write("contoso.yaml", contoso())
    workspace.emulator.admin.add_fault(
        method="POST", path=r"/(v1\.0|beta)/\$batch", when="after", action="drop", count=1
    )
    result = workspace.run("apply", "--auto-approve", env=ENV)
    assert result.code == 0, result.text
    assert "outcome" in result.out
    twins = [p for p in workspace.live() if p.get("displayName") == "Contoso"]
    assert len(twins) == 1
    assert workspace.state()["providers"]["oidcIdentityProvider/Contoso"]["id"] == twins[0]["id"]
    workspace.assert_converged(env=ENV)


def test_apply_without_a_terminal_needs_auto_approve(workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    result = workspace.run_process("apply", env=ENV)
    assert result.code == 1 and "--auto-approve" in result.err
    assert "Traceback" not in result.err
    assert [p for p in workspace.live() if p.get("identityProviderType") == "Google"] == []


def test_state_list_and_show(workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    workspace.apply(env=ENV)
    listed = workspace.run("state", "list")
    assert listed.code == 0 and "socialIdentityProvider/Google" in listed.out
    shown = workspace.run("state", "show", "socialIdentityProvider/Google")
    assert shown.code == 0 and "Google-OAUTH" in shown.out and "hmac-sha256" in shown.out


def test_throttled_create_is_settled_by_a_reread_never_a_twin(workspace) -> None:
    workspace.write("contoso.yaml", contoso())
    for when in ("before", "after"):
        workspace.emulator.admin.reset()
        workspace.state_path.unlink(missing_ok=True)
        workspace.emulator.admin.add_fault(
            method="POST",
            path="^/beta/identity/identityProviders$",
            status=429,
            retryAfter=0.1,
            when=when,
            count=1,
        )
        result = workspace.run("apply", "--auto-approve", env=ENV)
        assert result.code == 0, result.text
        twins = [p for p in workspace.live() if p.get("displayName") == "Contoso"]
        assert len(twins) == 1, when
        workspace.assert_converged(env=ENV)
