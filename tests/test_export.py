"""`idpctl export` and `idpctl import` against the emulator: every kind on external and b2c
tenants round-trips to a plan with nothing but "will be set" secrets; the files, names and
placeholders; refusal to overwrite; import writes only the state."""

from __future__ import annotations

import json

import pytest
import yaml

from idpctl.kinds import load_kinds
from idpctl.model import UNKNOWN, LiveProvider
from idpctl.reports import export
from workspace import Workspace

CLAIMS = {"userId": "sub", "displayName": "name", "email": "email"}
SEEDS = {
    "social": {
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": "Google",
        "identityProviderType": "Google",
        "clientId": "google-client",
        "clientSecret": "CANARY-portal-social",
    },
    "apple": {
        "@odata.type": "#microsoft.graph.appleManagedIdentityProvider",
        "displayName": "Sign in with Apple",
        "developerId": "TEAM1",
        "serviceId": "com.contoso.app",
        "keyId": "KEY1",
        "certificateData": "CANARY-portal-apple",
    },
    "b2coidc": {
        "@odata.type": "#microsoft.graph.openIdConnectIdentityProvider",
        "displayName": "Contoso B2C",
        "clientId": "contoso-client",
        "clientSecret": "CANARY-portal-b2c",
        "claimsMapping": CLAIMS,
        "domainHint": "contoso",
        "metadataUrl": "https://idp.contoso.com/.well-known/openid-configuration",
        "responseMode": "form_post",
        "responseType": "code",
        "scope": "openid",
    },
    "oidc": {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Contoso Partners",
        "clientId": "contoso-client",
        "issuer": "https://idp.contoso.com/t/v2.0/",
        "wellKnownEndpoint": "https://idp.contoso.com/t/v2.0/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid profile email",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": "CANARY-portal-oidc",
        },
        "inboundClaimMapping": {"sub": "sub", "name": "name", "email": "email"},
    },
    "oidc-jwt": {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Fabrikam",
        "clientId": "fabrikam-client",
        "issuer": "https://login.fabrikam.test/",
        "wellKnownEndpoint": "https://login.fabrikam.test/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
        },
        "inboundClaimMapping": {"sub": "sub", "email": "email"},
    },
}
TENANTS = {
    "external": ("social", "apple", "oidc", "oidc-jwt"),
    "b2c": ("social", "apple", "b2coidc"),
}


def seeded(ws: Workspace) -> None:
    for name in TENANTS[ws.tenant_kind]:
        ws.emulator.admin.seed(dict(SEEDS[name]))


def secret_env(export_out: str) -> dict[str, str]:
    names = [line.split()[0] for line in export_out.splitlines() if line.startswith("  IDPCTL_")]
    return {name: f"CANARY-{name.lower()}" for name in names}


@pytest.mark.parametrize("tenant_kind", sorted(TENANTS))
def test_export_import_round_trip_to_an_empty_plan(make_workspace, tenant_kind) -> None:
    ws = make_workspace(tenant_kind)
    seeded(ws)
    out = ws.run("export", "--secrets", "env")
    assert out.code == 0, out.text
    files = sorted(p.name for p in ws.providers.glob("*.yaml"))
    assert len(files) == len(TENANTS[tenant_kind])
    builtins = [p for p in ws.live() if p["@odata.type"].endswith("builtInIdentityProvider")]
    assert out.out.count("): built-in") == len(builtins)
    assert ws.run("validate").code == 0
    env = secret_env(out.out)
    assert len(env) == len(TENANTS[tenant_kind]) - ("oidc-jwt" in TENANTS[tenant_kind])
    before = ws.live()
    ws.emulator.admin.clear_requests()
    imported = ws.run("import", "--all")
    assert imported.code == 0, imported.text
    assert imported.out.count("Imported ") == len(files)
    assert {
        r["method"]
        for r in ws.emulator.admin.requests()
        if "/identity/" in r["path"] or "$batch" in r["path"]
    } == {"GET"}
    assert ws.live() == before
    plan = ws.plan(env=env)
    for change in plan["changes"]:
        assert change["action"] == "update", change
        assert all(f["sensitive"] and f["note"] == "will be set" for f in change["fields"])
    text = ws.run("plan", env=env).out
    for name in env:
        assert f"from env:{name}: supply that value" in text
    assert ws.run("drift").code == 0
    ws.apply(env=env)
    ws.assert_converged(env=env)
    assert len(ws.live()) == len(before)


