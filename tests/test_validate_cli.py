"""The validate, schema and fmt verbs, run in-process through `idpctl.cli.main.main`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from idpctl.cli.main import main
from idpctl.config.providers import load_providers
from idpctl.config.settings import load_settings
from idpctl.kinds import load_kinds
from idpctl.model import Provider, SecretRef

REPO = Path(__file__).resolve().parents[1]
Capture = pytest.CaptureFixture[str]


def _demo(tmp_path: Path) -> Path:
    config = tmp_path / "idpctl.yaml"
    config.write_text(
        "tenant: contoso.onmicrosoft.com\ntenantKind: external\n"
        f"providers: {json.dumps(str(REPO / 'providers'))}\n"
        # providers/contoso-partners.yaml reads ${var.idpBase} (scripts/demo sets it)
        "variables: {idpBase: 'https://login.contoso.com'}\n"
    )
    return config


def test_validate_the_demo_providers(tmp_path: Path, capsys: Capture) -> None:
    config = str(_demo(tmp_path))
    assert main(["validate", "-c", config]) == 1  # the providers are outside its folder
    assert "outside the configuration's root" in capsys.readouterr().out
    assert main(["validate", "--allow-path", str(REPO / "providers"), "-c", config]) == 0
    out, err = capsys.readouterr()
    assert out == "OK: 3 providers in 3 files\n" and err == ""


def test_global_options_after_the_verb_and_found_from_cwd(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _demo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IDPCTL_ALLOW_PATHS", str(REPO / "providers"))
    assert main(["validate"]) == 0
    assert main(["-c", str(tmp_path / "idpctl.yaml"), "validate"]) == 0
    assert capsys.readouterr().out.count("OK: 3 providers") == 2


def test_validate_b2c_example_warns_about_the_legacy_shape(capsys: Capture) -> None:
    assert main(["validate", "-c", str(REPO / "examples/b2c/idpctl.yaml")]) == 0
    out, _ = capsys.readouterr()
    warning, ok = out.splitlines()
    assert warning.endswith(
        "legacy-partner.yaml:4:7: warning: kind openIdConnectProvider is "
        "deprecated: write `kind: openIdConnectIdentityProvider`, "
        "`displayName: Litware Partners` instead of `name: Litware Partners`"
        " and drop `type: OpenIDConnect` (`idpctl fmt --migrate` rewrites "
        "the file)"
    )
    assert ok == "OK: 5 providers in 3 files, 1 warning"


def test_validate_reports_every_problem(tmp_path: Path, capsys: Capture) -> None:
    providers = tmp_path / "providers"
    providers.mkdir()
    (providers / "a.yaml").write_text(
        "kind: socialIdentityProvider\nidentityProviderType: "
        "Google\ndisplayName: G\nclientId: c\n"
        "clientSecret: CANARY-in-yaml\n"
    )
    (providers / "b.yaml").write_text(
        "kind: socialIdentityProvider\nidentityProviderType: "
        "Facebook\ndisplayName: G2\nclientId: c\n"
        "clientSecret: {env: G}\nextra: 1\n"
    )
    (tmp_path / "idpctl.yaml").write_text("tenant: t\ntenantKind: external\n")
    assert main(["validate", "-c", str(tmp_path / "idpctl.yaml")]) == 1
    out, err = capsys.readouterr()
    lines = [line.split("providers/", 1)[1] for line in out.splitlines()]
    assert [line.split(": ", 1)[0] for line in lines] == ["a.yaml:5:15", "b.yaml:6:1"]
    assert "CANARY" not in out + err
    assert err == "validate: 2 problems found\n"


def test_broken_settings_and_missing_settings(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "idpctl.yaml").write_text("tenant: t\ntenantKind: moon\n")
    assert main(["validate", "-c", str(tmp_path / "idpctl.yaml")]) == 1
    assert "idpctl.yaml:2:13: tenantKind: must be one of" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setattr(Path, "cwd", classmethod(lambda cls: empty))
    (tmp_path / "idpctl.yaml").unlink()
    assert main(["validate"]) == 1
    assert "no idpctl.yaml in" in capsys.readouterr().out


def test_schema_verb(capsys: Capture) -> None:
    assert main(["schema"]) == 0
    listing = capsys.readouterr().out
    assert "oidcIdentityProvider" in listing and "secretRef" in listing
    assert main(["schema", "OIDCIdentityProvider.schema.json"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["x-naturalKey"] == "displayName"
    assert main(["schema", "nope"]) == 1
    assert "no schema named 'nope'" in capsys.readouterr().err


def test_fmt_migrate_keeps_comments(tmp_path: Path, capsys: Capture) -> None:
    b2c = tmp_path / "b2c"
    shutil.copytree(REPO / "examples/b2c", b2c)
    legacy = b2c / "providers/legacy-partner.yaml"
    before = legacy.read_text()
    assert main(["fmt", "--migrate", "-c", str(b2c / "idpctl.yaml")]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith("legacy-partner.yaml") and "migrated 1 provider" in err
    after = legacy.read_text()
    assert "kind: openIdConnectIdentityProvider\ndisplayName: Litware Partners   " in after
    assert "type: OpenIDConnect" not in after
    assert [line for line in before.splitlines() if line.startswith("#")] == [
        line for line in after.splitlines() if line.startswith("#")
    ]
    assert main(["validate", "-c", str(b2c / "idpctl.yaml")]) == 0
    assert "warning" not in capsys.readouterr().out
    kinds = load_kinds()
    migrated = load_providers(load_settings(b2c / "idpctl.yaml"), kinds)
    original = load_providers(load_settings(REPO / "examples/b2c/idpctl.yaml"), kinds)

    def plain(providers: tuple[Provider, ...]) -> list[tuple[str, dict[str, object]]]:
        return [
            (p.address, {k: v for k, v in p.fields.items() if not isinstance(v, SecretRef)})
            for p in providers
        ]

    assert plain(migrated) == plain(original)


def test_fmt_migrate_flow_style_rewrites_from_data(tmp_path: Path, capsys: Capture) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "providers:\n  - {kind: openIdConnectProvider, name: Y, type: OpenIDConnect, clientId: c}\n"
    )
    assert main(["fmt", "--migrate", str(path)]) == 0
    assert "comments could not be kept" in capsys.readouterr().err
    assert path.read_text() == (
        "providers:\n- kind: openIdConnectIdentityProvider\n  displayName: Y\n  clientId: c\n"
    )


def test_plain_fmt_tidies_whitespace_only(tmp_path: Path, capsys: Capture) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(
        b"kind: socialIdentityProvider   \r\ndisplayName: G\r\nnote: |\r\n  keep  \r\n\r\n\r\n"
    )
    assert main(["fmt", str(path)]) == 0
    assert (
        path.read_bytes() == b"kind: socialIdentityProvider   \r\ndisplayName: G\r\nnote: |\r\n"
        b"  keep  \r\n\r\n\r\n"
    )  # trailing blanks in a block scalar are content: left alone
    path.write_bytes(b"\xef\xbb\xbfkind: socialIdentityProvider   \r\ndisplayName: G\r\n\r\n")
    assert main(["fmt", str(path)]) == 0
    assert path.read_bytes() == b"\xef\xbb\xbfkind: socialIdentityProvider\ndisplayName: G\n"
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text("kind: openIdConnectProvider\nname: X\n")
    assert main(["fmt", str(legacy)]) == 0
    assert "run `idpctl fmt --migrate" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    assert main(["fmt", str(bad)]) == 1
    assert "bad.yaml:2:1: invalid YAML" in capsys.readouterr().out


def test_the_documented_examples_validate(tmp_path: Path, capsys: Capture) -> None:
    import re

    text = (REPO / "docs/file-format.md").read_text()
    settings, provider = re.findall(r"```yaml\n(.*?)```", text, re.S)[1:3]
    (tmp_path / "providers").mkdir()
    (tmp_path / "idpctl.yaml").write_text(settings)
    (tmp_path / "providers" / "contoso.yaml").write_text(provider)
    assert (
        main(
            [
                "validate",
                "--allow-endpoint",
                "vault.example:8200",
                "--allow-path",
                "/var/run/secrets/azure/tokens",
                "-c",
                str(tmp_path / "idpctl.yaml"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == "OK: 1 provider in 1 file\n"


def test_validate_names_both_files_of_display_names_differing_in_case(
    tmp_path: Path, capsys: Capture
) -> None:
    providers = tmp_path / "providers"
    providers.mkdir()
    body = (
        "clientId: c\nissuer: https://idp.test/\nwellKnownEndpoint: https://idp.test/"
        ".well-known/openid-configuration\nresponseType: code\nscope: openid\n"
        "clientAuthentication: {method: private_key_jwt}\n"
        "inboundClaimMapping: {sub: sub, email: email}\n"
    )
    (providers / "a.yaml").write_text("kind: oidcIdentityProvider\ndisplayName: Contoso\n" + body)
    (providers / "b.yaml").write_text("kind: oidcIdentityProvider\ndisplayName: contoso\n" + body)
    (tmp_path / "idpctl.yaml").write_text("tenant: t\ntenantKind: external\n")
    assert main(["validate", "-c", str(tmp_path / "idpctl.yaml")]) == 1
    out, err = capsys.readouterr()
    lines = [line.split("providers/", 1)[1] for line in out.splitlines()]
    assert [line.split(": ", 1)[0] for line in lines] == ["a.yaml:2:14", "b.yaml:2:14"], out
    assert lines[0].endswith(
        "differs from contoso ("
        + str(providers / "b.yaml")
        + ":2:14) only in case: Graph takes them for one provider"
    )
    assert err == "validate: 2 problems found\n"


def _provider_file(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(
        f"kind: socialIdentityProvider\nidentityProviderType: {name}\ndisplayName: {name}\n"
        f"clientId: c\nclientSecret: {{env: {name.upper()}}}\n",
        encoding="utf-8",
    )


def test_providers_root_reads_the_pull_requests_files_under_the_base_settings(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workflow rule (docs/security.md): idpctl.yaml from the base branch, the provider
    files from the pull request's checkout; the checkout's own idpctl.yaml is never read."""
    base, pr = tmp_path / "base", tmp_path / "base" / "pull-request"
    (base / "idpctl.yaml").parent.mkdir()
    (base / "idpctl.yaml").write_text(
        "tenant: base.onmicrosoft.com\ntenantKind: external\nproviders: [idps]\n", encoding="utf-8"
    )
    _provider_file(base / "idps", "Google")
    _provider_file(pr / "idps", "Facebook")
    (pr / "idpctl.yaml").write_text(
        "tenant: evil.example\ntenantKind: [not, valid]\n", encoding="utf-8"
    )
    settings = load_settings(base / "idpctl.yaml", providers_root=pr)
    assert settings.tenant == "base.onmicrosoft.com"
    assert settings.provider_paths == ((pr / "idps").resolve(),)
    providers = load_providers(settings, load_kinds())
    assert [p.address for p in providers] == ["socialIdentityProvider/Facebook"]
    monkeypatch.chdir(base)
    assert main(["validate", "--providers-root", "pull-request"]) == 0
    assert "OK: 1 provider in 1 file" in capsys.readouterr().out
    assert main(["validate", "--providers-root", "missing"]) == 1
    assert (
        "providers: idps does not exist under --providers-root missing" in capsys.readouterr().out
    )
