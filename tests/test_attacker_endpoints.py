"""Attacker's side of "credentials go only to their owners" and "the repository is the
boundary" (docs/security.md, controls 1 and 5).

A pull request controls every file of the repository, `idpctl.yaml` included. In every
scenario here a file points a credential-receiving URL (a Key Vault reference, the Graph URL,
the authority, a Vault address) at a loopback listener the operator never allowed, or names a
file outside the repository. Each run must end with exit 1 and one located line, and the
listener must receive nothing: not a connection, not a byte. The emulator itself is reached
only because the operator's allowance (IDPCTL_ALLOW_ENDPOINTS, set by tests/workspace.py)
names it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workspace import ALLOW_ENV, Result, Workspace, origin

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: %s
"""
OUTSIDE_CANARY = "OUTSIDE-the-repository-7f3a"  # not CANARY-: the workspace scan follows links
# every verb that loads the provider files; each resolves secrets or refuses before it would
VERBS = (
    ("validate",),
    ("plan",),
    ("drift",),
    ("apply", "--auto-approve"),
    ("secrets", "report", "--offline"),
)


class Listener:
    """A plain TCP server on loopback recording every connection and byte it receives."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(1)
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def assert_untouched(self) -> None:
        assert (self.connections, self.received) == (0, b""), "the attacker's listener was reached"


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def refused(result: Result, where: str, reason: str) -> None:
    """Exit 1 and exactly one located line naming `where` (file:line) and `reason`."""
    assert result.code == 1, result.text
    lines = [
        line for line in result.text.splitlines() if line.startswith("Error:") or where in line
    ]
    assert len(lines) == 1, result.text
    assert where in lines[0] and reason in lines[0], result.text


def managed(ws: Workspace) -> list[str]:
    """Display names of the live providers idpctl could have written (built-ins left out)."""
    return sorted(
        p["displayName"]
        for p in ws.live()
        if p.get("@odata.type") != "#microsoft.graph.builtInIdentityProvider"
    )


def run_every_verb(ws: Workspace, where: str, reason: str, listener: Listener, **env: str) -> None:
    results = [ws.run(*verb, env=env) for verb in VERBS]
    listener.assert_untouched()  # first: what matters most is that nothing was sent
    for result in results:
        refused(result, where, reason)
    assert managed(ws) == []  # and nothing was written


# -- control 1: a file points a credential at the attacker ---------------------------------------


def test_a_key_vault_reference_to_the_attackers_host_sends_nothing(
    workspace: Workspace, listener: Listener
) -> None:
    workspace.write("evil.yaml", GOOGLE % f'{{keyVault: "{listener.url}/secrets/x"}}')
    run_every_verb(workspace, "evil.yaml:5:", "keyVault host is not a Key Vault", listener)


def test_an_http_key_vault_or_lookalike_host_is_refused_at_validate(workspace: Workspace) -> None:
    for spec in (
        "https://kv.vault.azure.net.attacker.example/secrets/x",
        "https://kv.vault.azure.net:8443/secrets/x",
        "https://vault.azure.net/secrets/x",
    ):
        workspace.write("evil.yaml", GOOGLE % f'{{keyVault: "{spec}"}}')
        refused(workspace.run("validate"), "evil.yaml:5:", "not a Key Vault of the global cloud")


@pytest.mark.parametrize("key", ["url", "authority"])
def test_graph_url_or_authority_pointed_at_the_attacker_sends_nothing(
    workspace: Workspace, listener: Listener, key: str
) -> None:
    text = workspace.config.read_text()
    workspace.config.write_text(
        text.replace(f"{key}: {workspace.emulator.base_url}", f"{key}: {listener.url}")
    )
    workspace.write("google.yaml", GOOGLE % "{env: GOOGLE_SECRET}")
    line = 4 if key == "url" else 5
    run_every_verb(
        workspace,
        f"idpctl.yaml:{line}:",
        "not one the configured cloud owns",
        listener,
        GOOGLE_SECRET="CANARY-google",
    )


def test_http_to_an_allowed_https_endpoint_is_still_refused(
    workspace: Workspace, listener: Listener
) -> None:
    """The allowance names https://127.0.0.1:PORT: plain http to the same port is refused."""
    text = workspace.config.read_text()
    workspace.config.write_text(
        text.replace(
            f"url: {workspace.emulator.base_url}", f"url: http://127.0.0.1:{listener.port}"
        )
    )
    allowed = f"{os.environ.get(ALLOW_ENV, '')},{origin(listener.url)}"
    for verb in VERBS:
        refused(workspace.run(*verb, env={ALLOW_ENV: allowed}), "idpctl.yaml:4:", "must be https")
    listener.assert_untouched()


