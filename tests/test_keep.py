"""Adopting without rotating: `{keep: live}` in place of a provider's secret reference.

End to end against the emulator: export writes the keep by default, import and plan need no
secret and the plan is empty, drift is clean, every other field stays managed (a displayName
change is sent without the secret), a change that would need the secret re-sent is refused in
one located line, and writing a reference in place of the keep rotates it. Plain planner and
governance calls cover the refusals and the unknown-age deadline."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from idpctl.config import governance, secretpolicy
from idpctl.errors import PlanError
from idpctl.kinds import load_kinds
from idpctl.model import (
    UNKNOWN,
    Action,
    KeepLive,
    LiveProvider,
    Location,
    ManagedRecord,
    Provider,
    Secret,
    State,
)
from idpctl.plan import build as planner
from test_export import seeded

KINDS = load_kinds()
GOOGLE = "socialIdentityProvider/Google"


def _no_secret_sent(ws) -> None:
    """No write reached Graph carrying a secret member (the emulator logs bodies' keys)."""
    for request in ws.emulator.admin.requests():
        if request["method"] in ("POST", "PATCH"):
            text = json.dumps(request)
            assert "clientSecret" not in text and "certificateData" not in text, request


def _adopted(ws):
    seeded(ws)
    out = ws.run("export")
    assert out.code == 0, out.text
    assert "{keep: live}" in out.out
    assert ws.run("import", "--all").code == 0
    return out


def test_export_import_plan_is_empty_with_no_secret_supplied(workspace) -> None:
    out = _adopted(workspace)
    text = (workspace.providers / "oidc-contoso-partners.yaml").read_text()
    assert (
        "  clientSecret: {keep: live}   # set outside idpctl; to rotate, write "
        "{env: IDPCTL_OIDC_CONTOSO_PARTNERS_CLIENT_SECRET}"
    ) in text.splitlines()
    assert "IDPCTL_SOCIAL_GOOGLE_CLIENT_SECRET" in out.out
    workspace.emulator.admin.clear_requests()
    planned = workspace.run("plan", "--detailed-exitcode")
    assert planned.code == 0, planned.text
    drift = workspace.run("drift")
    assert drift.code == 0, drift.text
    assert "set outside idpctl ({keep: live}), of unknown age" in drift.out
    report = workspace.run("secrets", "report", "--offline")
    assert report.code == 0, report.text
    assert "keep: live" in report.out and "set outside idpctl" in report.out
    assert {r["method"] for r in workspace.emulator.admin.requests()} <= {"GET", "POST"}


def test_other_fields_stay_managed_and_the_secret_is_never_sent(workspace) -> None:
    _adopted(workspace)
    path = workspace.providers / "social-google.yaml"
    path.write_text(
        path.read_text()
        .replace("displayName: Google", "displayName: Google")
        .replace("clientId: google-client", "clientId: google-client")
    )
    apple = workspace.providers / "apple.yaml"
    apple.write_text(apple.read_text().replace("keyId: KEY1", "keyId: KEY2"))
    plan = workspace.plan()
    [change] = plan["changes"]
    assert change["action"] == "update" and change["address"].startswith(
        "appleManagedIdentityProvider/"
    )
    assert [f["name"] for f in change["fields"]] == ["keyId"]
    assert any("kept as set outside idpctl" in n for n in change["notes"])
    workspace.emulator.admin.clear_requests()
    assert workspace.apply().code == 0
    _no_secret_sent(workspace)
    workspace.assert_converged()


def test_a_change_that_resends_the_secret_is_refused_in_one_located_line(workspace) -> None:
    _adopted(workspace)
    path = workspace.providers / "social-google.yaml"
    path.write_text(path.read_text().replace("clientId: google-client", "clientId: other"))
    planned = workspace.run("plan")
    assert planned.code == 1
    [line] = planned.err.strip().splitlines()
    assert line.startswith(f"Error: {path.name}") or "social-google.yaml:" in line, line
    assert "changes clientId, which needs the secret re-sent" in line
    assert "write the secret's reference in its place (clientSecret: {env: NAME}" in line


def test_writing_a_reference_in_place_of_the_keep_rotates_it(workspace) -> None:
    _adopted(workspace)
    path = workspace.providers / "social-google.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("clientSecret: {keep: live}", "clientSecret: {env: GOOGLE_SECRET}")
    )
    env = {"GOOGLE_SECRET": "CANARY-rotated-google"}
    plan = workspace.plan(env=env)
    [change] = plan["changes"]
    assert change["address"] == GOOGLE
    assert [(f["name"], f["note"]) for f in change["fields"]] == [("clientSecret", "will be set")]
    assert workspace.apply(env=env).code == 0
    workspace.assert_converged(env=env)
    state = workspace.state()["providers"][GOOGLE]
    assert state["secrets"]["clientSecret"]["source"] == "env:GOOGLE_SECRET"


