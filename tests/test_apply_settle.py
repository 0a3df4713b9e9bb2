"""How the applier reads Graph's answers into the state, on data: one change, the batch
answers it got, the state after. These kill mutations of `idpctl.apply` (`settle`,
`records`) that the emulator suites left alive (docs/reliability.md, "Mutation check"): a
3xx taken for success, a missing answer taken for success, a replace keeping the old
object's secret records, an update resetting `created_at`, a delete answered 404 taken for
a failure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from idpctl.apply import settle
from idpctl.graph.batch import BatchResult
from idpctl.model import Action, Change, SecretRecord, State
from test_plan import b2c, managed, oidc, only, plan_of, secret, state_of

NOW = "2026-12-03T12:00:00Z"
CREATED = "2026-01-01T00:00:00Z"


def _settle(change: Change, state: State, answers: dict[str, BatchResult | None]) -> settle.Round:
    outcome = settle.Round(state=state)
    results = {k: v for k, v in answers.items() if v is not None}
    settle.settle(change, results, set(), outcome, progress=lambda _line: None, now=lambda: NOW)
    return outcome


def _update() -> tuple[Change, State]:
    p = oidc("Contoso", secret("CANARY-1"))
    lp, rec = managed(p, "OIDC-1", scope="drifted")
    state = state_of(replace(rec, created_at=CREATED))
    change = only(plan_of([p], [lp], state))
    assert change.action is Action.UPDATE and change.body is not None
    return change, state


@pytest.mark.parametrize("status", [300, 304, 199, 404, 412])
def test_an_answer_outside_2xx_is_a_failure(status: int) -> None:
    change, state = _update()
    outcome = _settle(
        change, state, {f"{change.address}#patch": BatchResult(f"{change.address}#patch", status)}
    )
    assert (outcome.done, len(outcome.failed)) == ([], 1)
    assert outcome.state == state


def test_a_missing_answer_is_a_failure_never_success() -> None:
    change, state = _update()
    outcome = _settle(change, state, {f"{change.address}#patch": None})
    assert outcome.done == [] and outcome.failed == [f"{change.address}: no answer"]
    assert outcome.state == state


def test_an_update_keeps_the_creation_time() -> None:
    """`created_at` is when idpctl created the object; the replication guard reads it, so an
    update must not make an old object look freshly created."""
    change, state = _update()
    outcome = _settle(
        change, state, {f"{change.address}#patch": BatchResult(f"{change.address}#patch", 204)}
    )
    assert outcome.done == [change.address]
    assert outcome.state.providers[change.address].created_at == CREATED


def test_a_replace_records_only_the_new_objects_secrets() -> None:
    p = b2c("Partner", secret("CANARY-b2c"))
    lp, rec = managed(p, "OIDC-1", metadataUrl="https://old.test/.well-known/openid-configuration")
    stale = SecretRecord("hmac-sha256:00", CREATED, "env:OLD", None)
    state = state_of(
        replace(rec, created_at=CREATED, secrets={**rec.secrets, "certificate.password": stale})
    )
    change = only(plan_of([p], [lp], state))
    assert change.action is Action.REPLACE
    created: Any = {"id": "OIDC-2"}
    outcome = _settle(
        change,
        state,
        {
            f"{change.address}#delete": BatchResult(f"{change.address}#delete", 204),
            f"{change.address}#create": BatchResult(f"{change.address}#create", 201, body=created),
        },
    )
    record = outcome.state.providers[change.address]
    assert (record.id, record.created_at) == ("OIDC-2", NOW)
    assert set(record.secrets) == set(rec.secrets)
    assert all(s.set_at == NOW for s in record.secrets.values())


def test_a_delete_answered_404_is_done_and_forgotten() -> None:
    """A retried DELETE whose first try ran finds the object gone: that is what it wanted."""
    p = oidc("Contoso", secret("CANARY-1"))
    lp, rec = managed(p, "OIDC-1")
    state = state_of(rec)
    change = only(plan_of([], [lp], state))
    assert change.action is Action.DELETE
    outcome = _settle(
        change, state, {f"{change.address}#delete": BatchResult(f"{change.address}#delete", 404)}
    )
    assert (outcome.done, outcome.failed) == ([change.address], [])
    assert change.address not in outcome.state.providers
