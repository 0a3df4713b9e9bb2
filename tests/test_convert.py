"""`idpctl convert --to external`: the B2C example repository converted, validated for an
External ID tenant, applied to the external emulator and planned empty; the field rules, the
report, issuers (option, placeholder, discovery), and never writing over the originals."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from idpctl.cli import main as cli
from idpctl.kinds import load_kinds
from idpctl.reports import convert

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "b2c" / "providers"
ISSUERS = (
    "--issuer",
    "Fabrikam Workforce=https://login.fabrikam.com/",
    "--issuer",
    "Litware Partners=https://sts.litware.com/",
)
KINDS = load_kinds()


def _as_env(folder: Path) -> dict[str, str]:
    """The test's own secrets: every reference becomes an {env: ...} the test supplies."""
    env, n = {}, 0
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text()

        def swap(match: re.Match[str]) -> str:
            nonlocal n
            n += 1
            env[f"CONV_SECRET_{n}"] = f"CANARY-converted-{n}"
            return f"{match.group(1)}{{env: CONV_SECRET_{n}}}"

        path.write_text(
            re.sub(
                r"((?:clientSecret|certificateData): )\{(?:vault|file|keyVault|"
                r"env): .*\}$",
                swap,
                text,
                flags=re.M,
            )
        )
    return env


def test_the_b2c_example_converts_applies_to_external_and_plans_empty(workspace) -> None:
    shutil.rmtree(workspace.providers)
    out = workspace.run(
        "convert", "--to", "external", str(EXAMPLE), "--out", "providers", "--offline", *ISSUERS
    )
    assert out.code == 0, out.text
    assert sorted(p.name for p in workspace.providers.iterdir()) == [
        "fabrikam-oidc.yaml",
        "legacy-partner.yaml",
        "social.yaml",
    ]
    assert "socialIdentityProvider/Amazon: (provider): left out" in out.out
    assert "responseMode: form_post: no External ID field" in out.out
    assert "custom policies" in out.out
    checked = workspace.run("validate")
    assert checked.code == 1 and "file:" in checked.text  # file refs outside this repository
    env = _as_env(workspace.providers)
    checked = workspace.run("validate")
    assert checked.code == 0, checked.text
    plan = workspace.plan(env=env)
    assert sorted(c["address"] for c in plan["changes"]) == [
        "appleManagedIdentityProvider/Apple",
        "oidcIdentityProvider/Fabrikam Workforce",
        "oidcIdentityProvider/Litware Partners",
        "socialIdentityProvider/Facebook",
    ]
    assert workspace.apply(env=env).code == 0
    workspace.assert_converged(env=env)


