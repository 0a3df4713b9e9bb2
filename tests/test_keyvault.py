"""The Azure Key Vault secret source against the emulator's Key Vault stand-in over HTTPS,
with real msal tokens for https://vault.azure.net from the emulator's token endpoint."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from idpctl.errors import AuthError, SecretError
from idpctl.graph.auth import token_provider
from idpctl.model import Provider, SecretRef
from idpctl.net.endpoints import Allowance
from idpctl.secrets.context import Resolver, SecretContext, SourceError, resolve_ref
from idpctl.secrets.sources.keyvault import parse_url

V1, V2 = "CANARY-kv-value-1", "CANARY-kv-value-2"


@pytest.fixture
def kv(emulator):
    """The emulator with a client granted the default roles (which include Key Vault Secrets
    User); skips only while the emulator's Key Vault admin API is not wired."""
    from idpctl_emulator.harness import AdminError

    try:
        _seed(emulator, "probe", "CANARY-probe")
    except AdminError as error:
        pytest.skip(f"the emulator's Key Vault admin API is not wired yet ({str(error)[:60]})")
    client_id, secret = str(uuid.uuid4()), f"CANARY-kv-client-{uuid.uuid4().hex}"
    emulator.admin.register_client({"clientId": client_id, "secret": secret})
    return _WithKeyVaultClient(emulator, (client_id, secret))


class _WithKeyVaultClient:
    """The emulator handle plus `kv_client`: (client id, secret) of a Key Vault reader."""

    def __init__(self, emulator, kv_client: tuple[str, str]) -> None:
        self._emulator = emulator
        self.kv_client = kv_client

    def __getattr__(self, name: str):
        return getattr(self._emulator, name)


RESOURCE = "https://vault.azure.net"


def _tokens(emu, client_id: str, secret: str) -> Callable[[str], str]:
    provider = token_provider(
        None,
        tenant=emu.tenant,
        authority_root=emu.base_url,
        verify=emu.ca_path,
        env={"AZURE_CLIENT_ID": client_id, "AZURE_CLIENT_SECRET": secret},
    )
    return lambda resource: provider.token(resource)


def _ctx(emu, token: Callable[[str], str] | None = None) -> SecretContext:
    if token is None:
        token = _tokens(emu, *emu.kv_client)
    # the operator's allowance lets the token go to the stand-in on loopback
    return SecretContext(
        env={}, keyvault_token=token, verify=emu.ca_path, timeout=10, allowance=_allow(emu.base_url)
    )


def _allow(url: str) -> Allowance:
    """The operator's allowance for a stand-in on loopback (what a test's env would set)."""
    return Allowance.from_sources({}, endpoints=[url])


def _seed(emu, name: str, value: str, **extra) -> str:
    return emu.admin._call("PUT", f"/keyvault/secrets/{name}", {"value": value, **extra})["version"]


def _ref(emu, name: str, version: str | None = None) -> SecretRef:
    suffix = f"/{version}" if version else ""
    return SecretRef("keyVault", f"{emu.base_url}/secrets/{name}{suffix}")


def _fails(ref: SecretRef, context: SecretContext) -> str:
    with pytest.raises(SecretError) as caught:
        resolve_ref(ref, context=context)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message and "CANARY" not in message
    assert ref.describe() in message and "eyJ" not in message  # no token either
    return message


def test_latest_and_pinned_versions(kv) -> None:
    first = _seed(kv, "contoso-oidc", V1)
    second = _seed(kv, "contoso-oidc", V2)
    context = _ctx(kv)
    latest = resolve_ref(_ref(kv, "contoso-oidc"), context=context)
    assert latest.reveal() == V2 and latest.version == second
    assert latest.source == f"keyVault:{kv.base_url}/secrets/contoso-oidc"
    pinned = resolve_ref(_ref(kv, "contoso-oidc", first), context=context)
    assert pinned.reveal() == V1 and pinned.version == first
    assert V1 not in repr(pinned)