def test_a_vault_address_in_the_file_sends_no_vault_credential(
    workspace: Workspace, listener: Listener
) -> None:
    workspace.extra_config = f'vault: {{address: "{listener.url}"}}\n'
    workspace.write_config()
    workspace.write("google.yaml", GOOGLE % "{vault: {path: idp/google, key: secret}}")
    run_every_verb(
        workspace,
        "idpctl.yaml:",
        "outside the operator's allowance",
        listener,
        VAULT_TOKEN="CANARY-vault-token",
    )


def test_a_state_account_url_in_the_file_sends_no_storage_token(
    workspace: Workspace, listener: Listener
) -> None:
    text = workspace.config.read_text().replace(
        "state: {backend: local, path: state.json}",
        f'state: {{backend: azureblob, url: "{listener.url}", container: c, blob: b}}',
    )
    workspace.config.write_text(text)
    workspace.write("google.yaml", GOOGLE % "{env: GOOGLE_SECRET}")
    run_every_verb(
        workspace, "idpctl.yaml:", "state.url host", listener, GOOGLE_SECRET="CANARY-google"
    )


def test_a_connection_string_endpoint_gets_no_account_key(listener: Listener) -> None:
    """A connection string's endpoint is known only once resolved: checked there."""
    from idpctl.errors import ConfigError
    from idpctl.model import SecretRef
    from idpctl.state.blobsettings import from_settings

    os.environ["ATTACK_CONNECTION"] = (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Q0FOQVJZLWtleQ==;"
        f"BlobEndpoint={listener.url}/a;"
    )
    try:
        with pytest.raises(ConfigError, match=r"state account URL host 127\.0\.0\.1"):
            from_settings(
                {
                    "connectionString": SecretRef("env", "ATTACK_CONNECTION"),
                    "container": "c",
                    "blob": "b",
                }
            )
    finally:
        del os.environ["ATTACK_CONNECTION"]
    listener.assert_untouched()


def test_vault_addr_and_actions_url_over_http_send_nothing(
    workspace: Workspace, listener: Listener
) -> None:
    """From the environment (the operator's) a host is trusted, plain http is not: neither
    the Vault token nor the GitHub request token crosses the wire in clear text."""
    plain = f"http://127.0.0.1:{listener.port}"
    workspace.write("google.yaml", GOOGLE % "{vault: {path: idp/google, key: secret}}")
    result = workspace.run("plan", env={"VAULT_ADDR": plain, "VAULT_TOKEN": "CANARY-vt"})
    assert result.code == 1 and "VAULT_ADDR must be https" in result.text, result.text
    jwt = "vault: {auth: {method: jwt, role: ci}}\n"
    workspace.extra_config = jwt
    workspace.write_config()
    result = workspace.run(
        "plan",
        env={
            "VAULT_ADDR": "https://vault.corp.example",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{plain}/token",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "CANARY-request",
        },
    )
    assert result.code == 1 and "ACTIONS_ID_TOKEN_REQUEST_URL must be https" in result.text
    listener.assert_untouched()


