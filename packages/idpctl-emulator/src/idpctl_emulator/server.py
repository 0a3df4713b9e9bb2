"""The emulator's application (`Emulator`: one `wire.Request` in, one `wire.Response` out) and
its HTTPS transport (`EmulatorServer`, a threaded `http.server` with TLS per connection).

Request flow: latency (once per HTTP request) -> admin API | identity stand-in | Graph.
A Graph request (and each `$batch` item) goes: token check -> throttle -> fault rule ->
store, with the fault deciding whether the store runs before or after it answers.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from idpctl_emulator import admin, sampleidp, wire
from idpctl_emulator.faults import FaultRule, Faults, apply_rule
from idpctl_emulator.graphapi import GraphApi
from idpctl_emulator.throttle import Budget, Throttle, throttled_response
from idpctl_emulator.userflows import UserFlows

__all__ = ["Emulator", "EmulatorServer"]

logger = logging.getLogger(__name__)

HANG_CAP_SECONDS = 60.0


class Emulator:
    """Everything but the sockets. Thread-safe: the transport calls `handle` concurrently."""

    def __init__(
        self,
        *,
        store: Any,
        identity: Any,
        registry: Any,
        page_size: int = 100,
        budget: Budget | None = None,
        state_file: Path | None = None,
        base_url_fn: Callable[[], str],
        hang_cap: float = HANG_CAP_SECONDS,
        request_log_size: int = admin.LOG_LIMIT,
    ) -> None:
        self.store = store
        self.identity = identity
        self.registry = registry
        self.base_url_fn = base_url_fn
        self.hang_cap = hang_cap
        self.faults = Faults()
        self.throttle = Throttle(budget)
        self.latency_ms = 0
        self.stopping = threading.Event()
        self._save_lock = threading.Lock()
        self.log = admin.RequestLog(redact=self._redact, limit=request_log_size)
        self.state_file = state_file
        self.graph = GraphApi(self, page_size=page_size)
        self.userflows = UserFlows(
            tenant_kind=store.tenant_kind,
            provider=lambda provider_id: store.get("beta", provider_id),
            base_url=base_url_fn,
        )
        self.admin = admin.AdminApi(self)

    # -- the pipeline -----------------------------------------------------------------

    def handle(self, request: wire.Request) -> wire.Response:
        if request.path.startswith("/_emulator/") or request.path == "/_emulator":
            response = self.admin.handle(request)
            return wire.finish(request, response)
        if self.latency_ms:
            self.sleep(self.latency_ms / 1000)
        if self.graph.owns(request.path):
            response = self.graph.handle(request)
        else:
            rule = self.faults.fire(request.method, [request.path])
            response = self.with_fault(rule, request, lambda: self._identity(request))
        response = wire.finish(request, response)
        self.log.record(request, response)
        if request.method != "GET" and self.graph.owns(request.path):
            self.save_state()
        return response

    def _identity(self, request: wire.Request) -> wire.Response:
        response = sampleidp.handle(request, self.base_url_fn()) or self.identity.handle(request)
        if response is None:
            return wire.graph_error(
                404, "UnknownPath", f"No endpoint at {request.path}.", request_id=request.request_id
            )
        return response

    def with_fault(
        self, rule: FaultRule | None, request: wire.Request, run: Callable[[], wire.Response]
    ) -> wire.Response:
        return apply_rule(rule, request, run, sleep=self.sleep, hide=self.store.hide)

    def throttled(self, request: wire.Request) -> wire.Response | None:
        app_id = self.identity.app_id(request)
        verdict = self.throttle.admit(app_id)
        if verdict is None:
            return None
        return throttled_response(verdict, request, app_id=app_id, tenant_id=self.store.tenant_id)

    # -- helpers ------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake when the server stops."""
        self.stopping.wait(seconds)

    def _redact(self, body: Any) -> Any:
        redacted = self.store.redact(body)
        return body if redacted is None else redacted

    def load_state(self) -> None:
        if self.state_file and self.state_file.exists():
            self.store.restore(admin.read_json_file(self.state_file))

    def save_state(self) -> None:
        if not self.state_file:
            return
        with self._save_lock:
            admin.write_json_atomic(self.state_file, self.store.snapshot())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "idpctl-emulator"
    timeout = 120  # an idle keep-alive connection is closed after this
    server: EmulatorServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = wire.Request(
            method=self.command.upper(),
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_host=self.client_address[0],
        )
        try:
            response = self.server.app.handle(request)
        except Exception:
            logger.exception("emulator: unhandled error on %s %s", request.method, request.path)
            response = wire.finish(
                request,
                wire.graph_error(
                    500,
                    "generalException",
                    "The emulator failed on this request.",
                    request_id=request.request_id,
                ),
            )
        if response.action == "hang":
            self._hang()
        if response.action:
            self._drop()
            return
        self._write(response)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Transport-level errors (bad request line, unsupported method) in Graph's shape."""
        request_id = str(uuid.uuid4())
        self.close_connection = True
        self._write(
            wire.finish(
                wire.Request(self.command or "", "", {}, {}, request_id=request_id),
                wire.graph_error(
                    code,
                    "BadRequest" if code < 500 else "generalException",
                    message or "The request could not be read.",
                    request_id=request_id,
                ),
            )
        )

    def _write(self, response: wire.Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    def _hang(self) -> None:
        """Hold the request until the client goes away, the cap passes or the server stops."""
        app = self.server.app
        deadline = threading.Event()
        timer = threading.Timer(app.hang_cap, deadline.set)
        timer.daemon = True
        timer.start()
        try:
            while not (deadline.is_set() or app.stopping.is_set()):
                readable, _, _ = select.select([self.connection], [], [], 0.2)
                if readable and not self._peer_alive():
                    return
        finally:
            timer.cancel()

    def _peer_alive(self) -> bool:
        try:
            self.connection.settimeout(0.05)
            return bool(self.connection.recv(1024))
        except (TimeoutError, ssl.SSLWantReadError):
            return True
        except (OSError, ssl.SSLError):
            return False

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: " + format, *args)


class EmulatorServer(ThreadingHTTPServer):
    """A threaded HTTP(S) server; the TLS handshake runs in each connection's own thread so a
    slow client cannot stall the accept loop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        app: Emulator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.ssl_context = ssl_context
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        # headers and body go out in separate writes: without this, Nagle + delayed ACK
        # add ~40 ms to every keep-alive response
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as error:
            logger.debug("emulator: TLS handshake failed: %s", error)
            return
        try:
            tls.settimeout(None)
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up (timeout, reset) mid-response: not the emulator's problem
        logger.debug(
            "emulator: connection from %s ended with an error", client_address, exc_info=True
        )

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        if not self.app.stopping.is_set():
            super().serve_forever(poll_interval)

    def stop(self) -> None:
        """Release hanging requests, stop serving (if serving) and close the socket."""
        self.app.stopping.set()
        if getattr(self, "_serving", False):
            self.shutdown()
        self.server_close()