def test_the_oidc_fields_map_as_documented() -> None:
    data = yaml.safe_load((EXAMPLE / "fabrikam-oidc.yaml").read_text())
    result = convert.convert_document(
        data,
        kinds=KINDS,
        label="f.yaml",
        issuer_for=lambda name, url: "https://login.fabrikam.com/",
    )
    doc = result.document
    assert list(doc) == [
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
    assert doc["kind"] == "oidcIdentityProvider"
    assert doc["wellKnownEndpoint"] == data["metadataUrl"]
    assert doc["clientAuthentication"] == {
        "method": "client_secret_post",
        "clientSecret": {"env": "FABRIKAM_OIDC_SECRET"},
    }
    assert doc["inboundClaimMapping"] == {
        "sub": "sub",
        "name": "name",
        "given_name": "given_name",
        "family_name": "family_name",
        "email": "email",
    }
    assert {n.field for n in result.notes} == {"responseMode", "domainHint"}


def test_legacy_shape_response_type_and_unmapped_claims_are_reported() -> None:
    data = {
        "kind": "openIdConnectProvider",
        "name": "L",
        "type": "OpenIDConnect",
        "clientId": "c",
        "clientSecret": {"env": "S"},
        "responseType": "id_token",
        "metadataUrl": "https://l/.well-known/openid-configuration",
        "scope": "openid",
        "claimsMapping": {"userId": "oid", "custom": "x"},
        "userFlows": ["B2C_1_susi"],
    }
    result = convert.convert_document(
        data, kinds=KINDS, label="l.yaml", issuer_for=lambda name, url: None
    )
    doc = result.document
    assert doc["responseType"] == "code" and doc["displayName"] == "L"
    assert doc["issuer"].startswith("REPLACE-ME") and "userFlows" not in doc
    assert doc["inboundClaimMapping"] == {"sub": "oid", "email": "email"}
    fields = {n.field for n in result.notes}
    assert fields == {
        "responseType",
        "claimsMapping.custom",
        "inboundClaimMapping.email",
        "issuer",
        "userFlows",
    }


def test_social_types_external_id_lacks_are_listed_with_what_to_do() -> None:
    data = {
        "providers": [
            {
                "kind": "socialIdentityProvider",
                "identityProviderType": t,
                "displayName": t,
                "clientId": "c",
                "clientSecret": {"env": "S"},
            }
            for t in ("Google", "Microsoft", "GitHub")
        ]
    }
    result = convert.convert_document(
        data, kinds=KINDS, label="s.yaml", issuer_for=lambda name, url: None
    )
    assert [p["identityProviderType"] for p in result.document["providers"]] == ["Google"]
    text = "\n".join(map(str, result.notes))
    assert "Microsoft: (provider): left out: add Microsoft accounts as a custom OIDC" in text
    assert "GitHub: (provider): left out: External ID has no GitHub social provider" in text


def test_the_placeholder_issuer_is_refused_by_validate(workspace) -> None:
    shutil.rmtree(workspace.providers)
    out = workspace.run(
        "convert",
        "--to",
        "external",
        str(EXAMPLE / "fabrikam-oidc.yaml"),
        "--out",
        "providers",
        "--offline",
    )
    assert out.code == 0 and "issuer: not known offline" in out.out
    checked = workspace.run("validate")
    assert checked.code == 1 and "fabrikam-oidc.yaml:6:" in checked.out, checked.text


def test_convert_never_writes_over_originals_or_existing_files(tmp_path, capsys) -> None:
    src = tmp_path / "b2c"
    shutil.copytree(EXAMPLE, src)
    before = {p.name: p.read_text() for p in src.iterdir()}
    assert cli.main(["convert", "--to", "external", str(src), "--out", str(src), "--offline"]) == 1
    assert "never writes over the originals" in capsys.readouterr().err
    out = tmp_path / "ext"
    out.mkdir()
    (out / "social.yaml").write_text("mine\n")
    assert cli.main(["convert", "--to", "external", str(src), "--out", str(out), "--offline"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["social.yaml"]
    assert {p.name: p.read_text() for p in src.iterdir()} == before


def test_file_references_still_name_the_same_file(tmp_path) -> None:
    src = tmp_path / "repo" / "b2c"
    shutil.copytree(EXAMPLE, src)
    (src.parent / "secrets").mkdir()
    assert (
        cli.main(
            [
                "convert",
                "--to",
                "external",
                str(src),
                "--out",
                str(tmp_path / "repo" / "ext" / "providers"),
                "--offline",
            ]
        )
        == 0
    )
    doc = yaml.safe_load((tmp_path / "repo" / "ext" / "providers" / "social.yaml").read_text())
    apple = doc["providers"][1]
    target = tmp_path / "repo" / "ext" / "providers" / apple["certificateData"]["file"]
    assert target.resolve() == (src / "../secrets/AuthKey_99P6D879C4.p8").resolve()


def test_issuer_from_the_discovery_document(workspace) -> None:
    """Online: the emulator's sample IdP serves a discovery document; its issuer is taken."""
    base = workspace.emulator.base_url
    url = f"{base}/_idp/contoso/.well-known/openid-configuration"
    workspace.write(
        "b2c.yaml",
        f"""\
        kind: openIdConnectIdentityProvider
        displayName: Contoso
        clientId: c
        clientSecret: {{env: S}}
        metadataUrl: {url}
        responseType: code
        scope: openid
        claimsMapping: {{userId: sub, email: email}}
        """,
    )
    import ssl

    from idpctl.preflight import fetch as preflight_fetch

    original = preflight_fetch.ssl_context
    preflight_fetch.ssl_context = lambda ca=None: ssl.create_default_context(
        cafile=str(workspace.emulator.ca_path)
    )
    try:
        out = workspace.run("convert", "--to", "external", "providers/b2c.yaml", "--out", "ext")
    finally:
        preflight_fetch.ssl_context = original
    assert out.code == 0, out.text
    doc = yaml.safe_load((workspace.root / "ext" / "b2c.yaml").read_text())
    assert doc["issuer"].startswith(base) and "REPLACE-ME" not in doc["issuer"]


def test_a_symlink_out_of_a_named_folder_is_refused_and_never_read(tmp_path, capsys) -> None:
    """convert walks the folders it is given inside the repository boundary (control 5): a
    provider file linked from outside is refused, and nothing of it is written."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "prov.yaml").write_text(
        "kind: openIdConnectIdentityProvider\ndisplayName: Outside\n"
        "clientId: OUTSIDE-THE-REPO-VALUE\nclientSecret: {env: X}\n"
        "metadataUrl: https://idp.example/.well-known/openid-configuration\n"
        "responseType: code\nscope: openid\n",
        encoding="utf-8",
    )
    src = tmp_path / "repo" / "providers"
    src.mkdir(parents=True)
    (src / "prov.yaml").symlink_to(outside / "prov.yaml")
    out = tmp_path / "repo" / "external"
    assert cli.main(["convert", "--to", "external", str(src), "--out", str(out), "--offline"]) == 1
    captured = capsys.readouterr()
    assert "outside the configuration's root" in captured.err, captured.err
    assert "OUTSIDE-THE-REPO-VALUE" not in captured.out + captured.err
    assert not out.exists() or not any(out.iterdir())
