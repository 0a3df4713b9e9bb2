"""Timing a child process (wall clock, peak memory) and counting Graph requests.

Every measured program runs as its own process, as a user or a CI job runs it: the time is
from spawn to exit (interpreter start, imports, file reading and network included) and the
peak memory is that one process's `ru_maxrss` from `wait4`, not the benchmark's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Sample", "graph_requests", "idpctl_command", "run_process"]


@dataclass(frozen=True)
class Sample:
    seconds: float
    maxrss_mb: float
    code: int
    out: str
    err: str
    cpu_seconds: float = 0.0  # the child's user + system time


class BenchError(RuntimeError):
    """A measured program failed: the benchmark stops rather than report a broken number."""


def idpctl_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m idpctl`."""
    script = Path(sys.executable).parent / "idpctl"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("idpctl")
    return [found] if found else [sys.executable, "-m", "idpctl"]


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 1800.0,
) -> Sample:
    """Run `argv` to completion; its wall time and peak RSS (MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        _, status, usage = _wait4(proc, timeout)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        sample = Sample(
            seconds,
            usage.ru_maxrss / 1024,
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            usage.ru_utime + usage.ru_stime,
        )
    if check and sample.code not in (0, 2):
        raise BenchError(
            f"{' '.join(argv)} exited {sample.code}:\n{sample.err[-3000:]}\n{sample.out[-2000:]}"
        )
    return sample


def _wait4(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, int, Any]:
    """Block in `wait4` (exact end time, the child's own rusage); a timer kills a hung run."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        return os.wait4(proc.pid, 0)
    finally:
        timer.cancel()


def best(samples: Sequence[Sample]) -> Sample:
    """The fastest of repeated runs (the least disturbed by other load on the machine), with
    the largest peak memory seen in any of them."""
    fastest = min(samples, key=lambda s: s.seconds)
    peak = max(s.maxrss_mb for s in samples)
    return Sample(fastest.seconds, peak, fastest.code, fastest.out, fastest.err)


def graph_requests(log: Sequence[Mapping[str, Any]]) -> int:
    """HTTP requests to Graph (`/v1.0`, `/beta`) in the emulator's request log. A `$batch`
    is one request; its items are logged too (with `batch` set) and are not counted again;
    the token endpoint is not Graph."""
    return sum(
        1
        for entry in log
        if str(entry.get("path", "")).startswith(("/v1.0/", "/beta/")) and not entry.get("batch")
    )