def test_export_files_names_placeholders_and_comment(workspace) -> None:
    seeded(workspace)
    out = workspace.run("export", "--out", "exported", "--secrets", "env")
    assert out.code == 0, out.text
    folder = workspace.root / "exported"
    assert sorted(p.name for p in folder.iterdir()) == [
        "apple.yaml",
        "oidc-contoso-partners.yaml",
        "oidc-fabrikam.yaml",
        "social-google.yaml",
    ]
    text = (folder / "oidc-contoso-partners.yaml").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# yaml-language-server: $schema=")
    assert lines[1] == "kind: oidcIdentityProvider"
    assert "  clientSecret: {env: IDPCTL_OIDC_CONTOSO_PARTNERS_CLIENT_SECRET}" in lines
    assert any(x.startswith("  method: client_secret_post   # Graph cannot tell") for x in lines)
    keys = list(yaml.safe_load(text))
    assert keys == [
        "kind",
        "displayName",
        "clientId",
        "issuer",
        "wellKnownEndpoint",
        "responseType",
        "scope",
        "clientAuthentication",
        "inboundClaimMapping",
    ]
    jwt = yaml.safe_load((folder / "oidc-fabrikam.yaml").read_text())
    assert jwt["clientAuthentication"] == {"method": "private_key_jwt"}
    assert (
        "certificateData: {env: IDPCTL_APPLE_CERTIFICATE_DATA}"
        in (folder / "apple.yaml").read_text()
    )
    tail = out.out[out.out.index("Secrets to supply") :]
    assert "IDPCTL_SOCIAL_GOOGLE_CLIENT_SECRET" in tail and "IDPCTL_APPLE_CERTIFICATE_DATA" in tail


def test_export_refuses_to_overwrite_unless_forced(workspace) -> None:
    seeded(workspace)
    workspace.write("social-google.yaml", "# mine\n")
    refused = workspace.run("export")
    assert refused.code == 1 and "refusing to overwrite" in refused.err
    assert (workspace.providers / "social-google.yaml").read_text() == "# mine\n"
    assert not (workspace.providers / "apple.yaml").exists()
    forced = workspace.run("export", "--force")
    assert (
        forced.code == 0
        and "kind: socialIdentityProvider"
        in (workspace.providers / "social-google.yaml").read_text()
    )


def test_import_named_addresses_and_refusals(workspace) -> None:
    seeded(workspace)
    assert workspace.run("export").code == 0
    workspace.remove("apple.yaml")
    refused = workspace.run("import", "appleManagedIdentityProvider/Apple")
    assert refused.code == 1 and "not in the provider files" in refused.err
    assert not workspace.state_path.exists()
    missing = workspace.run("import", "socialIdentityProvider/Facebook")
    assert missing.code == 1 and "not in the tenant" in missing.err
    done = workspace.run("import", "socialIdentityProvider/Google")
    assert done.code == 0, done.text
    assert list(workspace.state()["providers"]) == ["socialIdentityProvider/Google"]
    assert workspace.state()["providers"]["socialIdentityProvider/Google"]["secrets"] == {}
    both = workspace.run("import", "--all", "socialIdentityProvider/Google")
    assert both.code == 1


def test_import_refused_while_locked(workspace) -> None:
    seeded(workspace)
    assert workspace.run("export").code == 0
    from idpctl.state.store import LocalStateStore

    with LocalStateStore(workspace.state_path).lock(operation="apply"):
        refused = workspace.run("import", "--all")
    assert refused.code == 1 and "locked" in refused.err
    assert not workspace.state_path.exists()


