"""`idpctl emulator`: build an emulator from options, serve it, print the READY line.

    READY <base-url> tenant=<id> kind=<kind> client=<client-id> ca=<ca.pem> [secret-file=<path>]

The default client's secret comes from `--client-secret` or `IDPCTL_EMULATOR_CLIENT_SECRET`;
with neither, one is generated and written to a 0600 file in the data directory whose path
is the READY line's `secret-file=` token (the secret itself is never printed or logged).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import ssl
import sys
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from idpctl_emulator.admin import LOG_LIMIT, read_json_file
from idpctl_emulator.certs import CertPaths, ensure_certificates
from idpctl_emulator.clients import ClientRegistry
from idpctl_emulator.readings import CHOICES, DEFAULT, Readings
from idpctl_emulator.server import Emulator, EmulatorServer
from idpctl_emulator.store import Store
from idpctl_emulator.throttle import budget_for
from idpctl_emulator.tokens import IdentityService

__all__ = ["EmulatorConfig", "Running", "default_data_dir", "main", "parse_ready", "start"]

logger = logging.getLogger(__name__)

SECRET_ENV = "IDPCTL_EMULATOR_CLIENT_SECRET"
DEFAULT_CLIENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "idpctl-emulator:default-client"))
# the default client may also manage user flows (docs/userflows.md)
DEFAULT_ROLES = [
    "IdentityProvider.ReadWrite.All",
    "IdentityUserFlow.ReadWrite.All",
    "EventListener.ReadWrite.All",
    "Key Vault Secrets User",
]


def default_data_dir() -> Path:
    """Where certificates live across runs: $IDPCTL_EMULATOR_DATA_DIR, else the user cache."""
    if os.environ.get("IDPCTL_EMULATOR_DATA_DIR"):
        return Path(os.environ["IDPCTL_EMULATOR_DATA_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "idpctl" / "emulator"


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    tenant_kind: str = "external"
    tenant: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    clients_file: Path | None = None
    page_size: int = 100
    rate_limit: int | None = 300  # None: off
    per_app: int | None = None  # default 2/3 of rate_limit
    rate_window: float = 60.0
    replication_delay: float = 0.0
    http: bool = False
    state_file: Path | None = None
    data_dir: Path | None = None
    hang_cap: float = 60.0
    request_log_size: int = LOG_LIMIT
    readings: Readings = DEFAULT

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if self.request_log_size < 1:
            raise ValueError("request_log_size must be at least 1")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be at least 1 (None: off)")
        if min(self.replication_delay, self.rate_window, self.hang_cap) < 0:
            raise ValueError("delays and windows must not be negative")


@dataclass(frozen=True)
class Running:
    """A started (not yet serving) emulator: call `server.serve_forever()`, then `stop()`."""

    server: EmulatorServer
    app: Emulator
    base_url: str
    tenant: str
    client_id: str
    ca_path: Path
    secret_file: Path | None = None

    def stop(self) -> None:
        self.server.stop()
        if self.secret_file:
            with contextlib.suppress(OSError):
                self.secret_file.unlink()


def _certificates(data_dir: Path) -> CertPaths:
    """Create or reuse the CA and server certificate, one process at a time."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return ensure_certificates(data_dir)


def _tenant(config: EmulatorConfig) -> str:
    if config.tenant:
        return config.tenant
    if config.state_file and config.state_file.exists():
        saved = read_json_file(config.state_file)
        if isinstance(saved, dict) and saved.get("tenantId"):
            return str(saved["tenantId"])
    return str(uuid.uuid4())


def _write_secret(data_dir: Path, port: int, secret: str) -> Path:
    path = data_dir / f"client-secret-{port}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    os.chmod(path, 0o600)
    return path


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


