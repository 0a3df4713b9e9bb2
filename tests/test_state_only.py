"""State-only changes: what the state records about a provider changes while nothing is sent
to Graph (`protected`, a secret's source). Plan shows them in every format, apply records
them, and the safety checks read what was recorded."""

from __future__ import annotations

import json

from idpctl.model import (
    Action,
    Kind,
    LiveProvider,
    ManagedRecord,
    Provider,
    Secret,
    SecretRecord,
    State,
)
from idpctl.plan import build as planner
from idpctl.render import markdown as render_markdown
from idpctl.render import plans as render
from idpctl.secrets.fingerprint import fingerprint
from workspace import actions

G = "#microsoft.graph."
KEY = b"k" * 32
SOCIAL = Kind(
    "socialIdentityProvider",
    G + "socialIdentityProvider",
    "identityProviderType",
    None,
    ("displayName", "identityProviderType", "clientId", "clientSecret"),
    write_only=frozenset({"clientSecret"}),
)
KINDS = {"socialIdentityProvider": SOCIAL}
ADDRESS = "socialIdentityProvider/Google"

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: %s}
"""
ENV = {"GOOGLE_SECRET": "CANARY-g1", "OTHER_SECRET": "CANARY-g1"}


def google(
    *, protected: bool = False, source: str = "env:GOOGLE_SECRET", value: str = "CANARY-same"
) -> Provider:
    return Provider(
        "socialIdentityProvider",
        "Google",
        {
            "displayName": "Google",
            "identityProviderType": "Google",
            "clientId": "c",
            "clientSecret": Secret(value, source=source),
        },
        protected=protected,
    )


def state(
    *, protected: bool = False, source: str = "env:GOOGLE_SECRET", value: str = "CANARY-same"
) -> State:
    secret = SecretRecord(
        fingerprint(KEY, Secret(value, source=source)), "2026-01-01T00:00:00Z", source
    )
    record = ManagedRecord(
        "socialIdentityProvider",
        "Google",
        "Google-OAUTH",
        secrets={"clientSecret": secret},
        protected=protected,
    )
    return State(serial=1, lineage="l", fingerprint_key=KEY, providers={ADDRESS: record})


LIVE = (
    LiveProvider(
        "Google-OAUTH",
        G + "socialIdentityProvider",
        "socialIdentityProvider",
        "Google",
        {"displayName": "Google", "identityProviderType": "Google", "clientId": "c"},
    ),
)


def build(provider: Provider, recorded: State) -> planner.Plan:
    return planner.build([provider], LIVE, recorded, kinds=KINDS)


# -- protected ---------------------------------------------------------------------------


def test_adding_protected_alone_is_a_state_only_change() -> None:
    plan = build(google(protected=True), state(protected=False))
    [change] = plan.changes
    assert change.action is Action.UPDATE and change.state_only and change.body is None
    [field] = change.fields
    assert (field.name, field.before, field.after, field.state_only) == (
        "protected",
        False,
        True,
        True,
    )
    assert "protected: false -> true" in render.text(plan, color=False)
    assert "`protected`" in render_markdown.markdown(plan)
    data = planner.to_data(plan)
    assert data["changes"][0]["fields"][0]["name"] == "protected"


def test_removing_protected_alone_is_a_state_only_change() -> None:
    [change] = build(google(protected=False), state(protected=True)).changes
    assert change.state_only
    assert [(f.name, f.before, f.after) for f in change.fields] == [("protected", True, False)]


def test_unchanged_protected_is_no_change() -> None:
    assert build(google(protected=True), state(protected=True)).changes == ()


def test_protected_recorded_by_apply_guards_a_later_delete(workspace) -> None:
    workspace.write("google.yaml", GOOGLE % "GOOGLE_SECRET")
    workspace.apply(env=ENV)
    workspace.write("google.yaml", GOOGLE % "GOOGLE_SECRET" + "protected: true\n")
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"update": [ADDRESS]}
    assert plan["changes"][0]["state_only"] is True
    workspace.apply(env=ENV)
    assert workspace.state()["providers"][ADDRESS]["protected"] is True
    workspace.assert_converged(env=ENV)
    workspace.remove("google.yaml")
    refused = workspace.run("apply", "--auto-approve", "--allow-destroy", env=ENV)
    assert refused.code == 1 and "protected" in refused.err
    assert any(p.get("identityProviderType") == "Google" for p in workspace.live())


def test_protection_removed_alone_lets_a_later_delete_proceed(workspace) -> None:
    workspace.write("google.yaml", GOOGLE % "GOOGLE_SECRET" + "protected: true\n")
    workspace.apply(env=ENV)
    workspace.write("google.yaml", GOOGLE % "GOOGLE_SECRET")
    workspace.apply(env=ENV)
    assert workspace.state()["providers"][ADDRESS]["protected"] is False
    workspace.remove("google.yaml")
    workspace.apply("--allow-destroy", env=ENV)
    assert not any(p.get("identityProviderType") == "Google" for p in workspace.live())
    workspace.assert_converged(env=ENV)


# -- a secret's source ---------------------------------------------------------------------


def test_a_new_source_with_the_same_value_is_a_state_only_change() -> None:
    plan = build(google(source="env:OTHER"), state(source="env:GOOGLE_SECRET"))
    [change] = plan.changes
    assert change.state_only and change.body is None
    [field] = change.fields
    assert (field.name, field.before, field.after, field.state_only) == (
        "clientSecret.source",
        "env:GOOGLE_SECRET",
        "env:OTHER",
        True,
    )
    text = render.text(plan, color=False)
    assert 'clientSecret.source: "env:GOOGLE_SECRET" -> "env:OTHER"' in text, text
    assert "CANARY" not in text
    assert '| `"env:OTHER"` |' in render_markdown.markdown(plan)
    assert "CANARY" not in json.dumps(planner.to_data(plan))


def test_a_vault_path_change_with_the_same_value_is_recorded() -> None:
    old, new = "vault:secret/idp#google@3", "vault:secret/moved#google@1"
    [change] = build(google(source=new), state(source=old)).changes
    assert change.state_only and (change.fields[0].before, change.fields[0].after) == (old, new)


def test_a_new_source_with_a_new_value_is_a_rotation_not_a_source_note() -> None:
    [change] = build(google(source="env:OTHER", value="CANARY-new"), state()).changes
    assert change.body is not None and change.fields[0].note == "rotate"


def test_apply_records_the_new_source_and_keeps_set_at(workspace) -> None:
    workspace.write("google.yaml", GOOGLE % "GOOGLE_SECRET")
    workspace.apply(env=ENV)
    before = workspace.state()["providers"][ADDRESS]["secrets"]["clientSecret"]
    workspace.write("google.yaml", GOOGLE % "OTHER_SECRET")
    plan = workspace.plan(env=ENV)
    assert actions(plan) == {"update": [ADDRESS]} and plan["changes"][0]["state_only"]
    workspace.emulator.admin.clear_requests()
    workspace.apply(env=ENV)
    writes = [
        r
        for r in workspace.emulator.admin.requests()
        if r.get("method") != "GET" and "/oauth2/" not in r["path"]
    ]
    assert writes == []
    after = workspace.state()["providers"][ADDRESS]["secrets"]["clientSecret"]
    assert after["source"] == "env:OTHER_SECRET"
    assert (after["fingerprint"], after["set_at"]) == (before["fingerprint"], before["set_at"])
    workspace.assert_converged(env=ENV)
    report = workspace.run("secrets", "report", env=ENV)
    assert "env:OTHER_SECRET" in report.out, report.text


def test_apply_never_relabels_a_value_it_did_not_send() -> None:
    """A recorded fingerprint names one value: a source is moved to it only when the value
    there is that same value (a change that sends nothing cannot vouch for another)."""
    from idpctl.apply import records
    from idpctl.model import Change

    recorded = state(source="env:GOOGLE_SECRET", value="CANARY-same")
    for value, expected in (("CANARY-same", "env:OTHER"), ("CANARY-other", "env:GOOGLE_SECRET")):
        desired = google(source="env:OTHER", value=value)
        change = Change(
            action=Action.UPDATE,
            kind="socialIdentityProvider",
            key="Google",
            graph_id="Google-OAUTH",
            desired=desired,
        )
        after = records.record(recorded, change, graph_id="Google-OAUTH", now=lambda: "t")
        secret = after.providers[ADDRESS].secrets["clientSecret"]
        assert (secret.source, secret.set_at) == (expected, "2026-01-01T00:00:00Z")
