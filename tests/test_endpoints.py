"""The cloud's own hosts, the operator's allowance and the no-blocking file read
(idpctl.net.endpoints), as plain calls; the attacker's view is tests/test_attacker_endpoints.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from idpctl.errors import ConfigError
from idpctl.net.endpoints import (
    Allowance,
    NotRegularFile,
    check_keyvault_url,
    check_path,
    check_url,
    check_vault_path,
    keyvault_resource,
    read_regular,
)

NONE = Allowance()


@pytest.mark.parametrize(
    ("cloud", "host"),
    [
        ("global", "kv.vault.azure.net"),
        ("global", "hsm.managedhsm.azure.net"),
        ("usgov", "kv.vault.usgovcloudapi.net"),
        ("usgov", "hsm.managedhsm.usgovcloudapi.net"),
        ("china", "kv.vault.azure.cn"),
        ("china", "hsm.managedhsm.azure.cn"),
    ],
)
def test_each_clouds_key_vault_hosts_are_accepted(cloud: str, host: str) -> None:
    assert check_keyvault_url(f"https://{host}/secrets/a", cloud=cloud, allowance=NONE) is None
    assert check_keyvault_url(f"https://{host}:443/secrets/a", cloud=cloud, allowance=NONE) is None


@pytest.mark.parametrize(
    ("cloud", "url", "resource"),
    [
        ("global", "https://kv.vault.azure.net/secrets/a", "https://vault.azure.net"),
        ("global", "https://hsm.managedhsm.azure.net/secrets/a", "https://managedhsm.azure.net"),
        (
            "usgov",
            "https://kv.vault.usgovcloudapi.net/secrets/a",
            "https://vault.usgovcloudapi.net",
        ),
        (
            "usgov",
            "https://hsm.managedhsm.usgovcloudapi.net/secrets/a",
            "https://managedhsm.usgovcloudapi.net",
        ),
        ("china", "https://KV.Vault.Azure.CN/secrets/a", "https://vault.azure.cn"),
        ("china", "https://hsm.managedhsm.azure.cn/secrets/a", "https://managedhsm.azure.cn"),
        # a stand-in the operator allowed: the configured cloud's vault resource
        ("global", "https://127.0.0.1:8443/secrets/a", "https://vault.azure.net"),
        ("usgov", "https://127.0.0.1:8443/secrets/a", "https://vault.usgovcloudapi.net"),
        ("china", "https://127.0.0.1:8443/secrets/a", "https://vault.azure.cn"),
    ],
)
def test_the_key_vault_token_is_for_the_vaults_cloud(cloud: str, url: str, resource: str) -> None:
    assert keyvault_resource(url, cloud=cloud) == resource


@pytest.mark.parametrize(
    ("cloud", "url"),
    [
        ("global", "https://kv.vault.usgovcloudapi.net/secrets/a"),  # another cloud's vault
        ("usgov", "https://kv.vault.azure.net/secrets/a"),
        ("china", "https://kv.vault.azure.net/secrets/a"),
        ("global", "https://vault.azure.net/secrets/a"),  # the bare suffix is no vault
        ("global", "https://kv.vault.azure.net.attacker.example/secrets/a"),
        ("global", "https://attackervault.azure.net/secrets/a"),
        ("global", "https://kv.vault.azure.net:8443/secrets/a"),
        ("global", "http://kv.vault.azure.net/secrets/a"),
        ("global", "https://user:pw@kv.vault.azure.net/secrets/a"),
        ("global", "https://127.0.0.1:8443/secrets/a"),
    ],
)
def test_other_key_vault_hosts_are_refused(cloud: str, url: str) -> None:
    assert check_keyvault_url(url, cloud=cloud, allowance=NONE) is not None


def test_the_allowance_lets_a_stand_in_through_on_its_port_and_scheme_only() -> None:
    allowed = Allowance.from_sources({"IDPCTL_ALLOW_ENDPOINTS": "127.0.0.1:8443"})
    ok = "https://127.0.0.1:8443/secrets/a"
    assert check_keyvault_url(ok, cloud="global", allowance=allowed) is None
    for url in (
        "https://127.0.0.1:8444/secrets/a",
        "http://127.0.0.1:8443/secrets/a",
        "https://localhost:8443/secrets/a",
    ):
        assert check_keyvault_url(url, cloud="global", allowance=allowed) is not None


def test_graph_and_authority_must_be_the_clouds_own() -> None:
    graph = {"graph.microsoft.com"}
    assert (
        check_url("https://graph.microsoft.com", what="graph.url", hosts=graph, allowance=NONE)
        is None
    )
    for url in (
        "http://graph.microsoft.com",
        "https://graph.microsoft.com.evil.example",
        "https://graph.microsoft.com:444",
        "https://evil.example",
        "graph.microsoft.com",
        "ftp://graph.microsoft.com",
        "https://graph.microsoft.com:99999",
    ):
        assert check_url(url, what="graph.url", hosts=graph, allowance=NONE), url


def test_allowance_entries_and_flags() -> None:
    allowed = Allowance.from_sources(
        {"IDPCTL_ALLOW_ENDPOINTS": " vault.corp:8200 , https://[::1]:9000,http://127.0.0.1:8200"},
        endpoints=["emulator.local"],
    )
    assert allowed.endpoints == {
        ("https", "vault.corp", 8200),
        ("https", "::1", 9000),
        ("http", "127.0.0.1", 8200),
        ("https", "emulator.local", 443),
    }
    assert allowed.allows_url("http://127.0.0.1:8200/v1") and allowed.allows_url(
        "https://emulator.local/beta"
    )
    assert not allowed.allows_url("https://127.0.0.1:8200")
    for bad in ("vault corp", "https://h:0", "https://h:70000", "h/x/y", "ftp://h"):
        with pytest.raises(ConfigError, match="IDPCTL_ALLOW_ENDPOINTS"):
            Allowance.from_sources({"IDPCTL_ALLOW_ENDPOINTS": bad})


def test_the_allowance_comes_from_the_environment_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDPCTL_ALLOW_ENDPOINTS", "127.0.0.1:1")
    monkeypatch.setenv("IDPCTL_ALLOW_PATHS", "/run/secrets")
    allowed = Allowance.from_sources()
    assert allowed.allows_url("https://127.0.0.1:1/x")
    assert allowed.allows_path(Path("/run/secrets/x"))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("idp/google", True),
        ("secret", True),
        ("kv/team-a/idp/", True),
        ("../sys", False),
        ("idp/../../sys", False),
        ("/secret", False),
        ("idp//x", False),
        ("./idp", False),
        ("idp\\..\\sys", False),
        ("", False),
        ("https://evil/x", False),
    ],
)
def test_vault_paths(value: str, ok: bool) -> None:
    assert (check_vault_path(value, what="path") is None) is ok


def test_paths_inside_the_root_or_the_allowance(tmp_path: Path) -> None:
    root, other = tmp_path / "repo", tmp_path / "other"
    (root / "sub").mkdir(parents=True)
    other.mkdir()
    (root / "sub" / "link").symlink_to(other)
    assert check_path(root / "sub" / "x", roots=(root,), allowance=NONE, what="f") is None
    assert check_path(root / ".." / "other" / "x", roots=(root,), allowance=NONE, what="f")
    assert check_path(root / "sub" / "link" / "x", roots=(root,), allowance=NONE, what="f")
    assert check_path(tmp_path / "repo2" / "x", roots=(root,), allowance=NONE, what="f")  # a prefix
    allowed = Allowance.from_sources({}, paths=[str(other)])
    assert (
        check_path(root / "sub" / "link" / "x", roots=(root,), allowance=allowed, what="f") is None
    )
    assert check_path(other / "x", roots=(root, other), allowance=NONE, what="f") is None


def test_read_regular_refuses_special_files_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile, match="is a FIFO"):
        read_regular(fifo, limit=10)
    with pytest.raises(NotRegularFile, match="is a folder"):
        read_regular(tmp_path, limit=10)
    with pytest.raises(NotRegularFile, match="is a character device"):
        read_regular("/dev/null", limit=10)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    try:
        with pytest.raises(OSError):  # a socket cannot even be opened
            read_regular(tmp_path / "s", limit=10)
    finally:
        sock.close()
    (tmp_path / "f").write_bytes(b"x" * 50)
    assert read_regular(tmp_path / "f", limit=10) == b"x" * 11  # limit + 1: "too large"