def test_not_found(kv) -> None:
    assert "secret not found (404 SecretNotFound)" in _fails(_ref(kv, "nope"), _ctx(kv))
    _seed(kv, "present", V1)
    missing_version = _ref(kv, "present", uuid.uuid4().hex)
    assert "secret not found" in _fails(missing_version, _ctx(kv))


def test_permission_denied_without_a_key_vault_role(kv) -> None:
    _seed(kv, "contoso-oidc", V1)
    client_id, secret = str(uuid.uuid4()), f"CANARY-client-{uuid.uuid4().hex}"
    kv.admin.register_client(
        {"clientId": client_id, "secret": secret, "roles": ["IdentityProvider.ReadWrite.All"]}
    )
    context = _ctx(kv, _tokens(kv, client_id, secret))
    message = _fails(_ref(kv, "contoso-oidc"), context)
    assert "permission denied (403 ForbiddenByRbac: Caller is not authorized" in message


def test_disabled_secret(kv) -> None:
    _seed(kv, "disabled", V1, enabled=False)
    assert "403 SecretDisabled" in _fails(_ref(kv, "disabled"), _ctx(kv))


def test_token_for_the_wrong_audience_is_refused(kv) -> None:
    _seed(kv, "contoso-oidc", V1)
    provider = token_provider(
        None,
        tenant=kv.tenant,
        authority_root=kv.base_url,
        verify=kv.ca_path,
        env={"AZURE_CLIENT_ID": kv.client_id, "AZURE_CLIENT_SECRET": kv.client_secret},
    )
    graph_token = provider.token()  # audience Graph, not Key Vault
    message = _fails(_ref(kv, "contoso-oidc"), _ctx(kv, lambda resource: graph_token))
    assert "Key Vault refused the token (401 Unauthorized: AKV10022: Invalid audience" in message


def test_sign_in_failure_is_one_line(emulator) -> None:
    context = _ctx(emulator, _tokens(emulator, emulator.client_id, "CANARY-wrong-secret"))
    message = _fails(_ref(emulator, "contoso-oidc"), context)
    assert f"cannot get a token for {RESOURCE}: sign-in failed" in message


def test_empty_value(kv) -> None:
    _seed(kv, "empty", "")
    assert "the secret is empty" in _fails(_ref(kv, "empty"), _ctx(kv))


def test_no_sign_in_configured(emulator) -> None:
    context = SecretContext(env={}, verify=emulator.ca_path, allowance=_allow(emulator.base_url))
    assert "no Key Vault sign-in" in _fails(_ref(emulator, "x"), context)


def test_unreachable(emulator) -> None:
    ref = SecretRef("keyVault", "https://127.0.0.1:9/secrets/contoso")
    context = SecretContext(
        env={},
        keyvault_token=lambda resource: "t",
        timeout=2,
        allowance=_allow("https://127.0.0.1:9"),
    )
    assert "Key Vault at https://127.0.0.1:9 is unreachable" in _fails(ref, context)


def test_untrusted_certificate(emulator) -> None:
    context = SecretContext(
        env={},
        keyvault_token=lambda resource: "t",  # system CAs only
        allowance=_allow(emulator.base_url),
    )
    assert "is unreachable (ConnectError)" in _fails(_ref(emulator, "x"), context)


