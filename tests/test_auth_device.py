"""auth.mode deviceCode: a person signs in with msal's device-code flow against the
emulator's device-code endpoint; the token cache makes the second run silent; the person's
directory roles decide what Graph allows."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from idpctl_emulator.harness import AdminClient

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
        f"tokenCache: {cache}}}\n" + text[end:],
        encoding="utf-8",
    )


def _approver(
    admin: AdminClient, wids: list[str], done: threading.Event, approved: list[str]
) -> threading.Thread:
    def approve() -> None:
        deadline = time.time() + 30
        while time.time() < deadline and not done.is_set():
            pending = admin.call("GET", "/device")["pending"]
            if pending:
                admin.call(
                    "POST",
                    "/device/approve",
                    {"user_code": pending[0], "upn": "ada@contoso.test", "wids": wids},
                )
                approved.append(pending[0])
                return
            time.sleep(0.1)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


def test_device_code_sign_in_then_the_cache(workspace, tmp_path: Path) -> None:
    cache = workspace.root / ".idpctl" / "cache" / "msal.json"
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
    cache = workspace.root / ".idpctl" / "msal.json"
    _device_workspace(workspace, cache)
    done, approved = threading.Event(), []
    thread = _approver(workspace.emulator.admin, [READER], done, approved)
    result = workspace.run_process("plan", env={}, timeout=60)
    done.set()
    thread.join(5)
    assert result.code == 1
    assert "Error: Graph 403 accessDenied" in result.err
    assert os.path.exists(cache)


def test_the_token_cache_stays_in_the_repository_and_is_never_followed(
    workspace, tmp_path: Path
) -> None:
    """A branch's idpctl.yaml cannot choose where a person's refresh token is written: a
    cache outside the repository, or a symlink out of it, is a located error before any
    sign-in; an existing cache file is written 0600 and never through a symlink."""
    victim = tmp_path / "victim-rc"
    victim.write_text("{}", encoding="utf-8")
    original = workspace.config.read_text(encoding="utf-8")
    for cache in (victim, workspace.root / "cache-link.json"):
        if cache != victim:
            cache.symlink_to(victim)
        workspace.config.write_text(original, encoding="utf-8")
        _device_workspace(workspace, cache)
        result = workspace.run("validate")
        assert result.code == 1, result.text
        assert "auth.tokenCache is outside the configuration's root" in result.text, result.text
        assert victim.read_text(encoding="utf-8") == "{}"


def test_an_existing_cache_file_is_made_private_and_a_link_is_not_followed(tmp_path) -> None:
    from idpctl.graph.apps import DeviceCode

    target = tmp_path / "target.json"
    target.write_text("{}", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    kept = tmp_path / "kept.json"
    kept.write_text("{}", encoding="utf-8")
    kept.chmod(0o644)
    for path, fails in ((link, True), (kept, False)):
        device = DeviceCode.__new__(DeviceCode)
        device.cache_path = str(path)
        device.cache = _ChangedCache()
        if fails:
            try:
                device._save()
            except OSError:
                pass
            else:
                raise AssertionError("the cache was written through a symlink")
        else:
            device._save()
    assert target.read_text(encoding="utf-8") == "{}"
    assert kept.read_text(encoding="utf-8") == "SERIALIZED"
    assert (kept.stat().st_mode & 0o777) == 0o600


class _ChangedCache:
    has_state_changed = True

    def serialize(self) -> str:
        return "SERIALIZED"
