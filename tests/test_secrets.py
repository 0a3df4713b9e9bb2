"""Secret references from the environment and files; resolving whole provider sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from idpctl.errors import SecretError
from idpctl.model import Location, Provider, Secret, SecretRef
from idpctl.secrets.context import Resolver, SecretContext, resolve, resolve_ref

CANARY = "CANARY-secrets-value-91b2"


def _ctx(**env: str) -> SecretContext:
    return SecretContext(env=env)


def _fails(ref: SecretRef, context: SecretContext | None = None) -> str:
    with pytest.raises(SecretError) as caught:
        resolve_ref(ref, context=context)
    message = str(caught.value)
    assert "\n" not in message and "CANARY" not in message and ref.describe() in message
    return message


# -- env ------------------------------------------------------------------------------------


def test_env_success() -> None:
    secret = resolve_ref(SecretRef("env", "MY_SECRET"), context=_ctx(MY_SECRET=CANARY))
    assert secret.reveal() == CANARY
    assert secret.source == "env:MY_SECRET" and secret.version is None
    assert CANARY not in repr(secret) and CANARY not in str(secret) and CANARY not in f"{secret}"


def test_env_defaults_to_process_environment(monkeypatch) -> None:
    monkeypatch.setenv("IDPCTL_TEST_SECRET", CANARY)
    assert resolve_ref(SecretRef("env", "IDPCTL_TEST_SECRET")).reveal() == CANARY


def test_env_missing() -> None:
    assert "is not set" in _fails(SecretRef("env", "NOPE"), _ctx())


def test_env_empty() -> None:
    assert "is empty" in _fails(SecretRef("env", "EMPTY"), _ctx(EMPTY=""))


@pytest.mark.parametrize("spec", ["", None, 3])
def test_env_bad_name(spec) -> None:
    assert "name must be" in _fails(SecretRef("env", spec), _ctx())


# -- file -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (CANARY + "\n", CANARY),
        (CANARY + "\r\n", CANARY),
        (CANARY, CANARY),
        (CANARY + "\n\n", CANARY + "\n"),  # only one trailing newline goes
        ("\ufeff" + CANARY + "\n", CANARY),
        (
            "-----BEGIN KEY-----\nabc\n-----END KEY-----\n",
            "-----BEGIN KEY-----\nabc\n-----END KEY-----",
        ),
    ],
)
def test_file_success(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "secret.txt"
    path.write_bytes(content.encode("utf-8"))
    secret = resolve_ref(SecretRef("file", str(path)))
    assert secret.reveal() == expected and secret.source == f"file:{path}"


def test_file_missing(tmp_path: Path) -> None:
    assert "file not found" in _fails(SecretRef("file", str(tmp_path / "nope")))


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n"])
def test_file_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty"
    path.write_bytes(content)
    assert "is empty" in _fails(SecretRef("file", str(path)))


def test_file_is_directory(tmp_path: Path) -> None:
    assert "directory" in _fails(SecretRef("file", str(tmp_path)))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_file_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "locked"
    path.write_text(CANARY)
    path.chmod(0)
    assert "permission denied" in _fails(SecretRef("file", str(path)))


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin"
    path.write_bytes(b"CANARY-\xff\xfe")
    assert "not UTF-8" in _fails(SecretRef("file", str(path)))


def test_file_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"CANARY-" + b"x" * (1024 * 1024))
    assert "larger than 1 MiB" in _fails(SecretRef("file", str(path)))


def test_unknown_scheme() -> None:
    assert "unknown secret source" in _fails(SecretRef("s3", "bucket/key"))


# -- resolve over providers -------------------------------------------------------------------


def _provider(key: str, ref: SecretRef, **extra) -> Provider:
    return Provider(
        kind="oidcIdentityProvider",
        key=key,
        fields={
            "displayName": key,
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                "clientSecret": ref,
            },
            "scope": "openid",
            **extra,
        },
    )


def test_resolve_replaces_nested_refs_and_keeps_other_fields() -> None:
    providers = [
        _provider("A", SecretRef("env", "A_SECRET"), extra=[{"x": SecretRef("env", "B")}]),
        Provider(kind="socialIdentityProvider", key="Google", fields={"clientId": "c"}),
    ]
    out = resolve(providers, context=_ctx(A_SECRET=CANARY, B=CANARY + "b"))
    auth = out[0].fields["clientAuthentication"]
    assert isinstance(auth["clientSecret"], Secret) and auth["clientSecret"].reveal() == CANARY
    assert auth["@odata.type"].endswith("oidcClientSecretAuthentication")
    assert out[0].fields["extra"][0]["x"].reveal() == CANARY + "b"
    assert out[0].fields["scope"] == "openid" and out[1] == providers[1]
    assert isinstance(providers[0].fields["clientAuthentication"]["clientSecret"], SecretRef)


def test_resolve_collects_every_failure_in_one_error() -> None:
    where = Location("/repo/providers/a.yaml", 7, 19)
    providers = [
        _provider("A", SecretRef("env", "MISSING_A", where)),
        _provider("B", SecretRef("env", "OK")),
        _provider("C", SecretRef("file", "/nonexistent/secret")),
        _provider("D", SecretRef("env", "EMPTY")),
    ]
    with pytest.raises(SecretError) as caught:
        resolve(providers, context=_ctx(OK=CANARY, EMPTY=""))
    message = str(caught.value)
    assert message == (
        "/repo/providers/a.yaml:7:19: oidcIdentityProvider/A clientAuthentication.clientSecret: "
        "cannot resolve env:MISSING_A: the environment variable is not set (and 2 more)"
    )
    problems = caught.value.problems
    assert len(problems) == 3
    assert "oidcIdentityProvider/C" in problems[1] and "file:/nonexistent/secret" in problems[1]
    assert "oidcIdentityProvider/D" in problems[2]
    assert all(CANARY not in p for p in problems)


def test_each_distinct_reference_resolved_once(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text(CANARY)
    resolver = Resolver(_ctx())
    first = resolver.resolve([_provider("A", SecretRef("file", str(path)))])
    path.write_text("CANARY-changed")
    second = resolver.resolve([_provider("B", SecretRef("file", str(path)))])
    a = first[0].fields["clientAuthentication"]["clientSecret"]
    b = second[0].fields["clientAuthentication"]["clientSecret"]
    assert a is b and b.reveal() == CANARY
    assert Resolver(_ctx()).resolve_ref(SecretRef("file", str(path))).reveal() == "CANARY-changed"


def test_context_from_settings_reads_vault_block_and_ca() -> None:
    class Settings:
        vault = {"address": "http://127.0.0.1:1"}
        graph = {"caBundle": "/tmp/ca.pem"}

    context = SecretContext.from_settings(Settings(), env={"X": CANARY})
    assert context.vault == {"address": "http://127.0.0.1:1"}
    assert context.verify == "/tmp/ca.pem" and context.env == {"X": CANARY}
    assert CANARY not in repr(SecretContext(env={"X": CANARY}, keyvault_token=lambda _: CANARY))


def test_file_under_a_file_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    assert "cannot read the file" in _fails(SecretRef("file", str(tmp_path / "plain" / "s")))
