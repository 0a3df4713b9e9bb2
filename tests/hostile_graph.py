"""A man-in-the-middle Graph for tests: an HTTPS proxy in front of an emulator (with the
emulator's own certificate) that passes every request through, except that the provider list
can be rewritten: extra items appended, or the whole body replaced. It serves what the
emulator's admin API refuses to store (unknown `@odata.type`s, non-objects, wrong shapes)."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from idpctl_emulator.harness import EmulatorHandle
from workspace import allow_endpoint

__all__ = ["Rewrite", "hostile_graph"]

LIST_PATH = "/beta/identity/identityProviders"


@dataclass
class Rewrite:
    """What the proxy does to the provider list's first page."""

    extra: list[Any] = field(default_factory=list)  # items appended to "value"
    body: Callable[[dict[str, Any]], bytes] | None = None  # or: the whole answer, from the real


@contextlib.contextmanager
def hostile_graph(emu: EmulatorHandle, rewrite: Rewrite) -> Iterator[str]:
    """Run the proxy; yields its base URL (use it for graph.url and graph.authority)."""
    upstream = httpx.Client(
        base_url=emu.base_url, verify=emu.ssl_context(), timeout=30, trust_env=False
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "content-length", "accept-encoding")
            }
            reply = upstream.request(self.command, self.path, content=body, headers=headers)
            content = reply.content
            if self.command == "GET" and self.path == LIST_PATH and reply.status_code == 200:
                page = reply.json()
                if rewrite.body is not None:
                    content = rewrite.body(page)
                else:
                    page["value"] = [*page["value"], *rewrite.extra]
                    content = json.dumps(page).encode()
            self.send_response(reply.status_code)
            for name, value in reply.headers.items():
                if name.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "content-encoding",
                ):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

    with serving(Handler, emu) as url:
        try:
            yield url
        finally:
            upstream.close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # idpctl hanging up on a body it refuses is the point of these tests; the default
        # prints a traceback to sys.stderr, which an in-process idpctl run is capturing
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], emu: EmulatorHandle) -> Iterator[str]:
    """`handler` on loopback over TLS with the emulator's certificate (so idpctl trusts it
    through the emulator's CA), its URL on the operator's allowance, for the block."""
    server = _QuietServer(("127.0.0.1", 0), handler)
    directory = Path(emu.ca_path).parent
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem", directory / "server-key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    allow_endpoint(url)  # the operator (this test) lets idpctl talk to it
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