@pytest.mark.parametrize(
    "url",
    [
        "http://kv.vault.azure.net/secrets/a",
        "https://kv.vault.azure.net/keys/a",
        "https://kv.vault.azure.net/secrets/",
        "https://kv.vault.azure.net/secrets/a_b",
        "https://kv.vault.azure.net/secrets/a/v/extra",
        "https://kv.vault.azure.net/secrets/a?api-version=7.4",
        "kv.vault.azure.net/secrets/a",
    ],
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(SourceError, match="not a Key Vault secret URL"):
        parse_url(url)
    assert "not a Key Vault secret URL" in _fails(SecretRef("keyVault", url), SecretContext(env={}))


def test_parse_url() -> None:
    assert parse_url("https://kv.vault.azure.net/secrets/contoso-oidc") == (
        "https://kv.vault.azure.net",
        "contoso-oidc",
        None,
    )
    assert parse_url("https://kv.vault.azure.net/secrets/a/0123abcd") == (
        "https://kv.vault.azure.net",
        "a",
        "0123abcd",
    )


def test_run_fetches_a_token_once_per_reference_and_collects_failures(kv) -> None:
    _seed(kv, "google", V1)
    calls: list[int] = []
    tokens = _tokens(kv, *kv.kv_client)

    def counting(resource: str) -> str:
        calls.append(1)
        return tokens(resource)

    resolver = Resolver(_ctx(kv, counting))
    providers = [
        Provider(
            kind="socialIdentityProvider", key="Google", fields={"clientSecret": _ref(kv, "google")}
        ),
        Provider(
            kind="socialIdentityProvider",
            key="Facebook",
            fields={"clientSecret": _ref(kv, "google")},
        ),
    ]
    out = resolver.resolve(providers)
    assert [p.fields["clientSecret"].reveal() for p in out] == [V1, V1]
    assert len(calls) == 1
    with pytest.raises(
        SecretError,
        match=r"^socialIdentityProvider/Google clientSecret: "
        r"cannot resolve keyVault:.*/secrets/nope",
    ):
        resolver.resolve(
            [
                Provider(
                    kind="socialIdentityProvider",
                    key="Google",
                    fields={"clientSecret": _ref(kv, "nope")},
                )
            ]
        )


@pytest.mark.parametrize(
    ("cloud", "resource"),
    [
        ("global", "https://vault.azure.net"),
        ("usgov", "https://vault.usgovcloudapi.net"),
        ("china", "https://vault.azure.cn"),
    ],
)
def test_the_token_is_asked_for_the_configured_clouds_key_vault(
    kv, cloud: str, resource: str
) -> None:
    """A sovereign cloud's vault refuses a token for https://vault.azure.net: the sign-in is
    asked for the cloud's own Key Vault resource (the stand-in answers whatever it is sent)."""
    _seed(kv, "sovereign", V1)
    asked: list[str] = []
    tokens = _tokens(kv, *kv.kv_client)

    def recording(wanted: str) -> str:
        asked.append(wanted)
        return tokens(RESOURCE)  # the emulator's vault accepts its public audience only

    context = SecretContext(
        env={},
        keyvault_token=recording,
        verify=kv.ca_path,
        timeout=10,
        cloud=cloud,
        allowance=_allow(kv.base_url),
    )
    assert resolve_ref(_ref(kv, "sovereign"), context=context).reveal() == V1
    assert asked == [resource]


def test_auth_error_from_the_token_callable_is_wrapped() -> None:
    def failing(resource: str) -> str:
        raise AuthError("sign-in failed (secret): AADSTS7000215")

    context = SecretContext(env={}, keyvault_token=failing)
    message = _fails(SecretRef("keyVault", "https://kv.vault.azure.net/secrets/a"), context)
    assert "AADSTS7000215" in message


def test_secret_context_signs_in_on_first_use(kv) -> None:
    from types import SimpleNamespace

    from idpctl.graph.auth import secret_context

    _seed(kv, "apple-key", V2)
    client_id, secret = kv.kv_client
    settings = SimpleNamespace(
        tenant=kv.tenant,
        authority=kv.base_url,
        ca_bundle=Path(kv.ca_path),
        vault={},
        allowance=_allow(kv.base_url),
        auth={"clientId": client_id, "clientSecret": SecretRef("env", "KV_CLIENT_SECRET")},
    )
    context = secret_context(settings, env={"KV_CLIENT_SECRET": secret})
    assert context.verify == kv.ca_path
    secret_value = resolve_ref(_ref(kv, "apple-key"), context=context)
    assert secret_value.reveal() == V2


# -- end to end: plan and apply with a Key Vault reference ---------------------------------------

GOOGLE_FROM_KEY_VAULT = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {keyVault: "%s"}
"""


def test_plan_shows_key_vault_rotation_and_apply_converges(kv, workspace) -> None:
    from workspace import CLIENT_SECRET_ENV

    client_id, secret = kv.kv_client  # Graph and Key Vault roles, one sign-in for both
    workspace.config.write_text(workspace.config.read_text().replace(kv.client_id, client_id))
    env = {CLIENT_SECRET_ENV: secret}
    first = _seed(kv, "google-secret", "CANARY-e2e-kv1")
    workspace.write("google.yaml", GOOGLE_FROM_KEY_VAULT % f"{kv.base_url}/secrets/google-secret")
    workspace.apply(env=env)
    workspace.assert_converged(env=env)
    recorded = workspace.state()["providers"]["socialIdentityProvider/Google"]["secrets"]
    assert recorded["clientSecret"]["version"] == first
    second = _seed(kv, "google-secret", "CANARY-e2e-kv2")
    result = workspace.run("plan", "--detailed-exitcode", env=env)
    assert result.code == 2, result.text
    assert f"rotate (key vault version {first} -> {second})" in result.out
    workspace.apply(env=env)
    workspace.assert_converged(env=env)


def test_a_key_vault_permission_failure_writes_nothing(kv, workspace) -> None:
    _seed(kv, "google-secret", "CANARY-e2e-kv1")
    client_id, secret = str(uuid.uuid4()), f"CANARY-graph-only-{uuid.uuid4().hex}"
    kv.admin.register_client(
        {"clientId": client_id, "secret": secret, "roles": ["IdentityProvider.ReadWrite.All"]}
    )
    from workspace import CLIENT_SECRET_ENV

    workspace.config.write_text(workspace.config.read_text().replace(kv.client_id, client_id))
    workspace.write("google.yaml", GOOGLE_FROM_KEY_VAULT % f"{kv.base_url}/secrets/google-secret")
    kv.admin.clear_requests()
    result = workspace.run("apply", "--auto-approve", env={CLIENT_SECRET_ENV: secret})
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "permission denied (403 ForbiddenByRbac" in result.err
    graph_writes = [
        r
        for r in kv.admin.requests()
        if r["method"] != "GET" and not r["path"].endswith("/oauth2/v2.0/token")
    ]
    assert graph_writes == []


def test_throttling_is_retried_after_retry_after(kv) -> None:
    _seed(kv, "busy", V1)
    kv.admin.add_fault(method="GET", path=r"^/secrets/busy$", status=429, retry_after=0.2, count=2)
    started = time.monotonic()
    assert resolve_ref(_ref(kv, "busy"), context=_ctx(kv)).reveal() == V1
    assert time.monotonic() - started >= 0.4


def test_persistent_server_errors_give_up_with_one_line(kv) -> None:
    _seed(kv, "down", V1)
    kv.admin.add_fault(method="GET", path=r"^/secrets/down$", status=503, retry_after=0, count=-1)
    assert "Key Vault answered 503" in _fails(_ref(kv, "down"), _ctx(kv))
    requests = [r for r in kv.admin.requests() if r["path"] == "/secrets/down"]
    assert len(requests) == 3


def test_the_lazy_sign_in_asks_for_the_resource_it_is_given(monkeypatch) -> None:
    """`auth.secret_context`'s sign-in passes the chosen resource on to msal, not a fixed
    one."""
    from types import SimpleNamespace

    from idpctl.graph import auth

    asked: list[str] = []
    fake = SimpleNamespace(token=lambda resource: asked.append(resource) or "t")
    made: list[str] = []
    monkeypatch.setattr(
        auth, "token_provider", lambda *args, **kwargs: made.append("signed in") or fake
    )
    settings = SimpleNamespace(
        tenant="t", authority="https://login.microsoftonline.us", auth={}, cloud="usgov"
    )
    context = auth.secret_context(settings, env={})
    assert context.keyvault_token is not None and made == []  # no sign-in until asked
    assert context.keyvault_token("https://vault.usgovcloudapi.net") == "t"
    assert asked == ["https://vault.usgovcloudapi.net"] and made == ["signed in"]
