"""A hostile server for output tests: HTTPS on loopback with the emulator's certificate, that
answers chosen requests with an error echoing everything it was sent (request line,
Authorization and X-Vault-Token headers, the body raw and, for a form, URL-decoded) plus an
attacker's payload of forged lines, in the error shapes Graph, Key Vault, Entra sign-in and
Vault use.
Other requests are passed to the emulator (so a run can get far enough to send a body).

It records every credential it saw, so a test can require that none of them reaches output.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from hostile_graph import serving
from idpctl_emulator.harness import EmulatorHandle

__all__ = ["PAYLOAD", "Echo", "echo_server"]

# what an attacker's server puts in its error text: forged lines of every kind
PAYLOAD = (
    "FORGED\n::add-mask::FORGED\r\nError: FORGED\n::warning file=README.md,line=1::FORGED"
    "\u2028::stop-commands::FORGED\x1b[2J\x1b]0;FORGED\x07 ##[error]FORGED\x85"
    "Error: FORGED\x00`````\n</details>@octocat"
)


@dataclass
class Echo:
    """What the server echoes, and what it saw."""

    when: Callable[[str, str], bool] = lambda method, path: True  # echo this request?
    status: int = 400
    rebase: bool = False  # passed-on answers name this server, not the emulator (sign-in)
    seen: list[str] = field(default_factory=list)  # credentials it received
    bodies: list[str] = field(default_factory=list)  # request bodies it echoed

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> bytes:
        text = body.decode("utf-8", "replace")
        auth = headers.get("Authorization") or ""
        vault = headers.get("X-Vault-Token") or ""
        self.seen += [v for v in (auth.removeprefix("Bearer "), vault) if v]
        self.bodies.append(text)
        form = "form-urlencoded" in (headers.get("Content-Type") or "")
        decoded = urllib.parse.unquote_plus(text) if form else text
        echo = (
            f"{method} {path} Authorization: {auth} X-Vault-Token: {vault} body: {text} "
            f"decoded: {decoded} {PAYLOAD}"
        )
        return json.dumps(
            {
                "error": {"code": "Echo", "message": echo},
                "error_description": echo,
                "errors": [echo],
            }
        ).encode()


@contextlib.contextmanager
def echo_server(emu: EmulatorHandle, echo: Echo) -> Iterator[str]:
    """Run the server; yields its base URL."""
    upstream = httpx.Client(
        base_url=emu.base_url, verify=emu.ssl_context(), timeout=30, trust_env=False
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if echo.when(self.command, self.path):
                status, content, kind = (
                    echo.status,
                    echo.answer(self.command, self.path, self.headers, body),
                    "application/json",
                )
            else:
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "accept-encoding")
                }
                reply = upstream.request(
                    self.command, self.path, content=body or None, headers=headers
                )
                status, content = reply.status_code, reply.content
                if echo.rebase:
                    own = f"https://127.0.0.1:{self.server.server_address[1]}"
                    content = content.replace(emu.base_url.encode(), own.encode())
                kind = reply.headers.get("content-type", "application/json")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    with serving(Handler, emu) as url:  # on the allowance: the scenario is what it echoes
        try:
            yield url
        finally:
            upstream.close()
