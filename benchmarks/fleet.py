"""`python -m benchmarks.fleet`: a fleet's plan, `idpctl plan --all-envs` against one
`idpctl plan --env NAME` after another.

One emulator subprocess (throttling off, 30 ms a request) serves every tenant: each of the
`--tenants` environments names its own tenant (`tNN.onmicrosoft.com`, which the emulator
accepts as its own) and has its own state file; each has `--providers` OIDC providers to
create. `--all-envs` runs each environment as a process of its own, `--parallel` at once;
the sequential way runs the same processes one after another, as a shell loop over `--env`
does. Reported: wall time, the ratio, and peak memory (the largest process: wait4's ru_maxrss
of the command, which covers its children). See README.md, "Fleet".
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import Sample, idpctl_command, run_process
from benchmarks.workload import OIDC_SECRET, OIDC_SECRET_ENV, SECRET_ENV, make_workspace

__all__ = ["fleet_workspace", "main", "measure"]


def fleet_workspace(root: Path, emu: object, *, tenants: int, providers: int) -> list[str]:
    """The workspace: idpctl.yaml without a tenant, one overlay a tenant. Returns the names."""
    ws = make_workspace(root, providers, base_url=emu.base_url, tenant=emu.tenant,  # type: ignore[attr-defined]
                        client_id=emu.client_id, ca_path=emu.ca_path)  # type: ignore[attr-defined]
    config = ws.root / "idpctl.yaml"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    config.write_text("requireEnv: true\n" + "".join(lines[1:]), encoding="utf-8")
    folder = ws.root / "environments"
    folder.mkdir()
    names = [f"t{i:02d}" for i in range(tenants)]
    for name in names:
        (folder / f"{name}.yaml").write_text(
            f"tenant: {name}.onmicrosoft.com\nstate: {{path: state-{name}.json}}\n",
            encoding="utf-8")
    return names


def measure(emu: object, root: Path, *, tenants: int, providers: int, latency_ms: int,
            parallel: int) -> dict[str, Sample | float]:
    names = fleet_workspace(root, emu, tenants=tenants, providers=providers)
    env = {**os.environ, SECRET_ENV: emu.client_secret,  # type: ignore[attr-defined]
           OIDC_SECRET_ENV: OIDC_SECRET,
           "IDPCTL_ALLOW_ENDPOINTS": emu.base_url.removeprefix("https://")}  # type: ignore[attr-defined]
    emu.admin.reset()  # type: ignore[attr-defined]
    emu.admin.set_latency(latency_ms)  # type: ignore[attr-defined]
    idpctl = idpctl_command()
    fleet = run_process([*idpctl, "plan", "--all-envs", "--parallel", str(parallel),
                         "--offline"], cwd=root, env=env)
    if f"{tenants} environments, 0 failed" not in fleet.out:
        raise RuntimeError(f"plan --all-envs did not plan every tenant:\n{fleet.out[-2000:]}")
    samples = [run_process([*idpctl, "plan", "--env", name, "--offline"], cwd=root, env=env)
               for name in names]
    return {"all_envs": fleet, "sequential_seconds": sum(s.seconds for s in samples),
            "sequential_peak_mb": max(s.maxrss_mb for s in samples)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--latency", type=int, default=30, help="ms a Graph request")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args(argv)
    from idpctl_emulator.harness import running_emulator

    with tempfile.TemporaryDirectory(prefix="idpctl-fleet-") as tmp, running_emulator(
            subprocess=True, rate_limit="off", page_size=100) as emu:
        found = measure(emu, Path(tmp) / "fleet", tenants=args.tenants,
                        providers=args.providers, latency_ms=args.latency,
                        parallel=args.parallel)
    fleet = found["all_envs"]
    assert isinstance(fleet, Sample)
    seq, seq_mb = float(found["sequential_seconds"]), float(found["sequential_peak_mb"])
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {len(os.sched_getaffinity(0))}, "
          f"Python {sys.version.split()[0]}: {args.tenants} tenants x {args.providers} "
          f"providers, {args.latency} ms a request\n")
    print("| run | wall s | peak MiB (largest process) |\n|---|---:|---:|")
    print(f"| `plan --all-envs --parallel {args.parallel}` | {fleet.seconds:.1f} | "
          f"{fleet.maxrss_mb:.0f} |")
    print(f"| {args.tenants} x `plan --env NAME`, one after another | {seq:.1f} | {seq_mb:.0f} |")
    print(f"\nratio (sequential / all-envs): {seq / fleet.seconds:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