def test_federated_sign_in_refuses_an_http_request_url(listener: Listener) -> None:
    from idpctl.errors import AuthError
    from idpctl.graph.auth import token_provider

    env = {
        "AZURE_CLIENT_ID": "c",
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{listener.port}/token",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "CANARY-r",
    }
    with pytest.raises(AuthError, match="ACTIONS_ID_TOKEN_REQUEST_URL must be https"):
        token_provider(
            {"mode": "federated"},
            tenant="t",
            authority_root="https://login.microsoftonline.com",
            env=env,
        )
    listener.assert_untouched()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("path", "../../sys/raw", "must not hold '..'"),
        ("path", "/sys/raw", "must be relative"),
        ("path", "idp//google", "empty segments"),
        ("mount", "secret/../sys", "must not hold '..'"),
    ],
)
def test_a_vault_mount_or_path_that_steers_the_request_is_refused(
    workspace: Workspace, field: str, value: str, reason: str
) -> None:
    spec = {"path": "idp/google", "key": "secret", field: value}
    inner = ", ".join(f"{k}: {v!r}" for k, v in spec.items())
    workspace.write("evil.yaml", GOOGLE % f"{{vault: {{{inner}}}}}")
    refused(workspace.run("validate"), "evil.yaml:5:", reason)


def test_the_emulator_needs_the_allowance(workspace: Workspace) -> None:
    """Without the operator's allowance the test repository's own emulator URL is refused;
    the --allow-endpoint flag alone lets it through."""
    workspace.write("google.yaml", GOOGLE % "{env: GOOGLE_SECRET}")
    env = {ALLOW_ENV: "", "GOOGLE_SECRET": "CANARY-google"}
    result = workspace.run("plan", env=env)
    assert result.code == 1 and result.text.startswith("Error: idpctl.yaml:4:"), result.text
    assert "graph.url host 127.0.0.1" in result.text and "IDPCTL_ALLOW_ENDPOINTS" in result.text
    flag = origin(workspace.emulator.base_url).removeprefix("https://")
    assert workspace.run("plan", "--allow-endpoint", flag, env=env).code == 0


# -- control 5: the repository is the boundary -----------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(OUTSIDE_CANARY + "\n")
    return secret


def test_a_file_reference_outside_the_repository_is_refused(
    workspace: Workspace, outside: Path
) -> None:
    relative = os.path.relpath(outside, workspace.providers)  # ../../outside/secret.txt
    workspace.write("evil.yaml", GOOGLE % f"{{file: {relative}}}")
    for verb in VERBS:
        result = workspace.run(*verb)
        refused(result, "evil.yaml:5:", "outside the configuration's root")
        assert OUTSIDE_CANARY not in result.text
    result = workspace.run("validate", "--allow-path", str(outside.parent))
    assert result.code == 0, result.text


def test_a_symlink_out_of_the_repository_is_refused_and_never_echoed(
    workspace: Workspace, outside: Path
) -> None:
    target = outside.parent / "stolen.yaml"
    target.write_text(f"kind: {OUTSIDE_CANARY}\n")
    (workspace.providers / "link.yaml").symlink_to(target)
    (workspace.providers / "secret.txt").symlink_to(outside)
    workspace.write("google.yaml", GOOGLE % "{file: secret.txt}")
    for verb in VERBS:
        result = workspace.run(*verb)
        assert result.code == 1 and OUTSIDE_CANARY not in result.text, result.text
        assert "link.yaml:1:1: symlink target is outside the configuration's root" in result.text


def test_an_environment_overlay_symlinked_out_of_the_repository_is_refused(
    workspace: Workspace, outside: Path
) -> None:
    overlay = outside.parent / "prod.yaml"
    overlay.write_text(f"tenant: {OUTSIDE_CANARY}\n")
    (workspace.root / "environments").mkdir()
    (workspace.root / "environments" / "prod.yaml").symlink_to(overlay)
    result = workspace.run("--env", "prod", "validate")
    assert result.code == 1 and OUTSIDE_CANARY not in result.text, result.text
    assert "prod.yaml:1:1: environment 'prod': the overlay is outside" in result.text


