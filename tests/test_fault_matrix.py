"""The fault matrix: for each scenario (create, update, rotate, replace, delete) and each
request k of its unfaulted apply, the emulator answers request k with a 429 (Retry-After),
a 500, a 503 (Retry-After), a dropped connection or a hang past `graph.timeout`, once before
and once after the write takes effect. Every run completes or stops with one `Error:` line;
the next apply converges; then: no duplicate, no lost provider, the state matches the tenant.

The default run takes every write position and a rotating sample of the read positions
(about 130 trials); `-m slow` runs the whole matrix, a two-batch scenario and auth requests.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest

from idpctl.apply import reread
from idpctl_emulator.harness import EmulatorHandle
from reliability import (
    BIG,
    FAULTS,
    SCENARIOS,
    TIMINGS,
    Position,
    Scenario,
    census,
    fault_rule,
    one_line_error,
    positions,
    prepare,
    scanned_workspace,
)
from workspace import Workspace

log = logging.getLogger(__name__)
TIMEOUT = 1.0


@dataclass
class Tally:
    trials: int = 0
    completed: int = 0
    stopped: int = 0
    duplicates: int = 0
    lost: int = 0
    mismatched: int = 0
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def matrix_workspace(
    emulator_external: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    with (
        pytest.MonkeyPatch.context() as patch,
        scanned_workspace(
            emulator_external, tmp_path_factory.mktemp("matrix"), graph_timeout=TIMEOUT
        ) as ws,
    ):
        # no replication delay here: a re-read shows a create at once, so the applier need
        # not wait for one to appear (tests/test_reliability.py covers that wait)
        patch.setattr(reread, "SETTLE_SECONDS", 0.0)
        yield ws


def trial(
    ws: Workspace,
    scenario: Scenario,
    position: Position,
    fault: str,
    when: str,
    tally: Tally,
    *,
    debug: bool = False,
) -> None:
    name = f"{scenario.name} {position.describe()} {fault} {when}"
    prepare(ws, scenario)
    ws.emulator.admin.add_fault(**fault_rule(position, fault, when))
    extra = ("--debug",) if debug else ()
    first = ws.run(*extra, "apply", "--auto-approve", *scenario.args, env=scenario.env_after)
    tally.trials += 1
    if first.code == 0:
        tally.completed += 1
    else:
        tally.stopped += 1
        wrong = one_line_error(first, debug=debug)
        if wrong:
            tally.problems.append(f"{name}: not a clean stop ({wrong}):\n{first.err[-2000:]}")
    if ws.state_path.with_name("state.json.lock").exists():
        tally.problems.append(f"{name}: the lock was left behind")
    ws.emulator.admin.clear_faults()
    if first.code != 0:
        again = ws.run("apply", "--auto-approve", *scenario.args, env=scenario.env_after)
        if again.code != 0:
            tally.problems.append(f"{name}: the second apply failed:\n{again.text[-2000:]}")
    plan = ws.run("plan", "--detailed-exitcode", env=scenario.env_after)
    if plan.code != 0:
        tally.problems.append(f"{name}: plan after convergence is not empty:\n{plan.text[-1500:]}")
    seen = census(ws, scenario)
    tally.duplicates += seen.duplicates
    tally.lost += len(seen.lost)
    tally.mismatched += len(seen.mismatched) + len(seen.unrecorded) + len(seen.lingering)
    if not seen.clean:
        tally.problems.append(f"{name}: {seen}")


def default_subset(
    scenario: Scenario, found: list[Position]
) -> Iterator[tuple[Position, str, str]]:
    """Every write position x fault x timing; each read position with two faults, rotating
    through the fault kinds and timings from scenario to scenario."""
    kinds = list(FAULTS)
    offset = list(SCENARIOS).index(scenario.name) if scenario.name in SCENARIOS else 0
    for position in found:
        if position.write:
            yield from ((position, f, w) for f in kinds for w in TIMINGS)
            continue
        for j in range(2):
            fault = kinds[(offset * 2 + j + position.k) % len(kinds)]
            yield position, fault, TIMINGS[(offset + j) % 2]


def full_matrix(found: list[Position]) -> Iterator[tuple[Position, str, str]]:
    return ((p, f, w) for p, f, w in itertools.product(found, FAULTS, TIMINGS))


def two_batch_matrix(found: list[Position]) -> Iterator[tuple[Position, str, str]]:
    """For the 22-write scenario: every fault and timing at each `$batch` request (what this
    scenario adds: a second round trip), and one fault per other position, rotating through
    the kinds and timings. The full product there is over 250 trials of 22 creates each."""
    kinds = list(FAULTS)
    for position in found:
        if position.label.startswith("$batch"):
            yield from ((position, f, w) for f in kinds for w in TIMINGS)
        else:
            yield position, kinds[position.k % len(kinds)], TIMINGS[position.k % 2]


def run_matrix(
    ws: Workspace,
    scenarios: list[Scenario],
    *,
    full: bool,
    auth: bool = False,
    choose: Callable[[list[Position]], Iterable[tuple[Position, str, str]]] | None = None,
) -> Tally:
    tally = Tally()
    started = time.monotonic()
    positions_tried = 0
    for scenario in scenarios:
        found = positions(ws, scenario, auth=auth)
        assert found, scenario.name
        positions_tried += len(found)
        if choose is not None:
            chosen = list(choose(found))
        else:
            chosen = list(full_matrix(found) if full else default_subset(scenario, found))
        for i, (position, fault, when) in enumerate(chosen):
            trial(ws, scenario, position, fault, when, tally, debug=i % 7 == 3)
    print(
        f"\nfault matrix {', '.join(s.name for s in scenarios)}: {positions_tried} positions, "
        f"{len(FAULTS)} fault kinds x {len(TIMINGS)} timings -> {tally.trials} trials "
        f"({tally.completed} completed, {tally.stopped} stopped cleanly and converged on the "
        f"second apply); duplicates {tally.duplicates}, lost {tally.lost}, "
        f"state mismatches {tally.mismatched}; {time.monotonic() - started:.1f}s"
    )
    return tally


def check(tally: Tally) -> None:
    assert not tally.problems, "\n\n".join(tally.problems[:8]) + (
        f"\n... {len(tally.problems)} problems in all"
    )
    assert tally.duplicates == 0 and tally.lost == 0 and tally.mismatched == 0


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_matrix_default_subset(matrix_workspace: Workspace, name: str) -> None:
    tally = run_matrix(matrix_workspace, [SCENARIOS[name]], full=False)
    # about 140 over the five scenarios; a change set spanning Graph v1.0 and beta takes one
    # $batch per version (docs/api-versions.md), so "create" has a few more positions
    assert 15 <= tally.trials <= 48
    check(tally)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", [*SCENARIOS, BIG.name])
def test_fault_matrix_full(matrix_workspace: Workspace, name: str) -> None:
    scenario = SCENARIOS.get(name, BIG)
    choose = two_batch_matrix if scenario is BIG else None
    tally = run_matrix(matrix_workspace, [scenario], full=True, auth=True, choose=choose)
    check(tally)


def test_positions_cover_list_batch_and_items(matrix_workspace: Workspace) -> None:
    found = positions(matrix_workspace, SCENARIOS["replace"])
    labels = [p.label for p in found]
    assert labels[0] == "GET identityProviders#1"
    assert "$batch#1" in labels and "item DELETE#1" in labels and "item POST#1" in labels
