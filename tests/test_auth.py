"""Sign-in: mode choice, certificates, msal error lines; real msal flows against the emulator."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from idpctl.errors import AuthError
from idpctl.graph.auth import choose_mode, token_provider
from idpctl.graph.credentials import load_certificate
from idpctl.graph.tokens import decode_claims, describe_failure
from idpctl.model import SecretRef

CANARY = "CANARY-auth-secret-5678"


# -- choosing a mode ---------------------------------------------------------------------------

FULL_ENV = {
    "AZURE_FEDERATED_TOKEN_FILE": "/tmp/t",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x",
    "AZURE_CLIENT_CERTIFICATE_PATH": "/tmp/c.pem",
    "AZURE_CLIENT_SECRET": CANARY,
    "IDENTITY_ENDPOINT": "http://127.0.0.1:1",
}


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ((), "federated"),
        (("AZURE_FEDERATED_TOKEN_FILE",), "federated"),
        (("AZURE_FEDERATED_TOKEN_FILE", "ACTIONS_ID_TOKEN_REQUEST_URL"), "certificate"),
        (
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "AZURE_CLIENT_CERTIFICATE_PATH",
            ),
            "secret",
        ),
        (
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "AZURE_CLIENT_CERTIFICATE_PATH",
                "AZURE_CLIENT_SECRET",
            ),
            "managedIdentity",
        ),
    ],
)
def test_auto_order_follows_the_environment(drop: tuple[str, ...], expected: str) -> None:
    env = {k: v for k, v in FULL_ENV.items() if k not in drop}
    assert choose_mode({}, env) == expected


def test_auto_from_the_file_and_env_refs_only_count_when_set() -> None:
    assert choose_mode({"federatedToken": {"github": True}}, {}) == "federated"
    assert choose_mode({"certificate": {"path": "c.pem"}}, {}) == "certificate"
    ref = SecretRef("env", "AZURE_CLIENT_SECRET")
    assert choose_mode({"clientSecret": ref}, {"AZURE_CLIENT_SECRET": "x"}) == "secret"
    # the default `clientSecret: {env: AZURE_CLIENT_SECRET}` must not shadow managed identity
    assert choose_mode({"clientSecret": ref}, {"MSI_ENDPOINT": "http://127.0.0.1:1"}) == (
        "managedIdentity"
    )
    assert choose_mode({"clientSecret": SecretRef("file", "/s")}, {}) == "secret"
    assert choose_mode({"mode": "secret"}, FULL_ENV) == "secret"


def test_nothing_configured_or_bad_mode_is_one_clear_line() -> None:
    with pytest.raises(AuthError, match="no sign-in configured"):
        choose_mode({}, {})
    with pytest.raises(AuthError, match="not one of"):
        choose_mode({"mode": "password"}, {})


def test_missing_tenant_or_client_id() -> None:
    with pytest.raises(AuthError, match="no tenant"):
        token_provider({}, tenant="", authority_root="https://a", env={"AZURE_CLIENT_SECRET": "x"})
    with pytest.raises(AuthError, match="no client id"):
        token_provider({}, tenant="t", authority_root="https://a", env={"AZURE_CLIENT_SECRET": "x"})


def test_secret_from_a_missing_env_ref_names_the_ref_not_a_value() -> None:
    auth = {"mode": "secret", "clientId": "app", "clientSecret": SecretRef("env", "NOPE_X")}
    with pytest.raises(Exception, match="NOPE_X") as caught:
        token_provider(auth, tenant="t", authority_root="https://a", env={})
    assert CANARY not in str(caught.value)


def test_provider_repr_and_detail_hold_no_secret() -> None:
    provider = token_provider(
        {},
        tenant="t",
        authority_root="https://127.0.0.1:9",
        env={"AZURE_CLIENT_ID": "app", "AZURE_CLIENT_SECRET": CANARY},
    )
    assert provider.mode == "secret" and provider.client_id == "app"
    assert CANARY not in repr(provider) and CANARY not in provider.detail


# -- msal answers --------------------------------------------------------------------------------


def test_describe_failure_is_one_line_with_the_aadsts_code() -> None:
    result = {
        "error": "invalid_client",
        "error_codes": [7000215],
        "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
        "Trace ID: 1\r\nCorrelation ID: 2",
    }
    assert describe_failure(result) == "AADSTS7000215: Invalid client secret provided."
    assert describe_failure(
        {"error": "x", "error_codes": [50034], "error_description": "User not found"}
    ) == ("AADSTS50034: User not found")
    assert describe_failure(None) == "no token in the answer"


def test_claims_are_decoded_without_verification() -> None:
    token = jwt.encode({"roles": ["IdentityProvider.ReadWrite.All"], "tid": "t"}, "k" * 32)
    assert decode_claims(token)["roles"] == ["IdentityProvider.ReadWrite.All"]
    with pytest.raises(AuthError):
        decode_claims("not-a-jwt")


# -- certificates --------------------------------------------------------------------------------


def _key_and_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idpctl-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="module")
def key_and_cert() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return _key_and_cert()


def _pem(key: rsa.RSAPrivateKey, cert: x509.Certificate, password: bytes | None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ) + cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("password", [None, "CANARY-cert-pass"])
@pytest.mark.parametrize("form", ["pem", "pfx", "pem-cert-first"])
def test_load_certificate_pem_and_pfx(
    tmp_path: Path, key_and_cert, form: str, password: str | None
) -> None:
    key, cert = key_and_cert
    secret = password.encode() if password else None
    if form == "pfx":
        encryption = (
            serialization.BestAvailableEncryption(secret)
            if secret
            else serialization.NoEncryption()
        )
        data = pkcs12.serialize_key_and_certificates(b"idpctl", key, cert, None, encryption)
    else:
        data = _pem(key, cert, secret)
        if form == "pem-cert-first":
            cert_pem = cert.public_bytes(serialization.Encoding.PEM)
            data = cert_pem + data.replace(cert_pem, b"")
    path = tmp_path / f"c.{form}"
    path.write_bytes(data)
    key_pem, cert_pem = load_certificate(str(path), password)
    assert "BEGIN PRIVATE KEY" in key_pem
    assert x509.load_pem_x509_certificate(cert_pem.encode()) == cert


def test_load_certificate_failures_are_clear(tmp_path: Path, key_and_cert) -> None:
    key, cert = key_and_cert
    locked = tmp_path / "locked.pem"
    locked.write_bytes(_pem(key, cert, b"right"))
    with pytest.raises(AuthError, match="password") as caught:
        load_certificate(str(locked), "wrong")
    assert "wrong" not in str(caught.value).replace("wrong or missing", "")
    only_cert = tmp_path / "cert.pem"
    only_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(AuthError):
        load_certificate(str(only_cert), None)
    with pytest.raises(AuthError, match="cannot read"):
        load_certificate(str(tmp_path / "missing.pem"), None)
    garbage = tmp_path / "garbage.pfx"
    garbage.write_bytes(b"\x00\x01not a pfx")
    with pytest.raises(AuthError, match="unreadable"):
        load_certificate(str(garbage), None)


# == real msal against the emulator's token endpoint ===========================================


def _provider(emu, auth: dict | None = None, env: dict | None = None):
    return token_provider(
        auth or {},
        tenant=emu.tenant,
        authority_root=emu.base_url,
        verify=emu.ca_path,
        env=env or {},
    )


def test_secret_mode_signs_in_and_caches(emulator) -> None:
    env = {"AZURE_CLIENT_ID": emulator.client_id, "AZURE_CLIENT_SECRET": emulator.client_secret}
    provider = _provider(emulator, env=env)
    token = provider.token()
    assert provider.token() == token  # msal's cache: one token request
    claims = provider.claims(token)
    assert claims["appid"] == emulator.client_id and claims["tid"] == emulator.tenant
    assert "IdentityProvider.ReadWrite.All" in claims["roles"]
    token_posts = [r for r in emulator.admin.requests() if r["path"].endswith("/token")]
    assert len(token_posts) == 1


def test_secret_mode_from_a_reference(emulator, monkeypatch) -> None:
    auth = {
        "mode": "secret",
        "clientId": SecretRef("env", "MY_APP"),
        "clientSecret": SecretRef("env", "MY_SECRET"),
    }
    provider = _provider(
        emulator, auth, {"MY_APP": emulator.client_id, "MY_SECRET": emulator.client_secret}
    )
    assert provider.claims()["appid"] == emulator.client_id
    assert provider.detail == "env:MY_SECRET"


def test_wrong_secret_is_one_aadsts_line_without_the_secret(emulator) -> None:
    env = {"AZURE_CLIENT_ID": emulator.client_id, "AZURE_CLIENT_SECRET": CANARY}
    with pytest.raises(AuthError) as caught:
        _provider(emulator, env=env).token()
    line = str(caught.value)
    assert "AADSTS7000215" in line and "\n" not in line and CANARY not in line


def test_unknown_client_is_aadsts700016(emulator) -> None:
    env = {"AZURE_CLIENT_ID": "00000000-0000-0000-0000-00000000dead", "AZURE_CLIENT_SECRET": "x"}
    with pytest.raises(AuthError, match="AADSTS700016"):
        _provider(emulator, env=env).token()


@pytest.mark.parametrize("form", ["pem", "pfx"])
def test_certificate_mode(emulator, tmp_path: Path, key_and_cert, form: str) -> None:
    key, cert = key_and_cert
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    emulator.admin.register_client({"clientId": "cert-app", "certificatePem": cert_pem})
    password = "CANARY-pfx-pass"
    if form == "pfx":
        data = pkcs12.serialize_key_and_certificates(
            b"idpctl", key, cert, None, serialization.BestAvailableEncryption(password.encode())
        )
    else:
        data = _pem(key, cert, password.encode())
    path = tmp_path / f"idpctl.{form}"
    path.write_bytes(data)
    auth = {
        "clientId": "cert-app",
        "certificate": {"path": str(path), "password": SecretRef("env", "CERT_PASSWORD")},
    }
    provider = _provider(emulator, auth, {"CERT_PASSWORD": password})
    assert provider.mode == "certificate"
    assert provider.claims()["appid"] == "cert-app"


def test_certificate_not_registered_is_refused(emulator, tmp_path: Path, key_and_cert) -> None:
    other_key, other_cert = _key_and_cert()
    _, cert = key_and_cert
    emulator.admin.register_client(
        {
            "clientId": "cert-app2",
            "certificatePem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        }
    )
    path = tmp_path / "other.pem"
    path.write_bytes(_pem(other_key, other_cert, None))
    with pytest.raises(AuthError, match="AADSTS"):
        _provider(
            emulator, {"clientId": "cert-app2"}, {"AZURE_CLIENT_CERTIFICATE_PATH": str(path)}
        ).token()


def _federated_token(
    key: rsa.RSAPrivateKey,
    *,
    issuer: str,
    subject: str,
    minutes: int = 10,
    audience: str = "api://AzureADTokenExchange",
) -> str:
    now = dt.datetime.now(dt.UTC)
    return jwt.encode(
        {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + dt.timedelta(minutes=minutes),
        },
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )


def _jwks(key: rsa.RSAPrivateKey) -> dict:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [dict(public, kid="k1", use="sig", alg="RS256")]}


def test_federated_token_file_is_read_fresh(emulator, tmp_path: Path, key_and_cert) -> None:
    key, _ = key_and_cert
    issuer = "https://oidc.example.test/workload"
    emulator.admin.register_client(
        {
            "clientId": "wi-app",
            "federated": [
                {
                    "issuer": issuer,
                    "subject": "system:serviceaccount:idp:idpctl",
                    "jwks": _jwks(key),
                }
            ],
        }
    )
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(
        _federated_token(key, issuer=issuer, subject="system:serviceaccount:idp:idpctl") + "\n"
    )
    env = {"AZURE_CLIENT_ID": "wi-app", "AZURE_FEDERATED_TOKEN_FILE": str(token_file)}
    provider = _provider(emulator, env=env)
    assert provider.mode == "federated" and provider.claims()["appid"] == "wi-app"
    token_file.write_text(_federated_token(key, issuer=issuer, subject="someone:else"))
    fresh = _provider(emulator, env=env)
    with pytest.raises(AuthError, match="AADSTS"):
        fresh.token()


def test_federated_expired_assertion_is_refused(emulator, tmp_path: Path, key_and_cert) -> None:
    key, _ = key_and_cert
    issuer = "https://oidc.example.test/expired"
    emulator.admin.register_client(
        {
            "clientId": "wi-old",
            "federated": [{"issuer": issuer, "subject": "s", "jwks": _jwks(key)}],
        }
    )
    token_file = tmp_path / "token"
    token_file.write_text(_federated_token(key, issuer=issuer, subject="s", minutes=-10))
    with pytest.raises(AuthError, match="AADSTS"):
        _provider(
            emulator, {"clientId": "wi-old", "federatedToken": {"file": str(token_file)}}
        ).token()
    (tmp_path / "empty").write_text("")
    with pytest.raises(AuthError, match="empty"):
        _provider(
            emulator, {"clientId": "wi-old", "federatedToken": {"file": str(tmp_path / "empty")}}
        ).token()


# -- GitHub Actions OIDC and managed identity, through the emulator's stand-ins ----------------

BRANCH = "repo:contoso/idp-config:ref:refs/heads/main"


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """An emulator of our own, so the tests can read the stand-ins' settings (the GitHub
    request token, the managed identity header) from its identity service."""
    import threading
    import uuid
    from types import SimpleNamespace

    from idpctl_emulator.cli import EmulatorConfig, start
    from idpctl_emulator.harness import AdminClient

    config = EmulatorConfig(
        rate_limit=None,
        client_id=str(uuid.uuid4()),
        client_secret=f"emu-{uuid.uuid4().hex}",
        data_dir=tmp_path_factory.mktemp("emulator"),
    )
    running = start(config)
    thread = threading.Thread(
        target=running.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    admin = AdminClient(running.base_url, ca_path=str(running.ca_path))
    yield SimpleNamespace(
        base_url=running.base_url,
        tenant=running.tenant,
        ca_path=str(running.ca_path),
        identity=running.app.identity,
        admin=admin,
    )
    admin.close()
    running.stop()
    thread.join(timeout=5)


@pytest.fixture
def github(stand_ins):
    service = stand_ins.identity.github
    settings = service.settings()
    yield settings
    service.configure(
        {"subject": settings["subject"], "lifetimeSeconds": settings["lifetimeSeconds"]}
    )


def _github_env(settings: dict, client_id: str) -> dict:
    return {
        "AZURE_CLIENT_ID": client_id,
        "ACTIONS_ID_TOKEN_REQUEST_URL": settings["requestUrl"],
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": settings["requestToken"],
    }


def test_github_actions_federation(stand_ins, github) -> None:
    stand_ins.admin.register_client(
        {"clientId": "gh-app", "federated": [{"issuer": github["issuer"], "subject": BRANCH}]}
    )
    provider = _provider(stand_ins, env=_github_env(github, "gh-app"))
    assert provider.mode == "federated" and provider.detail == "github"
    assert provider.claims()["appid"] == "gh-app"
    # a pull request run has another subject: not trusted by the branch credential
    stand_ins.identity.github.configure({"subject": "repo:contoso/idp-config:pull_request"})
    with pytest.raises(AuthError, match="AADSTS"):
        _provider(stand_ins, env=_github_env(github, "gh-app")).token()


def test_github_token_is_fetched_afresh_near_expiry(stand_ins, github) -> None:
    from idpctl.graph.credentials import GitHubAssertion

    stand_ins.identity.github.configure({"lifetimeSeconds": 30})  # inside the 60 s margin
    assertion = GitHubAssertion(
        github["requestUrl"], github["requestToken"], verify=stand_ins.ca_path
    )
    first, second = assertion(), assertion()
    assert decode_claims(first)["aud"] == "api://AzureADTokenExchange"
    assert decode_claims(first)["jti"] != decode_claims(second)["jti"]
    stand_ins.identity.github.configure({"lifetimeSeconds": 600})
    lasting = GitHubAssertion(
        github["requestUrl"], github["requestToken"], verify=stand_ins.ca_path
    )
    assert lasting() == lasting()


def test_github_bad_request_token_is_clear(stand_ins, github) -> None:
    env = dict(_github_env(github, "gh-app"), ACTIONS_ID_TOKEN_REQUEST_TOKEN=CANARY)
    with pytest.raises(AuthError, match="id-token: write") as caught:
        _provider(stand_ins, env=env).token()
    assert CANARY not in str(caught.value)


@pytest.fixture
def msi_env(stand_ins, monkeypatch) -> dict:
    settings = stand_ins.identity.managed_identity.settings()
    monkeypatch.setenv("IDENTITY_ENDPOINT", settings["endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", settings["header"])
    for name in ("IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return settings


def test_managed_identity_system_and_user_assigned(stand_ins, msi_env) -> None:
    import os

    provider = _provider(stand_ins, env=dict(os.environ))
    assert provider.mode == "managedIdentity"
    assert provider.claims()["appid"] == msi_env["systemAssigned"]["clientId"]
    stand_ins.admin.register_client({"clientId": "mi-user", "managedIdentity": "user"})
    user = _provider(stand_ins, {"mode": "managedIdentity", "managedIdentityClientId": "mi-user"})
    assert user.client_id == "mi-user" and user.claims()["appid"] == "mi-user"
    missing = _provider(
        stand_ins, {"mode": "managedIdentity", "managedIdentityClientId": "mi-nobody"}
    )
    with pytest.raises(AuthError, match="sign-in failed"):
        missing.token()


# -- idpctl whoami -----------------------------------------------------------------------------


def _whoami(
    emu, tmp_path: Path, client_id: str, secret: str, capsys, monkeypatch
) -> tuple[int, str]:
    import argparse

    from idpctl.cli import whoami

    (tmp_path / "providers").mkdir(exist_ok=True)
    (tmp_path / "idpctl.yaml").write_text(
        f"tenant: {emu.tenant}\ntenantKind: external\n"
        f"graph: {{url: '{emu.base_url}', authority: '{emu.base_url}', "
        f"caBundle: '{emu.ca_path}'}}\n"
        "auth:\n  mode: secret\n  clientId: {env: WHOAMI_ID}\n"
        "  clientSecret: {env: WHOAMI_SECRET}\n"
    )
    monkeypatch.setenv("WHOAMI_ID", client_id)
    monkeypatch.setenv("WHOAMI_SECRET", secret)
    code = whoami.run(
        argparse.Namespace(config=str(tmp_path / "idpctl.yaml"), env=None, debug=False)
    )
    out = capsys.readouterr()
    return code, out.out + out.err


def test_whoami_reports_identity_and_grant(emulator, tmp_path: Path, capsys, monkeypatch) -> None:
    code, out = _whoami(
        emulator, tmp_path, emulator.client_id, emulator.client_secret, capsys, monkeypatch
    )
    assert code == 0, out
    assert f"client id:  {emulator.client_id}" in out
    assert "auth mode:  secret (env:WHOAMI_SECRET)" in out
    roles = next(line for line in out.splitlines() if line.startswith("roles:"))
    # the default client also holds the user-flow permissions (docs/userflows.md 6)
    assert "IdentityProvider.ReadWrite.All" in roles and "IdentityUserFlow.ReadWrite.All" in roles
    assert emulator.client_secret not in out


def test_whoami_says_what_is_missing(emulator, tmp_path: Path, capsys, monkeypatch) -> None:
    emulator.admin.register_client(
        {"clientId": "ro-app", "secret": "CANARY-ro", "roles": ["IdentityProvider.Read.All"]}
    )
    code, out = _whoami(emulator, tmp_path, "ro-app", "CANARY-ro", capsys, monkeypatch)
    assert code == 1
    assert "missing:    IdentityProvider.ReadWrite.All is not granted to ro-app" in out
    assert "plan works" in out and "Grant admin consent" in out
    assert "CANARY-ro" not in out


def test_federated_github_in_the_file_wins_over_a_token_file_in_the_env() -> None:
    env = {
        "AZURE_CLIENT_ID": "app",
        "AZURE_FEDERATED_TOKEN_FILE": "/tmp/token",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://127.0.0.1:9/t?x=1",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": CANARY,
    }
    github = token_provider(
        {"federatedToken": {"github": True}},
        tenant="t",
        authority_root="https://127.0.0.1:9",
        env=env,
    )
    assert (github.mode, github.detail) == ("federated", "github")
    from_env = token_provider({}, tenant="t", authority_root="https://127.0.0.1:9", env=env)
    assert (from_env.mode, from_env.detail) == ("federated", "file:/tmp/token")
    assert CANARY not in repr(github)
