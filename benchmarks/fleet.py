"""`python -m benchmarks.fleet`: a fleet's plan, `idpctl plan --all-envs` against one
`idpctl plan --env NAME` after another, repeated, with the spread and what limits it.

One emulator subprocess (throttling off, 30 ms a request) serves every tenant: each of the
`--tenants` environments names its own tenant (`tNN.onmicrosoft.com`, which the emulator
accepts as its own) and has its own state file; each has `--providers` OIDC providers to
create. `--all-envs` runs each environment as a process of its own, `--parallel` at once;
the sequential way runs the same processes one after another, as a shell loop over `--env`
does.

The machine this runs on is shared, so one run of each says little. Each of `--repeat`
rounds runs every variant once, interleaved (sequential, then each `--parallel`), so a burst
of other load falls on all of them alike; the table gives the median and the min-max of the
wall time, the median CPU seconds of idpctl's processes (user + system, from wait4, children
included: what the fleet costs whatever the load), the emulator's CPU seconds in that run
(it is one Python process, so one core at most), the cores the run got ((idpctl + emulator
CPU) / wall, medians), peak memory (the largest process: wait4's ru_maxrss) and the 1-minute
load average when each run started. See README.md, "Fleet".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import Sample, idpctl_command, run_process
from benchmarks.workload import OIDC_SECRET, OIDC_SECRET_ENV, SECRET_ENV, make_workspace

__all__ = ["Runs", "fleet_workspace", "main", "measure", "table"]

SEQUENTIAL = "sequential"


def fleet_workspace(root: Path, emu: object, *, tenants: int, providers: int) -> list[str]:
    """The workspace: idpctl.yaml without a tenant, one overlay a tenant. Returns the names."""
    ws = make_workspace(
        root,
        providers,
        base_url=emu.base_url,
        tenant=emu.tenant,  # type: ignore[attr-defined]
        client_id=emu.client_id,
        ca_path=emu.ca_path,
    )  # type: ignore[attr-defined]
    config = ws.root / "idpctl.yaml"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    config.write_text("requireEnv: true\n" + "".join(lines[1:]), encoding="utf-8")
    folder = ws.root / "environments"
    folder.mkdir()
    names = [f"t{i:02d}" for i in range(tenants)]
    for name in names:
        (folder / f"{name}.yaml").write_text(
            f"tenant: {name}.onmicrosoft.com\nstate: {{path: state-{name}.json}}\n",
            encoding="utf-8",
        )
    return names


@dataclass
class Runs:
    """Every run of one variant: wall and CPU seconds, peak MiB, emulator CPU, load."""

    variant: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    emulator_cpu: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)

    def add(
        self, *, wall: float, cpu: float, peak_mb: float, emulator_cpu: float, load: float
    ) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.peak_mb.append(peak_mb)
        self.emulator_cpu.append(emulator_cpu)
        self.load.append(load)


def process_cpu_seconds(pid: int | None) -> float:
    """user + system seconds of a running process (Linux /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    emu: object,
    root: Path,
    *,
    tenants: int,
    providers: int,
    latency_ms: int,
    parallel: Sequence[int],
    repeat: int,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[Runs]:
    """`repeat` interleaved rounds of the sequential loop and `--all-envs` at each
    `parallel`; every run must plan every tenant."""
    names = fleet_workspace(root, emu, tenants=tenants, providers=providers)
    env = {
        **os.environ,
        SECRET_ENV: emu.client_secret,  # type: ignore[attr-defined]
        OIDC_SECRET_ENV: OIDC_SECRET,
        "IDPCTL_ALLOW_ENDPOINTS": emu.base_url.removeprefix("https://"),
    }  # type: ignore[attr-defined]
    emu.admin.reset()  # type: ignore[attr-defined]
    emu.admin.set_latency(latency_ms)  # type: ignore[attr-defined]
    process = getattr(emu, "process", None)
    pid = process.pid if process is not None else None
    idpctl = idpctl_command()

    def sequential() -> list[Sample]:
        return [
            run_process([*idpctl, "plan", "--env", name, "--offline"], cwd=root, env=env)
            for name in names
        ]

    def fleet(p: int) -> Callable[[], list[Sample]]:
        def run() -> list[Sample]:
            sample = run_process(
                [*idpctl, "plan", "--all-envs", "--parallel", str(p), "--offline"],
                cwd=root,
                env=env,
            )
            if f"{tenants} environments, 0 failed" not in sample.out:
                raise RuntimeError(
                    f"plan --all-envs did not plan every tenant:\n{sample.out[-2000:]}"
                )
            return [sample]

        return run

    variants: list[tuple[Runs, Callable[[], list[Sample]]]] = [(Runs(SEQUENTIAL), sequential)]
    variants += [(Runs(f"--parallel {p}"), fleet(p)) for p in parallel]
    for round_ in range(repeat):
        for runs, run in variants:
            load, emu_before = os.getloadavg()[0], process_cpu_seconds(pid)
            samples = run()
            runs.add(
                wall=sum(s.seconds for s in samples),
                cpu=sum(s.cpu_seconds for s in samples),
                peak_mb=max(s.maxrss_mb for s in samples),
                emulator_cpu=process_cpu_seconds(pid) - emu_before,
                load=load,
            )
            progress(
                f"round {round_ + 1}/{repeat} {runs.variant}: {runs.wall[-1]:.1f} s wall, "
                f"{runs.cpu[-1]:.1f} s CPU, load {load:.1f}"
            )
    return [runs for runs, _ in variants]


def _spread(values: Sequence[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}"


def table(found: Sequence[Runs], *, tenants: int) -> str:
    """The Markdown table: medians, spreads and the ratio to the sequential median."""
    base = statistics.median(found[0].wall)
    lines = [
        "| run | runs | wall s median | wall s min-max | ratio (seq / run) | "
        "idpctl CPU s median | CPU s a tenant | emulator CPU s | cores used | "
        "peak MiB | load avg at start |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for runs in found:
        name = (
            f"{tenants} x `plan --env NAME`, one after another"
            if runs.variant == SEQUENTIAL
            else f"`plan --all-envs {runs.variant}`"
        )
        wall = statistics.median(runs.wall)
        cpu, emulator = statistics.median(runs.cpu), statistics.median(runs.emulator_cpu)
        lines.append(
            f"| {name} | {len(runs.wall)} | {wall:.1f} | {_spread(runs.wall)} | "
            f"{base / wall:.2f} | {cpu:.1f} | {cpu / tenants:.2f} | {emulator:.1f} | "
            f"{(cpu + emulator) / wall:.2f} | {max(runs.peak_mb):.0f} | "
            f"{_spread(runs.load)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--latency", type=int, default=30, help="ms a Graph request")
    parser.add_argument("--parallel", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args(argv)
    from idpctl_emulator.harness import running_emulator

    started = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="idpctl-fleet-") as tmp,
        running_emulator(subprocess=True, rate_limit="off", page_size=100) as emu,
    ):
        found = measure(
            emu,
            Path(tmp) / "fleet",
            tenants=args.tenants,
            providers=args.providers,
            latency_ms=args.latency,
            parallel=args.parallel,
            repeat=args.repeat,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, nproc {len(os.sched_getaffinity(0))}, "
        f"Python {sys.version.split()[0]}: {args.tenants} tenants x {args.providers} "
        f"providers, {args.latency} ms a request, {args.repeat} interleaved rounds\n"
    )
    print(table(found, tenants=args.tenants))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