def test_keep_is_refused_in_idpctl_yaml(workspace) -> None:
    workspace.config.write_text(
        workspace.config.read_text().replace(
            "clientSecret: {env: IDPCTL_TEST_CLIENT_SECRET}", "clientSecret: {keep: live}"
        )
    )
    out = workspace.run("validate")
    assert (
        out.code == 1
        and "idpctl.yaml:11:17: {keep: live} is for a provider's secret only" in out.text
    )


# -- the planner and governance, as plain calls ---------------------------------------------

WHERE = Location("providers/google.yaml", 6, 15)


def _google(client_id: str = "google-client", secret: object = None) -> Provider:
    return Provider(
        kind="socialIdentityProvider",
        key="Google",
        fields={
            "displayName": "Google",
            "identityProviderType": "Google",
            "clientId": client_id,
            "clientSecret": secret if secret is not None else KeepLive(WHERE),
        },
    )


def _live(client_id: str = "google-client") -> LiveProvider:
    return LiveProvider(
        id="g1",
        odata_type="#microsoft.graph.socialIdentityProvider",
        kind="socialIdentityProvider",
        key="Google",
        fields={
            "displayName": "Google",
            "identityProviderType": "Google",
            "clientId": client_id,
            "clientSecret": UNKNOWN,
        },
    )


def _state() -> State:
    record = ManagedRecord(kind="socialIdentityProvider", key="Google", id="g1")
    return State(serial=1, lineage="l", fingerprint_key=b"k" * 32, providers={GOOGLE: record})


def _plan(desired, live, state=None):
    return planner.build(desired, live, state or _state(), kinds=KINDS)


def test_planner_keeps_without_a_change() -> None:
    assert not _plan([_google()], [_live()]).has_changes


def test_planner_refuses_a_create_with_keep() -> None:
    with pytest.raises(PlanError, match=r"^providers/google.yaml:6:15: .* is not in the tenant"):
        _plan([_google()], [])


def test_planner_refuses_a_rebinding_change_with_keep() -> None:
    with pytest.raises(PlanError, match="changes clientId, which needs the secret re-sent"):
        _plan([_google(client_id="new")], [_live()])


def test_planner_sends_a_reference_that_replaces_the_keep() -> None:
    secret = Secret("CANARY-new", source="env:G")
    plan = _plan([_google(secret=secret)], [_live()])
    [change] = plan.changes
    assert change.action is Action.UPDATE and change.body is not None
    assert change.body["clientSecret"] is secret


def test_a_keep_never_reaches_a_body_even_when_the_mapping_is_sent() -> None:
    """An oidc clientAuthentication whose subtype changes is a replace: refused with keep."""
    kind = KINDS["oidcIdentityProvider"]
    fields = {
        "displayName": "C",
        "clientId": "c",
        "issuer": "https://i/",
        "wellKnownEndpoint": "https://i/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid",
        "inboundClaimMapping": {"sub": "sub", "email": "email"},
    }
    desired = Provider(
        kind=kind.name,
        key="C",
        fields={
            **fields,
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                "clientSecret": KeepLive(),
            },
        },
        auth_method="client_secret_post",
    )
    jwt = "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
    live = LiveProvider(
        id="o1",
        odata_type=kind.odata_type,
        kind=kind.name,
        key="C",
        fields={**fields, "clientAuthentication": {"@odata.type": jwt}},
    )
    state = State(
        serial=1,
        lineage="l",
        fingerprint_key=b"k" * 32,
        providers={"oidcIdentityProvider/C": ManagedRecord(kind=kind.name, key="C", id="o1")},
    )
    with pytest.raises(PlanError, match="must be replaced"):
        _plan([desired], [live], state)


