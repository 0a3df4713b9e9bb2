"""`python -m benchmarks.throttled`: idpctl under Graph's throttle, on a compressed window.

One emulator subprocess with Graph's identity-provider limits (300 per tenant, 200 per app,
GRAPH.md 1.5) over a window of `--window` seconds instead of 60: the same shape, N / 200
windows for N creates, in minutes rather than hours. idpctl's budget uses the same window
(`graph.budget.windowSeconds`). Each row checks the emulator's store afterwards: providers
created, missing and duplicated (a twin). Ratios come from one run on a shared machine.

Rows: creates of N (throttling on, and off for the local cost), a 10% update of 1,000,
plans of 20 and 1,000, each with the per-resource baseline beside idpctl, and 1,000 creates
while another app spends half the tenant's budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import Sample, graph_requests, idpctl_command, run_process
from benchmarks.workload import (
    CHANGED_SCOPE,
    OIDC_SECRET,
    OIDC_SECRET_ENV,
    SECRET_ENV,
    Workspace,
    make_workspace,
    provider_yaml,
)

__all__ = ["main"]

PER_TENANT, PER_APP = 300, 200
OTHER_SCOPE = "openid email"  # the baseline's 10% update, after idpctl's
# requests the emulator keeps: room for the largest row (10,000 creates go as 500 batches,
# each item logged as well as its envelope, and the baseline's one request each)
LOG_LIMIT = 100_000


@dataclass(frozen=True)
class Row:
    work: str
    who: str
    seconds: float
    floor: float | None
    requests: int | None
    throttled: int | None
    created: int
    missing: int
    duplicated: int
    cpu: float
    peak_mb: float


class Throttled:
    def __init__(self, emu, root: Path, window: float) -> None:
        self.emu, self.root, self.window = emu, root, window
        self.idpctl = idpctl_command()
        self.env = {
            **os.environ,
            SECRET_ENV: emu.client_secret,
            OIDC_SECRET_ENV: OIDC_SECRET,
            "IDPCTL_ALLOW_ENDPOINTS": emu.base_url.removeprefix("https://"),
        }

    def workspace(self, n: int, *, throttled: bool) -> Workspace:
        emu = self.emu
        ws = make_workspace(
            self.root / f"n{n}",
            n,
            base_url=emu.base_url,
            tenant=emu.tenant,
            client_id=emu.client_id,
            ca_path=emu.ca_path,
        )
        budget = f"budget: {{windowSeconds: {self.window:g}}}" if throttled else 'rateLimit: "off"'
        config = ws.root / "idpctl.yaml"
        config.write_text(config.read_text().replace('rateLimit: "off"', budget))
        (ws.root / "baseline.json").write_text(
            f'{{"base_url": "{emu.base_url}", "tenant": "{emu.tenant}", '
            f'"client_id": "{emu.client_id}", "ca": "{emu.ca_path}"}}'
        )
        return ws

    def tenant(self, *, throttled: bool) -> None:
        self.emu.admin.reset()
        self.emu.admin.set_rate_limit(
            PER_TENANT if throttled else None,
            per_app=PER_APP if throttled else None,
            window_seconds=self.window if throttled else None,
        )
        self.emu.admin.clear_requests()

    def idpctl_run(self, ws: Workspace, *args: str) -> Sample:
        return run_process(
            [*self.idpctl, *args, "--offline"], cwd=ws.root, env=self.env, check=False
        )

    def baseline_run(self, ws: Workspace, verb: str) -> Sample:
        return run_process(
            [sys.executable, "-m", "benchmarks.baseline", verb, str(ws.root)],
            cwd=Path(__file__).resolve().parent.parent,
            env=self.env,
            check=False,
        )

    def row(self, work: str, who: str, sample: Sample, n: int, floor: float | None) -> Row:
        log = self.emu.admin.requests()
        full = len(log) >= LOG_LIMIT
        graph = [e for e in log if str(e.get("path", "")).startswith("/beta/")]
        names = Counter(
            p.get("displayName")
            for p in self.emu.admin.store()["providers"]
            if str(p.get("displayName", "")).startswith("Bench ")
        )
        created = len(names)
        return Row(
            work,
            who + ("" if sample.code == 0 else f" (exit {sample.code})"),
            sample.seconds,
            floor,
            None if full else graph_requests(log),
            None if full else sum(e["status"] == 429 for e in graph),
            created,
            max(0, n - created) if n else 0,
            sum(c - 1 for c in names.values()),
            sample.cpu_seconds,
            sample.maxrss_mb,
        )

    def floor(self, n: int, per_window: int = PER_APP) -> float:
        """N / the per-app budget, in windows: the least time Graph's limit allows."""
        return n / per_window * self.window

    def creates(self, n: int, *, throttled: bool, baseline: bool) -> list[Row]:
        ws = self.workspace(n, throttled=throttled)
        label = f"{n} creates" + ("" if throttled else " (throttling off)")
        floor = self.floor(n) if throttled else None
        self.tenant(throttled=throttled)
        rows = [self.row(label, "idpctl", self.idpctl_run(ws, "apply", "--auto-approve"), n, floor)]
        if baseline:
            self.tenant(throttled=throttled)
            rows.append(self.row(label, "baseline", self.baseline_run(ws, "apply"), n, floor))
        return rows

    def update_and_plan(self, n: int) -> list[Row]:
        """Create `n` (not timed), then plan, then change 10% and apply, all throttled."""
        ws = self.workspace(n, throttled=True)
        self.tenant(throttled=True)
        self.idpctl_run(ws, "apply", "--auto-approve", "--quiet")
        rows = []
        self._spent_window()
        self.emu.admin.clear_requests()
        rows.append(self.row(f"plan of {n}", "idpctl", self.idpctl_run(ws, "plan"), 0, None))
        self._baseline_state(ws)
        self._spent_window()
        self.emu.admin.clear_requests()
        rows.append(self.row(f"plan of {n}", "baseline", self.baseline_run(ws, "plan"), 0, None))
        tenth = n // 10
        for scope, who in ((CHANGED_SCOPE, "idpctl"), (OTHER_SCOPE, "baseline")):
            for i in range(tenth):
                ws.provider_file(i).write_text(provider_yaml(i, scope=scope))
            self._spent_window()
            self.emu.admin.clear_requests()
            sample = (
                self.idpctl_run(ws, "apply", "--auto-approve")
                if who == "idpctl"
                else self.baseline_run(ws, "update")
            )
            rows.append(self.row(f"10% update of {n}", who, sample, n, self.floor(tenth)))
        return rows

    def _baseline_state(self, ws: Workspace) -> None:
        """The baseline's state (name -> id) for providers idpctl created, so that its
        plan and update refresh the same providers."""
        ids = {
            p["displayName"]: p["id"]
            for p in self.emu.admin.store()["providers"]
            if str(p.get("displayName", "")).startswith("Bench ")
        }
        (ws.root / "baseline-state.json").write_text(json.dumps(ids))

    def _spent_window(self) -> None:
        """Let the last run's requests leave the window, so each row starts alike."""
        threading.Event().wait(self.window * 1.1)

    def neighbour(self, n: int) -> list[Row]:
        """`n` creates while another app spends half the tenant's budget each window."""
        ws = self.workspace(n, throttled=True)
        self.tenant(throttled=True)
        stop = threading.Event()

        def spend() -> None:
            while not stop.is_set():
                self.emu.admin.spend(PER_TENANT // 8)
                stop.wait(self.window / 4)

        thread = threading.Thread(target=spend, daemon=True)
        thread.start()
        try:
            sample = self.idpctl_run(ws, "apply", "--auto-approve")
        finally:
            stop.set()
            thread.join()
        return [
            self.row(
                f"{n} creates, another app spends half the tenant",
                "idpctl",
                sample,
                n,
                self.floor(n, PER_TENANT // 2),
            )
        ]


def render(rows: Sequence[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| work | who | wall s | floor s | x floor | requests | throttled | created |"
        " missing | duplicated | CPU s | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.seconds / r.floor:.2f}" if r.floor else "-"
        lines.append(
            f"| {r.work} | {r.who} | {r.seconds:.1f} | "
            f"{f'{r.floor:.1f}' if r.floor else '-'} | {ratio} | "
            f"{r.requests if r.requests is not None else 'n/a (log full)'} | "
            f"{r.throttled if r.throttled is not None else 'n/a'} | {r.created} | {r.missing} | "
            f"{r.duplicated} | {r.cpu:.1f} | {r.peak_mb:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throttled", description=__doc__)
    parser.add_argument(
        "--window",
        type=float,
        default=2.0,
        help="the compressed throttling window in seconds (Graph: 60)",
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10_000])
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    from idpctl_emulator.harness import running_emulator

    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="idpctl-throttled-") as tmp,
        running_emulator(
            subprocess=True,
            rate_limit=PER_TENANT,
            per_app=PER_APP,
            rate_window=args.window,
            page_size=100,
            request_log_size=LOG_LIMIT,
        ) as emu,
    ):
        bench = Throttled(emu, Path(tmp), args.window)
        for n in args.sizes:
            print(f"... {n} creates", file=sys.stderr, flush=True)
            rows += bench.creates(n, throttled=False, baseline=False)
            rows += bench.creates(n, throttled=True, baseline=not args.no_baseline)
        print("... plans, update, neighbour", file=sys.stderr, flush=True)
        rows += bench.update_and_plan(20)[:2]
        rows += bench.update_and_plan(1000)
        rows += bench.neighbour(1000)
    header = (
        f"window {args.window:g} s (Graph: 60 s), limits {PER_APP}/app {PER_TENANT}/tenant"
        f" per window, nproc {len(os.sched_getaffinity(0))}, one run"
    )
    print(render(rows, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
