"""A real Azurite blob service for the tests (npm `azurite`, installed by
scripts/bootstrap-node): started on 127.0.0.1 on a free port with in-memory storage, in a
temporary working directory, and stopped by its own process id.

    from azurite import Azurite, running_azurite

    with running_azurite() as azurite:
        azurite.connection_string, azurite.account_url, azurite.account_sas(...)

    cert, key = tls_pair(directory, "azurite")  # (idpservers) then
                                                # running_azurite(https=(cert, key)), e.g. for
                                                # `--oauth basic`
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx

from nodetools import node, node_modules
from workspace import allow_endpoint

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "Azurite", "running_azurite"]

ACCOUNT = "devstoreaccount1"
# Azurite's published development account key: not a secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
SAS_VERSION = "2019-12-12"


@dataclass(frozen=True)
class Azurite:
    port: int
    pid: int
    workdir: Path
    scheme: str = "http"

    @property
    def account_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    def account_sas(self, *, permissions: str = "rwdlacup", hours: float = 1) -> str:
        """An account SAS for the blob service, signed with the development key."""
        expiry = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = [ACCOUNT, permissions, "b", "sco", "", expiry, "", "http", SAS_VERSION, ""]
        digest = hmac.new(
            base64.b64decode(ACCOUNT_KEY), "\n".join(fields).encode(), hashlib.sha256
        ).digest()
        return urlencode(
            {
                "sv": SAS_VERSION,
                "ss": "b",
                "srt": "sco",
                "sp": permissions,
                "se": expiry,
                "spr": "http",
                "sig": base64.b64encode(digest).decode(),
            }
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_answering(
    port: int, process: subprocess.Popen[bytes], log: Path, *, scheme: str
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"azurite-blob exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{scheme}://127.0.0.1:{port}/{ACCOUNT}?comp=list", timeout=1, verify=False)
            return  # any HTTP answer (403 without auth) means it is serving
        time.sleep(0.05)
    raise RuntimeError(f"azurite-blob did not answer on port {port} within 30 s")


@contextlib.contextmanager
def running_azurite(*extra_args: str, https: tuple[Path, Path] | None = None) -> Iterator[Azurite]:
    """Start azurite-blob (over HTTPS with `https=(cert, key)`; extra_args e.g. `--oauth
    basic`), yield it, then stop it by its process id."""
    if https is not None:
        extra_args = (*extra_args, "--cert", str(https[0]), "--key", str(https[1]))
    scheme = "https" if https is not None else "http"
    binary = node_modules() / ".bin" / "azurite-blob"
    with tempfile.TemporaryDirectory(prefix="idpctl-azurite-") as workdir:
        port = _free_port()
        log = Path(workdir) / "azurite.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    node(),
                    str(binary),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(port),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                    "--disableTelemetry",
                    "--silent",
                    *extra_args,
                ],
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            _wait_until_answering(port, process, log, scheme=scheme)
            server = Azurite(port=port, pid=process.pid, workdir=Path(workdir), scheme=scheme)
            allow_endpoint(server.account_url)  # the operator lets idpctl send keys to it
            yield server
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