def test_env_names_and_file_names_are_stable() -> None:
    assert (
        export.env_name("oidcIdentityProvider", "Contoso", "clientAuthentication.clientSecret")
        == "IDPCTL_OIDC_CONTOSO_CLIENT_SECRET"
    )
    assert (
        export.env_name("appleManagedIdentityProvider", "Apple", "certificateData")
        == "IDPCTL_APPLE_CERTIFICATE_DATA"
    )
    assert (
        export.file_name("openIdConnectIdentityProvider", "Contoso B2C")
        == "b2c-oidc-contoso-b2c.yaml"
    )
    kinds = load_kinds()
    twins = [
        LiveProvider(
            i,
            "#microsoft.graph.oidcIdentityProvider",
            "oidcIdentityProvider",
            name,
            {
                "displayName": name,
                "clientAuthentication": {
                    "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                    "clientSecret": UNKNOWN,
                },
            },
        )
        for i, name in (("a", "Contoso!"), ("b", "Contoso?"))
    ]
    result = export.build(twins, kinds)
    assert [f.name for f in result.files] == ["oidc-contoso.yaml", "oidc-contoso-2.yaml"]
    assert json.dumps([f.text for f in result.files]).count("UNKNOWN") == 0


def test_export_into_a_fresh_repository_creates_the_folder_and_schemas(workspace) -> None:
    """No providers/ and no schemas/: export creates both, and every file's editor schema
    comment names a path that resolves from the file's folder."""
    import shutil

    seeded(workspace)
    shutil.rmtree(workspace.providers)
    out = workspace.run("export")
    assert out.code == 0, out.text
    files = sorted(workspace.providers.glob("*.yaml"))
    assert len(files) == len(TENANTS["external"])
    for path in files:
        first = path.read_text().splitlines()[0]
        ref = first.removeprefix("# yaml-language-server: $schema=")
        assert ref != first and not ref.startswith("http"), first
        target = (path.parent / ref).resolve()
        assert target.is_file() and json.loads(target.read_text())["$id"].endswith(
            "providers.schema.json"
        )
    assert (workspace.root / "schemas" / "oidcIdentityProvider.schema.json").is_file()
    assert workspace.run("validate").code == 0


def test_export_to_a_nested_folder_points_at_the_repository_schemas(workspace) -> None:
    seeded(workspace)
    out = workspace.run("export", "--out", "providers/tenant-a")
    assert out.code == 0, out.text
    text = (workspace.providers / "tenant-a" / "apple.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/providers.schema.json")


def test_a_failed_export_leaves_no_empty_folder(workspace) -> None:
    workspace.config.write_text(
        workspace.config.read_text().replace("tenantKind: external", "tenantKind: nonsense")
    )
    out = workspace.run("export", "--out", "fresh")
    assert out.code == 1
    assert not (workspace.root / "fresh").exists()