NOW = datetime(2027, 1, 10, tzinfo=UTC)


def test_governance_unknown_age_and_the_rotation_deadline() -> None:
    [found] = governance.findings([_google()], _state(), now=NOW)
    assert found.status is governance.Status.UNKNOWN and found.source == "keep: live"
    assert "set outside idpctl ({keep: live}), of unknown age" in found.message()
    later = secretpolicy.parse_policy({"rotateUnknownBy": "2027-03-31"})
    [due] = governance.findings([_google()], _state(), now=NOW, default_policy=later)
    assert due.status is governance.Status.UNKNOWN and "rotate by 2027-03-31" in due.message()
    past = secretpolicy.parse_policy({"rotateUnknownBy": "2027-01-10"})
    [late] = governance.findings([_google()], _state(), now=NOW, default_policy=past)
    assert late.status is governance.Status.EXPIRED
    assert "rotateUnknownBy 2027-01-10 has passed" in late.message()
    assert governance.drift_findings([late]) == [late]


def test_rotation_deadline_must_be_a_day() -> None:
    from idpctl.errors import ConfigError

    with pytest.raises(ConfigError, match="not a day"):
        secretpolicy.parse_policy({"rotateUnknownBy": "soon"})


def test_the_deadline_counts_as_drift_end_to_end(workspace) -> None:
    _adopted(workspace)
    workspace.config.write_text(
        workspace.config.read_text() + "secretPolicy: {rotateUnknownBy: '2000-01-01'}\n"
    )
    drift = workspace.run("drift")
    assert drift.code == 2, drift.text
    assert "rotateUnknownBy 2000-01-01 has passed" in drift.out


def test_a_secret_graph_leaves_out_of_the_read_is_no_difference_either() -> None:
    """Where Graph omits the write-only member instead of masking it (a reading the emulator
    offers: docs/emulator-graph.md), a kept secret still compares equal."""
    live = _live()
    bare = LiveProvider(
        id=live.id,
        odata_type=live.odata_type,
        kind=live.kind,
        key=live.key,
        fields={k: v for k, v in live.fields.items() if k != "clientSecret"},
    )
    assert not _plan([_google()], [bare]).has_changes
    kind = KINDS["oidcIdentityProvider"]
    fields = {
        "displayName": "C",
        "clientId": "c",
        "issuer": "https://i/",
        "wellKnownEndpoint": "https://i/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid",
        "inboundClaimMapping": {"sub": "sub", "email": "email"},
    }
    secret_auth = "#microsoft.graph.oidcClientSecretAuthentication"
    desired = Provider(
        kind=kind.name,
        key="C",
        fields={
            **fields,
            "clientAuthentication": {"@odata.type": secret_auth, "clientSecret": KeepLive()},
        },
        auth_method="client_secret_post",
    )
    oidc = LiveProvider(
        id="o1",
        odata_type=kind.odata_type,
        kind=kind.name,
        key="C",
        fields={**fields, "clientAuthentication": {"@odata.type": secret_auth}},
    )
    state = State(
        serial=1,
        lineage="l",
        fingerprint_key=b"k" * 32,
        providers={
            "oidcIdentityProvider/C": ManagedRecord(
                kind=kind.name, key="C", id="o1", auth_method="client_secret_post"
            )
        },
    )
    assert not _plan([desired], [oidc], state).has_changes


def test_a_keep_over_a_secret_idpctl_set_keeps_its_known_age() -> None:
    """Written back to {keep: live} after idpctl set it: the age is known from the state, and
    the advice is to write a reference, not to put a value in "keep: live"."""
    from idpctl.model import SecretRecord

    record = ManagedRecord(
        kind="socialIdentityProvider",
        key="Google",
        id="g1",
        secrets={
            "clientSecret": SecretRecord(
                fingerprint="hmac-sha256:00", set_at="2026-01-01T00:00:00Z", source="env:G"
            )
        },
    )
    state = State(serial=1, lineage="l", fingerprint_key=b"k" * 32, providers={GOOGLE: record})
    [found] = governance.findings([_google()], state, now=NOW)
    assert found.status is governance.Status.EXPIRED
    assert found.message().endswith("write a reference in place of {keep: live} and apply")
