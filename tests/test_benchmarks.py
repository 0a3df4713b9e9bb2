"""The benchmark's machinery on tiny N: the counts it reports, never its timings.

idpctl must need exactly the floor of Graph requests (list pages; list + batches of 20 for
creates) and the per-resource baseline one request per provider.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.measure import graph_requests  # noqa: E402
from benchmarks.run import BATCH, PAGE_SIZE, collect  # noqa: E402


def test_graph_requests_count_a_batch_once_and_skip_the_token_endpoint() -> None:
    log = [
        {"path": "/tenant/oauth2/v2.0/token"},
        {"path": "/beta/identity/identityProviders"},
        {"path": "/beta/identity/identityProviders", "batch": "r1"},
        {"path": "/beta/$batch"},
        {"path": "/v1.0/identity/identityProviders"},
    ]
    assert graph_requests(log) == 3


@pytest.fixture
def rows(emulator, tmp_path: Path) -> list:
    return collect(emulator, tmp_path, sizes=(3, 25), latencies=(0,), memory_size=None, repeat=1)


def test_quick_machinery_counts_equal_the_floor(emulator, rows: list) -> None:
    builtins = len(emulator.admin.store()["providers"])
    reconcile = [r for r in rows if r.work in ("apply", "plan", "plan 1 change")]
    assert {(r.work, r.n) for r in reconcile} == {
        (w, n) for w in ("apply", "plan", "plan 1 change") for n in (3, 25)
    }
    for row in reconcile:
        pages = math.ceil((row.n + builtins) / PAGE_SIZE)
        expected = (
            math.ceil(builtins / PAGE_SIZE) + math.ceil(row.n / BATCH)
            if row.work == "apply"
            else pages
        )
        assert row.floor == expected, row
        assert row.requests == row.floor, row
        assert row.base_requests == row.n, row
    assert any(r.work.startswith("validate") and r.n == 25 for r in rows)
    assert any(r.work.startswith("idpctl --help") for r in rows)
    table = report.render(rows)
    assert table.count("\n| apply | ") == 2 and "Targets" in table


def test_throttled_rows_check_the_store_and_count_throttled_items(emulator, tmp_path: Path) -> None:
    """The throttled benchmark's machinery on a tiny N and a 1 s window: every provider
    created once, and the store-checked counts in the row."""
    from benchmarks.throttled import Throttled, render

    bench = Throttled(emulator, tmp_path, 1.0)
    assert bench.env["IDPCTL_ALLOW_ENDPOINTS"] == emulator.base_url.removeprefix("https://")
    rows = bench.creates(45, throttled=True, baseline=False)
    emulator.admin.set_rate_limit(None)
    (row,) = rows
    assert (row.created, row.missing, row.duplicated) == (45, 0, 0), row
    assert row.throttled == 0 and row.requests == math.ceil(45 / BATCH) + 1, row
    assert row.floor == pytest.approx(45 / 200)
    assert "| 45 creates | idpctl |" in render(rows, "header")


def test_throttled_baseline_plans_and_updates_the_providers_idpctl_created(
    emulator, tmp_path: Path
) -> None:
    """The baseline's plan and 10% update rows refresh what idpctl created (one GET each)
    and PATCH the tenth that differs; idpctl's update row comes first."""
    from benchmarks.throttled import OTHER_SCOPE, Throttled

    bench = Throttled(emulator, tmp_path, 0.2)
    rows = bench.update_and_plan(10)
    emulator.admin.set_rate_limit(None)
    assert [(r.work, r.who) for r in rows] == [
        ("plan of 10", "idpctl"),
        ("plan of 10", "baseline"),
        ("10% update of 10", "idpctl"),
        ("10% update of 10", "baseline"),
    ]
    assert rows[1].requests == 10 and rows[3].requests == 10 + 1, rows
    assert all((r.created, r.duplicated) == (10, 0) for r in rows[2:]), rows
    scopes = {p["displayName"]: p.get("scope") for p in emulator.admin.store()["providers"]}
    assert list(scopes.values()).count(OTHER_SCOPE) == 1, scopes


def test_fleet_table_reports_medians_spreads_and_the_ratio_to_the_loop() -> None:
    """The fleet benchmark's table from given runs (no timing here): the median, not the
    mean or the best, and the ratio of the medians."""
    from benchmarks.fleet import Runs, table

    loop, fleet = Runs("sequential"), Runs("--parallel 2")
    for wall, load in ((60.0, 3.0), (100.0, 9.0), (62.0, 4.0)):
        loop.add(wall=wall, cpu=30.0, peak_mb=45.0, emulator_cpu=2.0, load=load)
    for wall in (40.0, 31.0, 90.0):
        fleet.add(wall=wall, cpu=33.0, peak_mb=47.0, emulator_cpu=2.5, load=5.0)
    rows = table([loop, fleet], tenants=50).splitlines()
    assert rows[2] == (
        "| 50 x `plan --env NAME`, one after another | 3 | 62.0 | 60.0-100.0 | "
        "1.00 | 30.0 | 0.60 | 2.0 | 0.52 | 45 | 3.0-9.0 |"
    )
    assert rows[3] == (
        "| `plan --all-envs --parallel 2` | 3 | 40.0 | 31.0-90.0 | 1.55 | "
        "33.0 | 0.66 | 2.5 | 0.89 | 47 | 5.0-5.0 |"
    )
