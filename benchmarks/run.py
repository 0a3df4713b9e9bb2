"""`python -m benchmarks [--quick]`: idpctl and the per-resource baseline on one emulator.

One emulator subprocess (throttling off, page size `PAGE_SIZE`) serves every run; between
runs its store and request log are reset and the injected latency set (0 ms, 30 ms a request).
idpctl runs as its console script with `graph.rateLimit: off`; the baseline is
`benchmarks/baseline.py`, a process of its own too. See README.md for what each row means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import report
from benchmarks.measure import Sample, best, graph_requests, idpctl_command, run_process
from benchmarks.workload import OIDC_SECRET, OIDC_SECRET_ENV, SECRET_ENV, Workspace, make_workspace

__all__ = ["PAGE_SIZE", "Bench", "Row", "main"]

# Graph's default page for directory collections is 100 items (GRAPH.md 5.4 documents none
# for identity providers; the emulator's default is the same)
PAGE_SIZE = 100
BATCH = 20
LATENCIES = (0, 30)
SIZES = (10, 100, 1000)
QUICK_SIZES = (10, 100)
MEMORY_SIZE = 10_000
LOG_LIMIT = 10_000  # entries the emulator's request log keeps


@dataclass(frozen=True)
class Row:
    """One line of the table: a piece of work at N providers and a latency."""

    work: str
    n: int
    latency_ms: int | None
    seconds: float
    requests: int | None = None
    base_seconds: float | None = None
    base_requests: int | None = None
    floor: int | None = None
    peak_mb: float | None = None


class Bench:
    """Runs idpctl and the baseline against one emulator handle (`harness.EmulatorHandle`)."""

    def __init__(self, emulator, root: Path, *, repeat: int = 3) -> None:
        self.emu = emulator
        self.root = root
        self.repeat = repeat
        self.idpctl = idpctl_command()
        # the operator's allowance lets idpctl send its credentials to the emulator on loopback
        self.env = {
            **os.environ,
            SECRET_ENV: emulator.client_secret,
            OIDC_SECRET_ENV: OIDC_SECRET,
            "IDPCTL_ALLOW_ENDPOINTS": emulator.base_url.removeprefix("https://"),
        }
        self.offline = (
            "--offline" in run_process([*self.idpctl, "plan", "--help"], env=self.env).out
        )
        self.emu.admin.reset()
        self.builtins = len(self.emu.admin.store()["providers"])

    # -- floors: the fewest round trips the API allows -------------------------------------

    def list_floor(self, n: int) -> int:
        return max(1, math.ceil((n + self.builtins) / PAGE_SIZE))

    def apply_floor(self, n: int) -> int:
        return self.list_floor(0) + math.ceil(n / BATCH)

    # -- running things ----------------------------------------------------------------------

    def workspace(self, n: int) -> Workspace:
        emu = self.emu
        ws = make_workspace(
            self.root / f"n{n}",
            n,
            base_url=emu.base_url,
            tenant=emu.tenant,
            client_id=emu.client_id,
            ca_path=emu.ca_path,
        )
        (ws.root / "baseline.json").write_text(
            json.dumps(
                {
                    "base_url": emu.base_url,
                    "tenant": emu.tenant,
                    "client_id": emu.client_id,
                    "ca": emu.ca_path,
                }
            )
        )
        return ws

    def fresh_tenant(self, latency_ms: int) -> None:
        self.emu.admin.reset()
        self.emu.admin.set_latency(latency_ms)

    def counted(self, run: Callable[[], Sample], times: int = 1) -> tuple[Sample, int | None]:
        """The best of `times` runs and the Graph requests of the last one."""
        samples = []
        for _ in range(times):
            self.emu.admin.clear_requests()
            samples.append(run())
        log = self.emu.admin.requests()
        # the log keeps the last 10,000 entries: a fuller one may have lost some
        return best(samples), (graph_requests(log) if len(log) < LOG_LIMIT else None)

    def run_idpctl(self, ws: Workspace, *args: str) -> Sample:
        extra = ["--offline"] if self.offline and args[0] in ("plan", "apply") else []
        return run_process([*self.idpctl, *args, *extra], cwd=ws.root, env=self.env)

    def run_baseline(self, ws: Workspace, verb: str) -> Sample:
        return run_process(
            [sys.executable, "-m", "benchmarks.baseline", verb, str(ws.root)],
            cwd=Path(__file__).resolve().parent.parent,
            env=self.env,
        )

    # -- the work ----------------------------------------------------------------------------

    def reconcile_rows(self, ws: Workspace, latency_ms: int) -> list[Row]:
        """apply all creates, plan (no change), plan of one change: idpctl, then baseline."""
        ours = self._sequence(
            ws,
            latency_ms,
            lambda *a: self.run_idpctl(ws, *a),
            apply_args=("apply", "--auto-approve"),
            plan_args=("plan",),
        )
        theirs = self._sequence(
            ws,
            latency_ms,
            lambda *a: self.run_baseline(ws, a[0]),
            apply_args=("apply",),
            plan_args=("plan",),
        )
        n = ws.count
        floors = {
            "apply": self.apply_floor(n),
            "plan": self.list_floor(n),
            "plan 1 change": self.list_floor(n),
        }
        return [
            Row(
                work,
                n,
                latency_ms,
                ours[work][0].seconds,
                ours[work][1],
                theirs[work][0].seconds,
                theirs[work][1],
                floors[work],
                ours[work][0].maxrss_mb,
            )
            for work in ("apply", "plan", "plan 1 change")
        ]

    def _sequence(
        self,
        ws: Workspace,
        latency_ms: int,
        run: Callable[..., Sample],
        *,
        apply_args: Sequence[str],
        plan_args: Sequence[str],
    ) -> dict[str, tuple[Sample, int]]:
        self.fresh_tenant(latency_ms)
        ws.forget_state()
        (ws.root / "baseline-state.json").unlink(missing_ok=True)
        out = {"apply": self.counted(lambda: run(*apply_args))}
        out["plan"] = self.counted(lambda: run(*plan_args), self.repeat)
        ws.change_one()
        try:
            out["plan 1 change"] = self.counted(lambda: run(*plan_args), self.repeat)
        finally:
            ws.restore_one()
        return out

    def validate_row(self, ws: Workspace) -> Row:
        """idpctl validate against a bare C-loader parse of the same files."""
        ours = best([self.run_idpctl(ws, "validate") for _ in range(self.repeat)])
        bare = best(
            [
                run_process([sys.executable, "-c", BARE_PARSE, str(ws.providers)])
                for _ in range(self.repeat)
            ]
        )
        return Row(
            "validate (baseline: bare CLoader parse)",
            ws.count,
            None,
            ours.seconds,
            base_seconds=bare.seconds,
            peak_mb=ours.maxrss_mb,
        )

    def help_row(self) -> Row:
        times = max(5, self.repeat * 3)
        ours = best([run_process([*self.idpctl, "--help"]) for _ in range(times)])
        bare = best([run_process([sys.executable, "-c", "pass"]) for _ in range(times)])
        return Row(
            "idpctl --help (baseline: python -c pass)",
            0,
            None,
            ours.seconds,
            base_seconds=bare.seconds,
            peak_mb=ours.maxrss_mb,
        )

    def memory_rows(self, n: int) -> list[Row]:
        """plan and validate of `n` providers at 0 ms: time and peak memory. The tenant is
        seeded through the admin API (an idpctl apply of 10,000 creates saves the state
        after each of its 500 batches and takes minutes), so the plan adopts all `n`."""
        ws = self.workspace(n)
        self.fresh_tenant(0)
        self.seed(ws)
        plan_run, plan_requests = self.counted(lambda: self.run_idpctl(ws, "plan"))
        validate = self.run_idpctl(ws, "validate")
        return [
            Row(
                "plan, all adopted (memory)",
                n,
                0,
                plan_run.seconds,
                plan_requests,
                floor=self.list_floor(n),
                peak_mb=plan_run.maxrss_mb,
            ),
            Row("validate (memory)", n, None, validate.seconds, peak_mb=validate.maxrss_mb),
        ]

    def seed(self, ws: Workspace) -> None:
        """Create the workspace's providers in the tenant as if made in the portal."""
        import yaml

        from benchmarks.baseline import graph_body

        def one(i: int) -> None:
            doc = yaml.load(ws.provider_file(i).read_bytes(), Loader=yaml.CSafeLoader)
            self.emu.admin.seed(graph_body(doc, OIDC_SECRET))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(ws.count)))


