"""idpctl.yaml and provider files -> Settings and Provider values."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from idpctl.config.providers import load_providers, provider_files
from idpctl.config.settings import find_settings, load_settings, resolve_settings
from idpctl.errors import ConfigError, Problem
from idpctl.kinds import load_kinds
from idpctl.model import SecretRef
from idpctl.net.endpoints import Allowance

KINDS = load_kinds()
OIDC = """\
kind: oidcIdentityProvider
displayName: {name}
clientId: abc
issuer: https://login.contoso.com/
wellKnownEndpoint: https://login.contoso.com/.well-known/openid-configuration
responseType: code
scope: openid profile email
clientAuthentication:
  method: client_secret_post
  clientSecret: {{file: secrets/oidc.txt}}
inboundClaimMapping: {{sub: sub, email: email}}
"""


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _repo(tmp_path: Path, extra: str = "", tenant_kind: str = "external") -> Path:
    (tmp_path / "providers").mkdir(exist_ok=True)
    return _write(
        tmp_path / "idpctl.yaml",
        f"tenant: contoso.onmicrosoft.com\ntenantKind: {tenant_kind}\n" + extra,
    )


def test_find_settings_walks_up(tmp_path: Path) -> None:
    config = _repo(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_settings(deep) == config
    assert find_settings(config) == config
    with pytest.raises(ConfigError, match=r"no idpctl\.yaml"):
        find_settings(tmp_path.parent / "elsewhere-that-does-not-exist")


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(_repo(tmp_path))
    assert settings.tenant == "contoso.onmicrosoft.com" and settings.tenant_kind == "external"
    assert settings.graph_url == "https://graph.microsoft.com"
    assert settings.authority == "https://login.microsoftonline.com"
    assert settings.timeout == 30.0 and settings.rate_limit is None
    assert settings.state == {"backend": "local", "path": str(tmp_path / ".idpctl/state.json")}
    assert settings.provider_paths == (tmp_path / "providers",)
    assert settings.allow_destroy is True and settings.env is None


@pytest.mark.parametrize(
    ("cloud", "graph", "authority"),
    [
        ("usgov", "https://graph.microsoft.us", "https://login.microsoftonline.us"),
        ("china", "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
    ],
)
def test_clouds(tmp_path: Path, cloud: str, graph: str, authority: str) -> None:
    settings = load_settings(_repo(tmp_path, f"cloud: {cloud}\n"))
    assert (settings.cloud, settings.graph_url, settings.authority) == (cloud, graph, authority)


def test_explicit_endpoints_paths_and_secret_refs(tmp_path: Path) -> None:
    config = _repo(
        tmp_path,
        """\
graph: {url: "https://127.0.0.1:8443/", authority: "https://127.0.0.1:8443", caBundle: ca.pem,
        timeout: 2.5, rateLimit: off}
auth:
  mode: certificate
  clientId: 00000000-0000-0000-0000-000000000001
  certificate: {path: certs/me.pem, password: {env: CERT_PASSWORD}}
  clientSecret: {file: secrets/client.txt}
