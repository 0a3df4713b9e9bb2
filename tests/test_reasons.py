"""Typed reasons on changes (docs/plan-format.md, "Reasons"): one scenario per reason, a test
that fails when a reason no scenario produces is added, the reason agreeing with its change's
action, the plan file carrying the reasons, and the renderings keeping their English.

Every scenario is a pure call: the planner, or the user-flow links on a plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from idpctl.model import Action, Change, ManagedRecord, Plan, Provider, Reason, State
from idpctl.plan import planfile
from idpctl.plan.userflows import plan_links
from idpctl.render import markdown as render_markdown
from idpctl.render import plans as render
from test_plan import (
    b2c,
    live_of,
    managed,
    oidc,
    oidc_fields,
    plan_of,
    record_of,
    secret,
    state_of,
)
from test_userflows import ADDRESS, FLOWS, LIVE, STATE, _provider

CONTOSO = "oidcIdentityProvider/Contoso"


def _contoso() -> Provider:
    return oidc("Contoso", secret("CANARY-reason"))


def _create_new() -> Plan:
    return plan_of([_contoso()], [])


def _deleted_outside() -> Plan:
    return plan_of([_contoso()], [], state_of(record_of(_contoso(), "gone")))


def _replace_unfinished() -> Plan:
    record = replace(record_of(_contoso(), "gone"), relink=("B2C_1_A",))
    return plan_of([_contoso()], [], state_of(record))


def _adopt() -> Plan:
    return plan_of([_contoso()], [live_of(_contoso(), "id-1")])


def _fields_differ() -> Plan:
    lp, rec = managed(_contoso(), "id-1", scope="openid")
    return plan_of([_contoso()], [lp], state_of(rec))


def _secret_not_recorded() -> Plan:
    lp, rec = managed(_contoso(), "id-1")
    return plan_of([_contoso()], [lp], state_of(replace(rec, secrets={})))


def _secret_changed() -> Plan:
    lp = live_of(_contoso(), "id-1")
    return plan_of([_contoso()], [lp], state_of(record_of(_contoso(), "id-1", fp="hmac:x")))


def _rotate_requested() -> Plan:
    lp, rec = managed(_contoso(), "id-1")
    return plan_of([_contoso()], [lp], state_of(rec), rotate=[CONTOSO])


def _user_flows() -> Plan:
    plan = Plan(changes=(), unchanged=(ADDRESS,))
    return plan_links(plan, [_provider(("B2C_1_A", "B2C_1_B"))], LIVE, STATE, flows=FLOWS)


def _moved() -> Plan:
    old = oidc("Old", secret("CANARY-reason"))
    new = replace(oidc("New", secret("CANARY-reason")), moved_from=old.address)
    lp = live_of(new, "id-1")
    return plan_of([new], [lp], state_of(record_of(old, "id-1")))


def _graph_id_changed() -> Plan:
    return plan_of(
        [_contoso()], [live_of(_contoso(), "id-new")], state_of(record_of(_contoso(), "id-old"))
    )


def _auth_method() -> Plan:
    jwt = oidc("Contoso", secret("CANARY-reason"), method="client_secret_jwt")
    lp, rec = managed(_contoso(), "id-1")
    return plan_of([jwt], [lp], state_of(rec))


def _protected() -> Plan:
    lp, rec = managed(_contoso(), "id-1")
    return plan_of([replace(_contoso(), protected=True)], [lp], state_of(rec))


def _secret_source() -> Plan:
    lp, rec = managed(_contoso(), "id-1")
    moved = oidc("Contoso", secret("CANARY-reason", "ELSEWHERE"))
    return plan_of([moved], [lp], state_of(rec))


def _relink_cleared() -> Plan:
    record = ManagedRecord(
        kind="socialIdentityProvider", key="Google", id="Google-OAUTH", relink=("B2C_1_A",)
    )
    state = State(serial=1, lineage="l", fingerprint_key=b"k", providers={ADDRESS: record})
    plan = Plan(changes=(), unchanged=(ADDRESS,))
    return plan_links(plan, [_provider(None)], LIVE, state, flows=FLOWS)


def _immutable_field() -> Plan:
    p = b2c("Partner", secret("CANARY-reason"))
    lp, rec = managed(p, "OIDC-1", metadataUrl="https://old.test/.well-known/openid-configuration")
    return plan_of([p], [lp], state_of(rec))


def _subtype_changed() -> Plan:
    lp, rec = managed(oidc("Contoso"), "id-1")  # live holds private_key_jwt
    return plan_of([_contoso()], [lp], state_of(rec))


def _removed() -> Plan:
    lp, rec = managed(_contoso(), "id-1")
    return plan_of([], [lp], state_of(rec))


def _absent() -> Plan:
    lp, rec = managed(_contoso(), "id-1")
    return plan_of([replace(_contoso(), absent=True)], [lp], state_of(rec))


def _absent_unmanaged() -> Plan:
    absent = Provider("oidcIdentityProvider", "Contoso", oidc_fields("Contoso"), absent=True)
    return plan_of([absent], [live_of(absent, "id-1")])


def _forget() -> Plan:
    return plan_of([], [], state_of(record_of(_contoso(), "gone")))


SCENARIOS: dict[Reason, Callable[[], Plan]] = {
    Reason.CREATE_NEW: _create_new,
    Reason.CREATE_DELETED_OUTSIDE: _deleted_outside,
    Reason.CREATE_REPLACE_UNFINISHED: _replace_unfinished,
    Reason.ADOPT_SAME_KEY: _adopt,
    Reason.UPDATE_FIELDS_DIFFER: _fields_differ,
    Reason.UPDATE_SECRET_NOT_RECORDED: _secret_not_recorded,
    Reason.UPDATE_SECRET_CHANGED: _secret_changed,
    Reason.UPDATE_ROTATE_REQUESTED: _rotate_requested,
    Reason.UPDATE_USER_FLOWS: _user_flows,
    Reason.STATE_ONLY_MOVED: _moved,
    Reason.STATE_ONLY_GRAPH_ID_CHANGED: _graph_id_changed,
    Reason.STATE_ONLY_AUTH_METHOD: _auth_method,
    Reason.STATE_ONLY_PROTECTED: _protected,
    Reason.STATE_ONLY_SECRET_SOURCE: _secret_source,
    Reason.STATE_ONLY_RELINK_CLEARED: _relink_cleared,
    Reason.REPLACE_IMMUTABLE_FIELD: _immutable_field,
    Reason.REPLACE_SUBTYPE_CHANGED: _subtype_changed,
    Reason.DELETE_REMOVED_FROM_CONFIG: _removed,
    Reason.DELETE_ENSURE_ABSENT: _absent,
    Reason.DELETE_ENSURE_ABSENT_UNMANAGED: _absent_unmanaged,
    Reason.FORGET_DELETED_OUTSIDE: _forget,
}
# the actions a reason may explain, by the prefix of its value
_ACTIONS = {
    "create_": {Action.CREATE},
    "adopt_": {Action.ADOPT, Action.REPLACE},
    "update_": {Action.UPDATE, Action.ADOPT},
    "state_only_": {Action.UPDATE},
    "replace_": {Action.REPLACE},
    "delete_": {Action.DELETE},
    "forget_": {Action.DELETE},
}


def _only(plan: Plan) -> Change:
    assert len(plan.changes) == 1, plan.changes
    return plan.changes[0]


def test_every_reason_is_produced_by_some_scenario() -> None:
    """Fails when a reason is added that no scenario produces, or a scenario stops producing
    its reason: every value the JSON plan documents is one a plan can carry."""
    produced = {r for scenario in SCENARIOS.values() for c in scenario().changes for r in c.reasons}
    missing = sorted(r.value for r in set(Reason) - produced)
    assert not missing, f"no scenario produces: {', '.join(missing)}"


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_the_scenario_plans_one_change_with_its_reason(reason: Reason) -> None:
    change = _only(SCENARIOS[reason]())
    assert reason in change.reasons
    prefix = next(p for p in _ACTIONS if reason.value.startswith(p))
    assert change.action in _ACTIONS[prefix], (reason, change.action)
    if prefix == "state_only_":
        assert any(f.state_only for f in change.fields)
    if prefix in ("delete_", "forget_"):
        assert (change.graph_id is None) == (prefix == "forget_")


def test_every_change_carries_a_reason() -> None:
    for scenario in SCENARIOS.values():
        for change in scenario().changes:
            assert change.reasons, change


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_the_plan_file_carries_the_reasons_typed(reason: Reason) -> None:
    plan = SCENARIOS[reason]()
    data = planfile.to_data(plan)
    assert reason.value in data["changes"][0]["reasons"]
    assert planfile.from_data(data).changes[0].reasons == plan.changes[0].reasons


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_the_renderings_keep_the_english_and_notes_do_not_repeat_it(reason: Reason) -> None:
    change = _only(SCENARIOS[reason]())
    english = render.REASON_TEXT.get(reason)
    assert not set(render.REASON_TEXT.values()) & set(change.notes)
    if english is not None:
        plan = Plan(changes=(change,))
        assert f"# {english}" in render.text(plan)
        assert f"- `{english}`" in render_markdown.markdown(plan)


def test_an_unknown_reason_in_a_plan_file_is_refused_by_path() -> None:
    data = planfile.to_data(_forget())
    data["changes"][0]["reasons"] = ["delete_because_i_said_so"]
    with pytest.raises(
        planfile.PlanError,
        match=r"plan\.changes\[0\]\.reasons\[0\] is not a "
        "reason this idpctl knows",
    ):
        planfile.from_data(data)
