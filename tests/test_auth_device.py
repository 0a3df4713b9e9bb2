"""auth.mode deviceCode: a person signs in with msal's device-code flow against the
emulator's device-code endpoint; the token cache makes the second run silent; the person's
directory roles decide what Graph allows."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from idpctl.emulator.harness import AdminClient

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
EIPA = "be2f45a1-457d-42af-a067-6ec1fa63bc45"
READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"


def _device_workspace(workspace, cache: Path) -> None:
    e = workspace.emulator
    text = workspace.config.read_text(encoding="utf-8")
    start, end = text.index("auth:\n"), text.index("state:")
    workspace.config.write_text(
        text[:start] + f"auth: {{mode: deviceCode, clientId: {e.client_id}, "
                       f"tokenCache: {cache}}}\n" + text[end:], encoding="utf-8")


def _approver(admin: AdminClient, wids: list[str], done: threading.Event,
              approved: list[str]) -> threading.Thread:
    def approve() -> None:
        deadline = time.time() + 30
        while time.time() < deadline and not done.is_set():
            pending = admin.call("GET", "/device")["pending"]
            if pending:
                admin.call("POST", "/device/approve",
                           {"user_code": pending[0], "upn": "ada@contoso.test", "wids": wids})
                approved.append(pending[0])
                return
            time.sleep(0.1)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


def test_device_code_sign_in_then_the_cache(workspace, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "msal.json"
    _device_workspace(workspace, cache)
    workspace.write("google.yaml", GOOGLE)
    env = {"GOOGLE_SECRET": "CANARY-device-google"}
    admin = workspace.emulator.admin
    done, approved = threading.Event(), []
    thread = _approver(admin, [EIPA], done, approved)
    first = workspace.run_process("whoami", env=env, timeout=60)
    done.set()
    thread.join(5)
    assert first.code == 0, first.text
    assert len(approved) == 1
    assert f"enter the code {approved[0]} to authenticate" in first.err
    assert "signed in:  ada@contoso.test" in first.out
    assert "auth mode:  deviceCode" in first.out and "apply:      allowed" in first.out
    assert cache.is_file() and (cache.stat().st_mode & 0o777) == 0o600
    # the second run signs in from the cache: no code, nobody approves
    applied = workspace.run_process("apply", "--auto-approve", env=env, timeout=60)
    assert applied.code == 0, applied.text
    assert "enter the code" not in applied.err
    assert admin.call("GET", "/device")["pending"] == []
    assert "CANARY-" not in first.text + applied.text
    assert json.loads(cache.read_text(encoding="utf-8"))["RefreshToken"]


def test_a_person_without_a_managing_role_is_refused_by_graph(workspace, tmp_path) -> None:
    _device_workspace(workspace, tmp_path / "msal.json")
    done, approved = threading.Event(), []
    thread = _approver(workspace.emulator.admin, [READER], done, approved)
    result = workspace.run_process("plan", env={}, timeout=60)
    done.set()
    thread.join(5)
    assert result.code == 1
    assert "Error: Graph 403 accessDenied" in result.err
    assert os.path.exists(tmp_path / "msal.json")
