"""The canary check: every verb, with --debug, on success and on failure paths, run as a user
runs it (a child process), never shows a secret value the test used, in any output or any file.

The `workspace` fixture scans what idpctl printed and every file under the repository after each
test; these tests add the --debug HTTP trace and the error paths to what it sees.
"""

from __future__ import annotations

from pathlib import Path

OIDC = """\
kind: oidcIdentityProvider
displayName: Contoso
clientId: contoso-client
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: openid profile
clientAuthentication:
  method: client_secret_post
  clientSecret: {env: CONTOSO_SECRET}
inboundClaimMapping: {sub: sub, email: email}
"""
GOOGLE_FROM_FILE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {file: ../secrets/google.txt}
"""
ENV = {"CONTOSO_SECRET": "CANARY-contoso-debug"}


def _repo(workspace) -> None:
    secrets = workspace.root / "secrets"
    secrets.mkdir()
    (secrets / "google.txt").write_text("CANARY-google-from-file\n", encoding="utf-8")
    workspace.write("contoso.yaml", OIDC)
    workspace.write("google.yaml", GOOGLE_FROM_FILE)


def _run_all(workspace, *args: str, env: dict[str, str] | None = None):
    result = workspace.run_process("--debug", *args, env={**ENV, **(env or {})})
    assert "CANARY-" not in result.out + result.err
    return result


def test_every_verb_with_debug_on_the_happy_path(workspace) -> None:
    _repo(workspace)
    assert _run_all(workspace, "validate").code == 0
    assert _run_all(workspace, "plan", "--out", "plan.json").code == 0
    for fmt in ("text", "json", "markdown"):
        assert _run_all(workspace, "show", "plan.json", "--format", fmt).code == 0
    applied = _run_all(workspace, "apply", "plan.json")
    assert applied.code == 0, applied.err
    assert "Authorization" in applied.err or "POST" in applied.err  # the trace is really on
    assert _run_all(workspace, "state", "show", "oidcIdentityProvider/Contoso").code == 0
    rotated = _run_all(
        workspace, "apply", "--auto-approve", env={"CONTOSO_SECRET": "CANARY-contoso-rotated"}
    )
    assert rotated.code == 0
    assert (
        _run_all(
            workspace,
            "plan",
            "--detailed-exitcode",
            env={"CONTOSO_SECRET": "CANARY-contoso-rotated"},
        ).code
        == 0
    )


def test_failure_paths_with_debug(workspace) -> None:
    _repo(workspace)
    admin = workspace.emulator.admin
    admin.add_fault(method="POST", path=r"\$batch", status=500, count=1, when="after")
    failed = _run_all(workspace, "apply", "--auto-approve")
    assert failed.code in (0, 1)
    admin.clear_faults()
    admin.add_fault(
        method="GET",
        path="identityProviders",
        status=400,
        count=10,
        code="invalidRequest",
        message="bad CANARY-contoso-debug echo",
    )
    refused = _run_all(workspace, "plan")
    assert refused.code == 1
    admin.clear_faults()
    missing = _run_all(workspace, "plan", env={"CONTOSO_SECRET": ""})
    assert missing.code == 1 and "CONTOSO_SECRET" in missing.err
    (workspace.root / "secrets" / "google.txt").unlink()
    gone = _run_all(workspace, "apply", "--auto-approve")
    assert gone.code == 1 and "google.txt" in gone.err
    (workspace.root / "secrets" / "google.txt").write_text("CANARY-google-2\n", encoding="utf-8")
    bad_token = _run_all(workspace, "plan", env={"IDPCTL_TEST_CLIENT_SECRET": "CANARY-wrong"})
    assert bad_token.code == 1 and "AADSTS" in bad_token.err
    assert _converges(workspace)


def _converges(workspace) -> bool:
    result = workspace.run_process("apply", "--auto-approve", env=ENV)
    if result.code != 0:
        return False
    return workspace.run_process("plan", "--detailed-exitcode", env=ENV).code == 0


def test_secret_file_is_the_only_place_the_value_lives(workspace) -> None:
    _repo(workspace)
    assert workspace.run_process("apply", "--auto-approve", env=ENV).code == 0
    holders = [p for p in workspace.root.rglob("*") if p.is_file() and b"CANARY-" in p.read_bytes()]
    assert holders == [Path(workspace.root / "secrets" / "google.txt")]
