"""Start the emulator from Python: in this process (a server thread on a free port, what most
tests use) or as `python -m idpctl emulator` in a subprocess, and drive its admin API.

    with running_emulator(tenant_kind="b2c", rate_limit="off") as emu:
        httpx.get(emu.base_url + "/beta/identity/identityProviders", verify=emu.ssl_context())
        emu.admin.add_fault(method="POST", path="identityProviders$", status=503)

`rate_limit` defaults to Graph's real budgets (300/min per tenant, 200/min per app); pass
"off" (or None) for tests that make many requests, or a number for a small budget.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from idpctl_emulator.admin import LOG_LIMIT
from idpctl_emulator.cli import EmulatorConfig, default_data_dir, parse_ready, start

__all__ = ["AdminClient", "AdminError", "EmulatorHandle", "running_emulator"]

READY_TIMEOUT = 15.0
_CAMEL = {
    "retry_after": "retryAfter",
    "delay_ms": "delayMs",
    "replication_delay": "replicationDelay",
}


class AdminError(RuntimeError):
    """An admin API call failed; the message carries the status and Graph error body."""


class AdminClient:
    """A thin httpx client for `/_emulator/` that trusts the emulator's CA."""

    def __init__(self, base_url: str, *, ca_path: str | None) -> None:
        verify: Any = ssl.create_default_context(cafile=ca_path) if ca_path else False
        # trust_env=False: no proxy from the environment for a loopback server
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/_emulator",
            verify=verify,
            timeout=30.0,
            trust_env=False,
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Any admin endpoint: `call("PUT", "/keyvault/secrets/x", {...})` -> parsed JSON."""
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            raise AdminError(f"{method} /_emulator{path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    _call = call  # the name the first tests used

    def reset(self) -> None:
        self._call("POST", "/reset")

    def seed(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/providers", body)

    def drift(self, provider_id: str, body: dict[str, Any]) -> dict[str, Any]:
        from urllib.parse import quote

        return self._call("PATCH", f"/providers/{quote(provider_id, safe='')}", body)

    def store(self) -> dict[str, Any]:
        return self._call("GET", "/store")

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "/requests")["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule; snake_case keys (`retry_after`, `delay_ms`, `replication_delay`)
        are accepted as well as the API's camelCase."""
        return self._call("POST", "/faults", {_CAMEL.get(k, k): v for k, v in rule.items()})

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_readings(self, **readings: str) -> dict[str, str]:
        """Switch the emulator's readings (`patch="replace"`, ...); unnamed ones go to their
        default. `set_readings()` is all defaults."""
        return self._call("PUT", "/readings", readings)

    def set_latency(self, ms: int) -> None:
        self._call("PUT", "/latency", {"ms": ms})

    def set_rate_limit(
        self,
        per_minute: int | None,
        *,
        per_app: int | None = None,
        window_seconds: float | None = None,
    ) -> dict[str, Any]:
        """`None` turns throttling off; `per_app` defaults to 2/3 of `per_minute`."""
        if per_minute is None:
            return self._call("PUT", "/rate-limit", {"off": True})
        body: dict[str, Any] = {"perMinute": per_minute}
        if per_app is not None:
            body["perApp"] = per_app
        if window_seconds is not None:
            body["windowSeconds"] = window_seconds
        return self._call("PUT", "/rate-limit", body)

    def spend(self, count: int, *, app_id: str = "another-app") -> None:
        """Spend `count` of the tenant's budget as another app would (throttling on)."""
        self._call("POST", "/rate-limit/spend", {"appId": app_id, "count": count})

    def register_client(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/clients", spec)

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/info")

    def close(self) -> None:
        self._http.close()


@dataclass(frozen=True)
class EmulatorHandle:
    """A running emulator. `client_secret` is the default client's secret (never printed)."""

    base_url: str
    ca_path: str
    tenant: str
    client_id: str
    client_secret: str = field(repr=False)
    kind: str
    admin: AdminClient
    process: subprocess.Popen[str] | None = None

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the emulator's CA (for httpx `verify=`)."""
        return ssl.create_default_context(cafile=self.ca_path)

    def _verify(self) -> Any:
        return self.ssl_context() if self.base_url.startswith("https") else False

    def token(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: str = "https://graph.microsoft.com/.default",
    ) -> str:
        """An access token from the emulator's token endpoint (client credentials with a
        secret; the default client unless another is named)."""
        response = httpx.post(
            f"{self.authority}/oauth2/v2.0/token",
            verify=self._verify(),
            timeout=30.0,
            trust_env=False,
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_id": client_id or self.client_id,
                "client_secret": client_secret or self.client_secret,
            },
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def graph(self, *, token: str | None = None, **kw: Any) -> httpx.Client:
        """An httpx client on the base URL with a bearer token, trusting the CA."""
        kw.setdefault("trust_env", False)
        return httpx.Client(
            base_url=self.base_url,
            verify=self._verify(),
            timeout=kw.pop("timeout", 30.0),
            headers={"Authorization": f"Bearer {token or self.token()}"},
            **kw,
        )


def _rate(rate_limit: int | str | None) -> int | None:
    if rate_limit is None or rate_limit == "off":
        return None
    return int(rate_limit)


@contextlib.contextmanager
def running_emulator(
    *,
    tenant_kind: str = "external",
    page_size: int = 100,
    rate_limit: int | str | None = 300,
    replication_delay: float = 0.0,
    subprocess: bool = False,
    state_file: str | Path | None = None,
    http: bool = False,
    **kw: Any,
) -> Iterator[EmulatorHandle]:
    """Run an emulator for the `with` block. `kw` goes to `EmulatorConfig` (tenant,
    client_id, client_secret, clients_file, data_dir, rate_window, per_app, hang_cap, ...)."""
    config = EmulatorConfig(
        tenant_kind=tenant_kind,
        page_size=page_size,
        rate_limit=_rate(rate_limit),
        replication_delay=replication_delay,
        http=http,
        state_file=Path(state_file) if state_file else None,
        client_id=kw.pop("client_id", None) or str(uuid.uuid4()),
        client_secret=kw.pop("client_secret", None) or f"emu-{uuid.uuid4().hex}",
        **kw,
    )
    runner = _subprocess if subprocess else _in_process
    with runner(config) as handle:
        try:
            yield handle
        finally:
            handle.admin.close()


@contextlib.contextmanager
def _in_process(config: EmulatorConfig) -> Iterator[EmulatorHandle]:
    running = start(config)
    thread = threading.Thread(
        target=running.server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="idpctl-emulator",
        daemon=True,
    )
    thread.start()
    try:
        yield EmulatorHandle(
            base_url=running.base_url,
            ca_path=str(running.ca_path),
            tenant=running.tenant,
            client_id=running.client_id,
            client_secret=config.client_secret or "",
            kind=config.tenant_kind,
            admin=AdminClient(
                running.base_url, ca_path=None if config.http else str(running.ca_path)
            ),
        )
    finally:
        running.stop()
        thread.join(timeout=5)


def _command(config: EmulatorConfig) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "idpctl",
        "emulator",
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--tenant-kind",
        config.tenant_kind,
        "--page-size",
        str(config.page_size),
        "--rate-limit",
        "off" if config.rate_limit is None else str(config.rate_limit),
        "--replication-delay",
        str(config.replication_delay),
        "--data-dir",
        str(config.data_dir or default_data_dir()),
    ]
    for flag, value in (
        ("--tenant", config.tenant),
        ("--client-id", config.client_id),
        ("--clients", config.clients_file),
        ("--state", config.state_file),
    ):
        if value:
            args += [flag, str(value)]
    if config.rate_window != 60.0:
        args += ["--rate-window", str(config.rate_window)]
    if config.request_log_size != LOG_LIMIT:
        args += ["--request-log-size", str(config.request_log_size)]
    args += config.readings.args()
    return args + (["--http"] if config.http else [])


@contextlib.contextmanager
def _subprocess(config: EmulatorConfig) -> Iterator[EmulatorHandle]:
    env = dict(os.environ, IDPCTL_EMULATOR_CLIENT_SECRET=config.client_secret or "")
    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen(
            _command(config), stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
        )
        try:
            ready = _await_ready(process, stderr)
            yield EmulatorHandle(
                base_url=ready["base_url"],
                ca_path=ready["ca"],
                tenant=ready["tenant"],
                client_id=ready["client"],
                client_secret=config.client_secret or "",
                kind=ready["kind"],
                process=process,
                admin=AdminClient(ready["base_url"], ca_path=None if config.http else ready["ca"]),
            )
        finally:
            _terminate(process)


def _await_ready(process: subprocess.Popen[str], stderr: Any) -> dict[str, str]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=READY_TIMEOUT)
            if line is None:
                break
            ready = parse_ready(line)
            if ready:
                return ready
    except queue.Empty:
        pass
    _terminate(process)
    stderr.seek(0)
    raise RuntimeError(f"the emulator did not print READY: {stderr.read()[-2000:]}")


def _terminate(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