BARE_PARSE = (
    "import pathlib, sys, yaml\n"
    "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')):\n"
    "    yaml.load(p.read_bytes(), Loader=yaml.CSafeLoader)\n"
)


def collect(
    emulator,
    root: Path,
    *,
    sizes: Sequence[int],
    latencies: Sequence[int] = LATENCIES,
    memory_size: int | None = MEMORY_SIZE,
    repeat: int = 3,
    progress: Callable[[str], None] = lambda line: None,
) -> list[Row]:
    """Every row of the table, against a running emulator."""
    bench = Bench(emulator, root, repeat=repeat)
    rows = [bench.help_row()]
    for n in sizes:
        ws = bench.workspace(n)
        rows.append(bench.validate_row(ws))
        for latency in latencies:
            progress(f"N={n} latency={latency} ms")
            rows += bench.reconcile_rows(ws, latency)
    if memory_size:
        progress(f"N={memory_size} (peak memory)")
        rows += bench.memory_rows(memory_size)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="N = 10 and 100 only, no 10,000-provider memory run"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per plan/validate (best)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    from idpctl_emulator.harness import running_emulator

    sizes = QUICK_SIZES if args.quick else SIZES
    with (
        tempfile.TemporaryDirectory(prefix="idpctl-bench-") as tmp,
        running_emulator(subprocess=True, rate_limit="off", page_size=PAGE_SIZE) as emu,
    ):
        rows = collect(
            emu,
            Path(tmp),
            sizes=sizes,
            repeat=args.repeat,
            memory_size=None if args.quick else MEMORY_SIZE,
            progress=lambda line: print(f"... {line}", file=sys.stderr, flush=True),
        )
    header = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {len(os.sched_getaffinity(0))}, "
        f"Python {sys.version.split()[0]}, page size {PAGE_SIZE}"
    )
    print(report.render(rows, header=header))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0
