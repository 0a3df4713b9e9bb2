"""Identity providers for the discovery preflight tests, all on 127.0.0.1 over HTTPS:

- `running_oidc_provider(methods, tls)`: a real OpenID Connect provider (npm oidc-provider,
  tests/node/oidc-server.cjs) whose token endpoint accepts exactly `methods`;
- `running_local_idp(tls)`: a tiny Python HTTPS server answering whatever routes a test sets
  (broken discovery documents, huge bodies, redirect loops, slow answers).

    tls = tls_pair(tmp_dir)                    # (cert.pem, key.pem); cert.pem is also the CA
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nodetools import NODE_DIR, node

__all__ = [
    "LocalIdP",
    "OidcProvider",
    "Route",
    "running_local_idp",
    "running_oidc_provider",
    "tls_pair",
]


def tls_pair(directory: Path, name: str = "idp") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"idpctl test {name}")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# -- the real OpenID Connect provider ---------------------------------------------------------


@dataclass(frozen=True)
class OidcProvider:
    issuer: str  # https://127.0.0.1:PORT (no trailing slash), as its metadata says
    methods: tuple[str, ...]
    pid: int

    @property
    def well_known(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


@contextlib.contextmanager
def running_oidc_provider(
    methods: tuple[str, ...], tls: tuple[Path, Path]
) -> Iterator[OidcProvider]:
    """Start tests/node/oidc-server.cjs, wait for READY, stop it by its process id."""
    node_path = node()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                node_path,
                str(NODE_DIR / "oidc-server.cjs"),
                str(tls[0]),
                str(tls[1]),
                ",".join(methods),
            ],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            env={**os.environ, "NODE_ENV": "test"},
        )
        try:
            issuer = _ready(process, log)
            yield OidcProvider(issuer, methods, process.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)


def _ready(process: subprocess.Popen[str], log: Any) -> str:
    assert process.stdout is not None
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    line = found[0] if found else ""
    if not line.startswith("READY "):
        log.seek(0)
        raise RuntimeError(
            f"oidc-server.cjs did not start: {line!r}\n{log.read().decode(errors='replace')}"
        )
    return line.split()[1]


# -- a local HTTPS server with routes set by the test ----------------------------------------


@dataclass
class Route:
    """One canned answer. `body` may be a callable of the server's base URL."""

    body: bytes | Callable[[str], bytes] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0
    chunks: int = 1  # send the body in this many writes (chunked), without Content-Length
    drip: float = 0.0  # > 0: send one byte, wait this long, send the next, ... (slowloris)
    drip_headers: bool = False  # drip the status line and headers too, not only the body
    sent: int = 0  # bytes dripped so far (the client's hang-up stops the drip)
    hung_up: threading.Event = field(default_factory=threading.Event)  # the client went away


class LocalIdP:
    """Routes by path; unknown paths are 404. `base` is https://127.0.0.1:PORT."""

    def __init__(self, server: ThreadingHTTPServer, ca: Path) -> None:
        self.server = server
        self.ca = ca
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def do_GET(self) -> None:
        idp: LocalIdP = self.server.idp
        path = self.path.split("?")[0]
        idp.hits.append(path)
        route = idp.routes.get(path) or Route(b'{"error": "not found"}', status=404)
        if route.delay:
            time.sleep(route.delay)
        body = route.body(idp.base) if callable(route.body) else route.body
        if route.drip:
            self._drip(route, body)
            return
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value.replace("{base}", idp.base))
        if route.chunks > 1:
            self._chunked(body, route.chunks)
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def _drip(self, route: Route, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {route.status} OK\r\nContent-Type: application/json\r\n"
            f"X-Padding: {'x' * 200}\r\n"  # headers alone outlast any deadline
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        if not route.drip_headers:
            self.wfile.write(head)
            head = b""
        try:
            for index in range(len(head + body)):
                self.wfile.write((head + body)[index : index + 1])
                route.sent += 1
                time.sleep(route.drip)
        except OSError:
            route.hung_up.set()
        self.close_connection = True

    def _chunked(self, body: bytes, chunks: int) -> None:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        size = max(1, len(body) // chunks)
        with contextlib.suppress(OSError):
            for start in range(0, len(body), size):
                part = body[start : start + size]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def running_local_idp(tls: tuple[Path, Path]) -> Iterator[LocalIdP]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.idp = LocalIdP(server, tls[0])  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.idp  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