@pytest.mark.parametrize("key", ["auth.certificate.path", "auth.federatedToken.file"])
def test_credential_files_outside_the_repository_need_the_allowance(
    workspace: Workspace, outside: Path, key: str
) -> None:
    text = workspace.config.read_text().replace(
        "  mode: secret\n",
        "  mode: secret\n"
        + {
            "auth.certificate.path": f"  certificate: {{path: {outside}}}\n",
            "auth.federatedToken.file": f"  federatedToken: {{file: {outside}}}\n",
        }[key],
    )
    workspace.config.write_text(text)
    refused(workspace.run("validate"), "idpctl.yaml:", f"{key} is outside")
    assert workspace.run("validate", "--allow-path", str(outside.parent)).code == 0


def _timed(run: Callable[[], Result]) -> Result:
    """`run()` in a thread: a FIFO read that blocks fails the test instead of hanging it."""
    box: list[Result] = []
    thread = threading.Thread(target=lambda: box.append(run()), daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert box, "idpctl blocked on a special file"
    return box[0]


def test_a_fifo_provider_file_is_refused_without_blocking(workspace: Workspace) -> None:
    os.mkfifo(workspace.providers / "pipe.yaml")
    for verb in VERBS:
        result = _timed(lambda verb=verb: workspace.run(*verb))
        refused(result, "pipe.yaml:1:1:", "is a FIFO, not a regular file")


def test_a_fifo_file_reference_is_refused_without_blocking(workspace: Workspace) -> None:
    os.mkfifo(workspace.providers / "secret.pipe")
    workspace.write("google.yaml", GOOGLE % "{file: secret.pipe}")
    result = _timed(lambda: workspace.run("plan"))
    assert result.code == 1 and "is a FIFO, not a regular file" in result.text, result.text


def test_a_fifo_certificate_is_refused_without_blocking(workspace: Workspace) -> None:
    os.mkfifo(workspace.root / "cert.pem")
    text = workspace.config.read_text().replace("mode: secret", "mode: certificate")
    workspace.config.write_text(
        text.replace("  clientSecret:", "  certificate: {path: cert.pem}\n  clientSecret:")
    )
    workspace.write("google.yaml", GOOGLE % "{env: GOOGLE_SECRET}")
    result = _timed(lambda: workspace.run("plan", env={"GOOGLE_SECRET": "CANARY-g"}))
    assert result.code == 1 and "is a FIFO, not a regular file" in result.text, result.text


@pytest.mark.parametrize("breakage", ["dangling", "loop", "fifo"])
def test_a_broken_provider_file_is_an_error_not_a_planned_delete(
    workspace: Workspace, breakage: str
) -> None:
    """Before: a provider file turned into a dangling symlink (or loop, or FIFO) was skipped,
    so plan proposed deleting the provider it held. Now it is a located error."""
    path = workspace.write("google.yaml", GOOGLE % "{env: GOOGLE_SECRET}")
    env = {"GOOGLE_SECRET": "CANARY-google"}
    workspace.apply(env=env)
    path.unlink()
    if breakage == "dangling":
        path.symlink_to(workspace.providers / "gone.yaml")
    elif breakage == "loop":
        path.symlink_to(path)
    else:
        os.mkfifo(path)
    reason = {"dangling": "dangling symlink", "loop": "symlink loop", "fifo": "is a FIFO"}[breakage]
    for verb in (("plan",), ("apply", "--auto-approve", "--allow-destroy"), ("drift",)):
        result = _timed(lambda verb=verb: workspace.run(*verb, env=env))
        refused(result, "google.yaml:1:1:", reason)
        assert "delete" not in result.out.lower()
    assert managed(workspace) == ["Google"]


def test_an_unreadable_folder_under_providers_is_an_error(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads any folder, so the permission error is injected where the walk lists one."""
    sub = workspace.providers / "team"
    sub.mkdir()
    real = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path) == sub:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    refused(workspace.run("validate"), "team:1:1:", "cannot read the folder (Permission denied)")
