"""The one change-order table (`model.APPLY_ORDER`): the planner and the user-flow pass sort
by it, and every renderer lists actions in `Action`'s declaration order."""

from __future__ import annotations

import random

from idpctl.model import APPLY_ORDER, Action, Change, Plan, in_apply_order
from idpctl.render import markdown as render_markdown
from idpctl.render import plans as render


def _changes() -> list[Change]:
    kinds = ("socialIdentityProvider", "openIdConnectIdentityProvider")
    return [Change(action=a, kind=k, key=key) for a in Action for k in kinds for key in "ba"]


def test_changes_run_keep_and_add_first_remove_last() -> None:
    assert [a for a, _ in sorted(APPLY_ORDER.items(), key=lambda item: item[1])] == [
        Action.ADOPT,
        Action.UPDATE,
        Action.CREATE,
        Action.REPLACE,
        Action.DELETE,
    ]
    assert set(APPLY_ORDER) == set(Action)


def test_in_apply_order_sorts_by_action_then_kind_then_key() -> None:
    shuffled = _changes()
    random.Random(3).shuffle(shuffled)
    ordered = in_apply_order(shuffled)
    assert [(c.action, c.kind, c.key) for c in ordered] == sorted(
        ((c.action, c.kind, c.key) for c in shuffled), key=lambda t: (APPLY_ORDER[t[0]], t[1], t[2])
    )
    assert ordered[0].action is Action.ADOPT and ordered[-1].action is Action.DELETE
    assert (ordered[0].kind, ordered[0].key) == ("openIdConnectIdentityProvider", "a")


def test_the_planner_and_the_user_flow_pass_use_the_table() -> None:
    from idpctl.plan import build as plan
    from idpctl.plan import userflows

    for module in (plan, userflows):
        assert module.in_apply_order is in_apply_order
        assert not hasattr(module, "_ORDER")


def test_renderers_list_actions_in_declaration_order() -> None:
    plan = Plan(changes=tuple(in_apply_order(_changes()[::4])))
    line = render.summary_line(plan)
    assert line.startswith(
        "Plan: 1 to create, 1 to update, 1 to replace, 1 to delete, 1 to adopt;"
    ), line
    table = [row for row in render_markdown.markdown(plan).splitlines() if row.startswith("| `")]
    assert [row.split("`")[1] for row in table] == [a.value for a in Action]
    assert plan.summary() == "Creates=1, Updates=1, Replaces=1, Deletes=1, Adopts=1"