def test_schema_write_copies_the_schemas_and_refuses_to_overwrite_a_changed_one(
    tmp_path, capsys
) -> None:
    from idpctl.cli import main as cli

    dest = tmp_path / "schemas"
    assert cli.main(["schema", "--write", str(dest)]) == 0
    names = sorted(p.name for p in dest.iterdir())
    assert "providers.schema.json" in names and "secretRef.schema.json" in names
    assert cli.main(["schema", "--write", str(dest)]) == 0
    assert "already up to date" in capsys.readouterr().out
    (dest / "secretRef.schema.json").write_text("{}")
    assert cli.main(["schema", "--write", str(dest)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (dest / "secretRef.schema.json").read_text() == "{}"
    assert cli.main(["schema", "--write", str(dest), "--force"]) == 0
    assert (dest / "secretRef.schema.json").read_text() != "{}"


def test_live_values_cannot_forge_a_keep_or_a_reference() -> None:
    """A portal display name or claim that imitates `{keep: live}` or a comment stays a
    quoted string: the exported file parses back to the live values, and only the real
    secret becomes a keep."""
    forged = "x\nclientSecret: {keep: live}   # set outside idpctl"
    lp = LiveProvider(
        id="o1",
        odata_type="#microsoft.graph.oidcIdentityProvider",
        kind="oidcIdentityProvider",
        key=forged,
        fields={
            "displayName": forged,
            "clientId": "{keep: live}",
            "issuer": "https://i/",
            "wellKnownEndpoint": "https://i/.well-known/x",
            "responseType": "code",
            "scope": "openid",
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                "clientSecret": UNKNOWN,
            },
            "inboundClaimMapping": {"sub": "{keep: live}", "email": "{env: STOLEN}"},
        },
    )
    [exported] = export.build([lp], load_kinds()).files
    data = yaml.safe_load(exported.text)
    assert data["displayName"] == forged and data["clientId"] == "{keep: live}"
    assert data["inboundClaimMapping"] == {"sub": "{keep: live}", "email": "{env: STOLEN}"}
    assert data["clientAuthentication"]["clientSecret"] == {"keep": "live"}
    assert exported.text.count("# set outside idpctl; to rotate") == 1


TRICKY_NAMES = [
    "Google\nx: {keep: live}\nend",
    "Google\nmethod: client_secret_post\nend",
    "Google\n# comment",
    "Google\r  clientSecret: {keep: live}\rend",
    "Google\x85x: {keep: live}\u2028end\u2029",
]


def _tricky(name: str) -> list[LiveProvider]:
    google = LiveProvider(
        id="g1",
        odata_type="#microsoft.graph.socialIdentityProvider",
        kind="socialIdentityProvider",
        key="Google",
        fields={
            "displayName": name,
            "identityProviderType": "Google",
            "clientId": "gid",
            "clientSecret": UNKNOWN,
        },
    )
    oidc = LiveProvider(
        id="o1",
        odata_type="#microsoft.graph.oidcIdentityProvider",
        kind="oidcIdentityProvider",
        key="Contoso",
        fields={
            "displayName": name,
            "clientId": name,
            "issuer": "https://i/",
            "wellKnownEndpoint": "https://i/.well-known/x",
            "responseType": "code",
            "scope": "openid",
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                "clientSecret": UNKNOWN,
            },
            "inboundClaimMapping": {"sub": name},
        },
    )
    return [google, oidc]


@pytest.mark.parametrize("name", TRICKY_NAMES)
@pytest.mark.parametrize("keep", [True, False])
def test_a_multi_line_display_name_round_trips_and_gets_no_comment(name, keep) -> None:
    """A portal display name whose continuation lines read like a key, a `{keep: live}` or a
    comment: every provider is exported, each file loads back to exactly the live values, and
    the comments sit only on the real secret and method lines."""
    live = _tricky(name)
    result = export.build(live, load_kinds(), keep=keep)
    assert [f.address for f in result.files] == [
        "oidcIdentityProvider/Contoso",
        "socialIdentityProvider/Google",
    ]
    for exported, lp in zip(result.files, reversed(live), strict=True):
        data = yaml.safe_load(exported.text)
        secret = (
            {"keep": "live"}
            if keep
            else {"env": result.secrets[0].env if lp.id == "o1" else result.secrets[1].env}
        )
        expected = {
            "kind": lp.kind,
            **{
                k: v
                for k, v in lp.fields.items()
                if k not in ("clientSecret", "clientAuthentication")
            },
        }
        if lp.id == "o1":
            expected["clientAuthentication"] = {
                "method": "client_secret_post",
                "clientSecret": secret,
            }
        else:
            expected["clientSecret"] = secret
        assert data == expected
        rotate = exported.text.count("# set outside idpctl; to rotate")
        assert rotate == (1 if keep else 0)
        assert exported.text.count("# Graph cannot tell") == (lp.id == "o1")


def test_export_of_a_forged_display_name_writes_every_provider(workspace) -> None:
    workspace.emulator.admin.seed(dict(SEEDS["social"], displayName=TRICKY_NAMES[0]))
    workspace.emulator.admin.seed(dict(SEEDS["oidc"], displayName=TRICKY_NAMES[1]))
    out = workspace.run("export", "--out", "exported")
    assert out.code == 0, out.text
    folder = workspace.root / "exported"
    files = list(folder.iterdir())
    names = {yaml.safe_load(p.read_text())["displayName"] for p in files}
    assert len(files) == 2
    assert names == {TRICKY_NAMES[0], TRICKY_NAMES[1]}