def start(config: EmulatorConfig) -> Running:
    """Build the store, identity service and server and bind the port; nothing served yet."""
    data_dir = Path(config.data_dir or default_data_dir())
    certs = _certificates(data_dir)
    tenant = _tenant(config)
    registry = ClientRegistry()
    client_id = config.client_id or DEFAULT_CLIENT_ID
    secret = config.client_secret or secrets.token_urlsafe(32)
    registry.register({"clientId": client_id, "secret": secret, "roles": DEFAULT_ROLES})
    if config.clients_file:
        registry.load_file(config.clients_file)
    base: dict[str, str] = {}
    identity = IdentityService(
        tenant_id=tenant,
        registry=registry,
        base_url_fn=lambda: base["url"],
        ca_file=certs.ca_cert,
        signing_key=data_dir / "signing-key.pem",
    )
    app = Emulator(
        store=Store(
            tenant_kind=config.tenant_kind,
            tenant_id=tenant,
            replication_delay=config.replication_delay,
            readings=config.readings,
        ),
        identity=identity,
        registry=registry,
        page_size=config.page_size,
        budget=budget_for(config.rate_limit, per_app=config.per_app, window=config.rate_window),
        state_file=config.state_file,
        base_url_fn=lambda: base["url"],
        hang_cap=config.hang_cap,
        request_log_size=config.request_log_size,
    )
    app.load_state()
    context = None if config.http else server_ssl_context(certs.server_cert, certs.server_key)
    server = EmulatorServer(app, host=config.host, port=config.port, ssl_context=context)
    shown = "127.0.0.1" if config.host in ("0.0.0.0", "") else config.host
    base["url"] = f"{'http' if config.http else 'https'}://{shown}:{server.port}"
    secret_file = None if config.client_secret else _write_secret(data_dir, server.port, secret)
    return Running(server, app, base["url"], tenant, client_id, certs.ca_cert, secret_file)


def ready_line(running: Running, kind: str) -> str:
    line = (
        f"READY {running.base_url} tenant={running.tenant} kind={kind} "
        f"client={running.client_id} ca={running.ca_path}"
    )
    return line + (f" secret-file={running.secret_file}" if running.secret_file else "")


def parse_ready(line: str) -> dict[str, str] | None:
    """The READY line's fields (`base_url`, `tenant`, `kind`, `client`, `ca`, ...) or None."""
    parts = line.strip().split(" ")
    if len(parts) < 2 or parts[0] != "READY":
        return None
    out = {"base_url": parts[1]}
    out.update(part.partition("=")[::2] for part in parts[2:] if "=" in part)
    return out


def _rate_limit(text: str) -> int | None:
    if text == "off":
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--rate-limit takes a positive number or 'off'")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 86400:  # also refuses nan and inf
        raise argparse.ArgumentTypeError("must be a number of seconds from 0 to 86400")
    return value


class UsageParser(argparse.ArgumentParser):
    """argparse with the usage errors idpctl's verbs give: one `Error:` line on stderr and exit 1
    (argparse's own 2 means "changes" to `--detailed-exitcode` callers)."""

    def error(self, message: str) -> NoReturn:
        print(f"Error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    p = UsageParser(prog="idpctl emulator", description="Run the local Microsoft Graph emulator.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    p.add_argument("--tenant-kind", choices=("workforce", "b2c", "external"), default="external")
    p.add_argument("--tenant", metavar="ID", help="tenant id (default: a new GUID)")
    p.add_argument("--client-id", metavar="ID", help="the default client's id")
    p.add_argument(
        "--client-secret",
        metavar="S",
        help=f"its secret (better: ${SECRET_ENV}; default: generated)",
    )
    p.add_argument("--clients", metavar="FILE", type=Path, help="YAML file of more clients")
    p.add_argument("--page-size", type=_positive_int, default=100, metavar="N")
    p.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=300,
        metavar="N|off",
        help="requests a window per tenant (per app: 2/3 of it); default 300",
    )
    p.add_argument(
        "--rate-window",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="the throttling window (default 60; shorter for tests)",
    )
    p.add_argument(
        "--request-log-size",
        type=_positive_int,
        default=LOG_LIMIT,
        metavar="N",
        help=f"requests kept for /_emulator/requests (default {LOG_LIMIT})",
    )
    p.add_argument("--replication-delay", type=_seconds, default=0.0, metavar="SECONDS")
    p.add_argument(
        "--reading",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="where the docs are silent, behave this way (default: the strictest): "
        + "; ".join(f"{k}={'|'.join(v)}" for k, v in CHOICES.items()),
    )
    p.add_argument("--http", action="store_true", help="plain HTTP (for curl only)")
    p.add_argument("--state", type=Path, metavar="FILE", help="keep the store in this file")
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"certificates and generated secrets (default {default_data_dir()})",
    )
    p.add_argument("--debug", action="store_true", help="log every request to stderr")
    return p


def _config(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        tenant_kind=args.tenant_kind,
        tenant=args.tenant,
        client_id=args.client_id,
        client_secret=args.client_secret or os.environ.get(SECRET_ENV) or None,
        clients_file=args.clients,
        page_size=args.page_size,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        replication_delay=args.replication_delay,
        request_log_size=args.request_log_size,
        http=args.http,
        state_file=args.state,
        data_dir=args.data_dir,
        readings=Readings.parse(args.reading),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        running = start(_config(args))
    except (OSError, ValueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(
        target=running.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    print(ready_line(running, args.tenant_kind), flush=True)
    while not stop.wait(0.5):
        pass
    running.stop()
    thread.join(timeout=5)
    return 0