state: {path: state/s.json}
providers: [providers, more/one.yaml]
variables: {REGION: eu, COUNT: 3}
""",
    )
    _write(tmp_path / "more" / "one.yaml", OIDC.format(name="One"))
    _write(tmp_path / "ca.pem", PEM)
    settings = load_settings(
        config, allowance=Allowance.from_sources({}, endpoints=["127.0.0.1:8443"])
    )
    assert settings.graph_url == "https://127.0.0.1:8443"
    assert settings.ca_bundle == tmp_path / "ca.pem"
    assert settings.timeout == 2.5 and settings.rate_limit == "off"
    assert settings.auth["clientId"] == "00000000-0000-0000-0000-000000000001"
    assert settings.auth["certificate"]["path"] == str(tmp_path / "certs/me.pem")
    assert settings.auth["certificate"]["password"] == SecretRef("env", "CERT_PASSWORD")
    assert settings.auth["clientSecret"] == SecretRef("file", str(tmp_path / "secrets/client.txt"))
    assert settings.state["path"] == str(tmp_path / "state/s.json")
    assert settings.provider_paths == (tmp_path / "providers", tmp_path / "more/one.yaml")
    assert settings.variables == {"REGION": "eu", "COUNT": "3"}


def test_missing_provider_path_is_located(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_repo(tmp_path, "providers: [providers, nope/]\n"))
    assert info.value.problems[0].line == 3 and "nope/ does not exist" in str(info.value)


def test_environment_overlay(tmp_path: Path) -> None:
    config = _repo(
        tmp_path,
        "graph: {timeout: 5, caBundle: ca.pem}\nvariables: {A: base}\nproviders: [providers]\n",
    )
    _write(
        tmp_path / "environments" / "prod.yaml",
        "tenant: prod.onmicrosoft.com\ngraph: {timeout: 9, caBundle: prod-ca.pem}\n"
        "variables: {B: prod}\nallowDestroy: false\n",
    )
    _write(tmp_path / "ca.pem", PEM)
    _write(tmp_path / "environments" / "prod-ca.pem", PEM)
    settings = load_settings(config, env="prod")
    assert settings.tenant == "prod.onmicrosoft.com" and settings.env == "prod"
    assert settings.timeout == 9.0
    assert settings.ca_bundle == tmp_path / "environments" / "prod-ca.pem"
    assert settings.variables == {"A": "base", "B": "prod"}
    assert settings.allow_destroy is False
    with pytest.raises(ConfigError, match=r"environments/nope\.yaml does not exist"):
        load_settings(config, env="nope")
    _write(tmp_path / "environments" / "bad.yaml", "graph: {timeout: -1}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:1:18: graph\.timeout: must be greater"):
        load_settings(config, env="bad")


def test_resolve_settings_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _repo(tmp_path)
    monkeypatch.chdir(tmp_path / "providers")
    assert resolve_settings(None).path == tmp_path / "idpctl.yaml"


def test_provider_files(tmp_path: Path) -> None:
    config = _repo(tmp_path)
    for name in ("b.yaml", "a.yml", "sub/c.yaml", ".hidden/d.yaml", ".e.yaml", "notes.txt"):
        _write(tmp_path / "providers" / name, "x: 1\n")
    files = provider_files(load_settings(config))
    assert [f.relative_to(tmp_path / "providers").as_posix() for f in files] == [
        "a.yml",
        "b.yaml",
        "sub/c.yaml",
    ]


def test_load_providers_graph_shape(tmp_path: Path) -> None:
    config = _repo(tmp_path)
    _write(
        tmp_path / "providers" / "oidc.yaml",
        OIDC.format(name="Contoso") + "protected: true\nuserFlows: [signup]\n",
    )
    _write(
        tmp_path / "providers" / "gone.yaml",
        "kind: socialIdentityProvider\nidentityProviderType: Facebook\nensure: absent\n",
    )
    providers = load_providers(load_settings(config), KINDS)
    gone, oidc = providers
    assert oidc.address == "oidcIdentityProvider/Contoso"
    assert oidc.auth_method == "client_secret_post" and oidc.protected
    assert oidc.user_flows == ("signup",)
    assert oidc.fields["clientAuthentication"] == {
        "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
        "clientSecret": SecretRef("file", str(tmp_path / "providers/secrets/oidc.txt")),
    }
    assert "protected" not in oidc.fields and "kind" not in oidc.fields
    assert oidc.location is not None and oidc.location.line == 1
    assert oidc.fields["clientAuthentication"]["clientSecret"].location.line == 10
    assert gone.address == "socialIdentityProvider/Facebook" and gone.absent
    assert gone.user_flows is None


def test_every_problem_in_every_file(tmp_path: Path) -> None:
    config = _repo(tmp_path)
    _write(
        tmp_path / "providers" / "a.yaml",
        OIDC.format(name="Contoso").replace("clientId:", "clientID:"),
    )
    _write(
        tmp_path / "providers" / "b.yaml",
        OIDC.format(name="Other").replace("scope: openid profile email", "scope: profile"),
    )
    _write(tmp_path / "providers" / "c.yaml", "kind: [\n")
    with pytest.raises(ConfigError) as info:
        load_providers(load_settings(config), KINDS)
    messages = [f"{Path(p.file).name}:{p.line}: {p.message}" for p in info.value.problems]
    assert messages == [
        "a.yaml:1: missing required field 'clientId' for oidcIdentityProvider",
        "a.yaml:3: unknown field 'clientID' in oidcIdentityProvider; did you mean 'clientId'?",
        "b.yaml:7: scope must contain openid (space-separated, e.g. 'openid profile email')",
        "c.yaml:2: invalid YAML: expected the node content, but found '<stream end>' (while "
        "parsing a flow node)",
    ]


def test_legacy_shape_is_translated_with_a_warning(tmp_path: Path) -> None:
    config = _repo(tmp_path, tenant_kind="b2c")
    _write(
        tmp_path / "providers" / "legacy.yaml",
        """\
        kind: openIdConnectProvider
        name: Litware
        type: OpenIDConnect
        clientId: abc
        clientSecret: {env: LITWARE}
        metadataUrl: https://sts.litware.com/.well-known/openid-configuration
        responseMode: form_post
        responseType: code
        scope: openid
        claimsMapping: {userId: oid, displayName: name}
        """,
    )
    warnings: list[Problem] = []
    (provider,) = load_providers(load_settings(config), KINDS, warnings=warnings)
    assert provider.address == "openIdConnectIdentityProvider/Litware"
    assert provider.fields["displayName"] == "Litware" and "type" not in provider.fields
    (warning,) = warnings
    assert (warning.severity, warning.line, warning.column) == ("warning", 1, 7)
    assert "instead of `name: Litware`" in warning.message


def test_variables_are_substituted(tmp_path: Path) -> None:
    config = _repo(tmp_path, "variables: {CLIENT: from-vars}\n")
    _write(
        tmp_path / "providers" / "o.yaml",
        OIDC.format(name="C").replace("clientId: abc", "clientId: ${var.CLIENT}-x"),
    )
    (provider,) = load_providers(load_settings(config), KINDS)
    assert provider.fields["clientId"] == "from-vars-x"


def test_graph_budget_reaches_the_client_with_graphs_values_as_defaults(tmp_path: Path) -> None:
    from idpctl.net.ratelimit import BudgetSpec, parse_budget

    settings = load_settings(_repo(tmp_path, "graph: {budget: {windowSeconds: 2}}\n"))
    spec = parse_budget(settings.budget, rate_limit=settings.rate_limit)
    assert spec == BudgetSpec(per_app=200, per_tenant=300, window=2.0, margin=0.05)
    assert spec.allowed == 190  # the smaller limit less the margin
    assert parse_budget(None) == BudgetSpec()
    assert parse_budget("off").off and parse_budget(None, rate_limit="off").off


@pytest.mark.parametrize(
    "budget", ["{perApp: 0}", "{margin: 1}", "{windowSeconds: -1}", "{burst: 5}", "fast"]
)
def test_graph_budget_nonsense_is_one_line_naming_the_setting(tmp_path: Path, budget: str) -> None:
    with pytest.raises(ConfigError, match="budget") as caught:
        load_settings(_repo(tmp_path, f"graph: {{budget: {budget}}}\n"))
    assert "\n" not in str(caught.value)
