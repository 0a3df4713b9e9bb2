"""A user's repository for end-to-end tests: idpctl.yaml pointing at an emulator, provider
files, the state file, and a transcript of everything idpctl printed (for the canary scan)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idpctl.cli import main as cli
from idpctl_emulator.harness import EmulatorHandle

CLIENT_SECRET_ENV = "IDPCTL_TEST_CLIENT_SECRET"
ALLOW_ENV = "IDPCTL_ALLOW_ENDPOINTS"

# Every secret value an end-to-end test hands to idpctl starts with this, so that
# tests/test_canary.py can scan every byte idpctl wrote for it.
CANARY = "CANARY-"

# All values written by every Workspace in this test process, for the canary scan.
TRANSCRIPTS: list[str] = []
WRITTEN_FILES: list[Path] = []


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Workspace:
    root: Path
    emulator: EmulatorHandle
    tenant_kind: str = "external"
    env: dict[str, str] = field(default_factory=dict)
    extra_config: str = ""
    # False: plan and apply get --offline, since most tests use made-up issuers that must
    # never be fetched; tests of the discovery preflight set it True
    preflight: bool = False
    graph_timeout: float = 10

    def __post_init__(self) -> None:
        self.providers = self.root / "providers"
        self.providers.mkdir(parents=True, exist_ok=True)
        self.write_config()

    @property
    def config(self) -> Path:
        return self.root / "idpctl.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def write_config(self) -> None:
        e = self.emulator
        self.config.write_text(
            textwrap.dedent(f"""\
            tenant: {e.tenant}
            tenantKind: {self.tenant_kind}
            graph:
              url: {e.base_url}
              authority: {e.base_url}
              caBundle: {e.ca_path}
              timeout: {self.graph_timeout:g}
            auth:
              mode: secret
              clientId: {e.client_id}
              clientSecret: {{env: {CLIENT_SECRET_ENV}}}
            state: {{backend: local, path: state.json}}
            providers: providers/
            """)
            + self.extra_config,
            encoding="utf-8",
        )
        WRITTEN_FILES.append(self.state_path)

    def write(self, name: str, text: str) -> Path:
        path = self.providers / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def use(self, folder: Path) -> None:
        """Make the provider files exactly those in `folder`."""
        shutil.rmtree(self.providers)
        shutil.copytree(folder, self.providers)

    def remove(self, name: str) -> None:
        (self.providers / name).unlink()

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        allowed = ",".join(
            e for e in (os.environ.get(ALLOW_ENV, ""), origin(self.emulator.base_url)) if e
        )
        merged = {
            CLIENT_SECRET_ENV: self.emulator.client_secret,
            ALLOW_ENV: allowed,
            **self.env,
            **(env or {}),
        }
        return merged

    def _args(self, args: tuple[str, ...]) -> list[str]:
        if self.preflight or not args or args[0] not in ("plan", "apply") or "--offline" in args:
            return list(args)
        return [args[0], "--offline", *args[1:]]

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        """Run idpctl in this process, as a user would from the repository root (plan and
        apply with --offline unless `preflight` is set)."""
        args = tuple(self._args(args))
        out, err = io.StringIO(), io.StringIO()
        with (
            _environ(self._env(env)),
            _cwd(self.root),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = cli.main(list(args))
            except SystemExit as exit_:  # argparse errors
                code = exit_.code if isinstance(exit_.code, int) else 1
        result = Result(code, out.getvalue(), err.getvalue())
        TRANSCRIPTS.append(result.text)
        return result

    def run_process(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> Result:
        """Run the idpctl console script in a child process."""
        full_env = {**os.environ, **self._env(env)}
        proc = subprocess.run(
            [sys.executable, "-m", "idpctl", *self._args(args)],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        TRANSCRIPTS.append(result.text)
        return result

    def start_process(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Start idpctl in a child process and return at once (the caller waits or kills it,
        then passes it to `finish`)."""
        full_env = {**os.environ, **self._env(env)}
        return subprocess.Popen(
            [sys.executable, "-m", "idpctl", *self._args(args)],
            cwd=self.root,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, proc: subprocess.Popen[str], timeout: float = 60) -> Result:
        """Collect a started process's exit code and output (into the canary transcript)."""
        out, err = proc.communicate(timeout=timeout)
        result = Result(proc.returncode, out, err)
        TRANSCRIPTS.append(result.text)
        return result

    def plan(self, *args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        result = self.run("plan", "--format", "json", *args, env=env)
        assert result.code == 0, result.text
        return json.loads(result.out)

    def apply(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        result = self.run("apply", "--auto-approve", *args, env=env)
        assert result.code == 0, result.text
        return result

    def assert_converged(self, env: Mapping[str, str] | None = None) -> None:
        result = self.run("plan", "--detailed-exitcode", env=env)
        assert result.code == 0, f"plan after apply is not empty:\n{result.text}"

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def live(self) -> list[dict[str, Any]]:
        return self.emulator.admin.store()["providers"]


def origin(url: str) -> str:
    """`scheme://host:port` of a URL: an entry for IDPCTL_ALLOW_ENDPOINTS."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def allow_endpoint(url: str) -> None:
    """Add `url`'s endpoint to this test process's IDPCTL_ALLOW_ENDPOINTS: the operator's
    allowance is what lets idpctl send credentials to the emulator and test servers on
    loopback (docs/auth.md, "Custom endpoints"). An attacker's listener is never added."""
    entries = [e for e in os.environ.get(ALLOW_ENV, "").split(",") if e]
    if origin(url) not in entries:
        os.environ[ALLOW_ENV] = ",".join([*entries, origin(url)])


def actions(plan: Mapping[str, Any]) -> dict[str, list[str]]:
    """{action: [address, ...]} of a JSON plan."""
    out: dict[str, list[str]] = {}
    for change in plan["changes"]:
        out.setdefault(change["action"], []).append(change["address"])
    return out


def changed_fields(plan: Mapping[str, Any], address: str) -> list[str]:
    for change in plan["changes"]:
        if change["address"] == address:
            return [f["name"] for f in change["fields"]]
    raise AssertionError(f"{address} is not in the plan")


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def assert_no_canary(
    texts: list[str],
    roots: list[Path],
    *,
    skip: tuple[str, ...] = ("secrets",),
) -> None:
    """No CANARY- value in anything idpctl printed or wrote under `roots`."""
    for text in texts:
        assert CANARY not in text, f"a secret value leaked into idpctl's output:\n{text}"
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or any(part in skip for part in path.relative_to(root).parts):
                continue
            data = path.read_bytes()
            assert CANARY.encode() not in data, f"a secret value leaked into {path}"
