"""`idpctl init`: the files it writes, its refusal to overwrite, and a first plan against the
emulator from nothing but what init wrote."""

from __future__ import annotations

import shutil

import yaml

from idpctl.cli import main as cli
from idpctl.cli.init import WORKFLOWS


def _fresh(ws) -> None:
    ws.config.unlink()
    shutil.rmtree(ws.providers)


def _init(ws, *extra: str):
    e = ws.emulator
    return ws.run(
        "init",
        "--tenant",
        e.tenant,
        "--tenant-kind",
        ws.tenant_kind,
        "--graph-url",
        e.base_url,
        "--ca-bundle",
        str(e.ca_path),
        "--client-id",
        e.client_id,
        *extra,
    )


def test_init_to_a_first_plan_against_the_emulator(workspace) -> None:
    _fresh(workspace)
    made = _init(workspace)
    assert made.code == 0, made.text
    env = {"AZURE_CLIENT_SECRET": workspace.emulator.client_secret}
    assert workspace.run("validate").code == 0
    workspace.write(
        "google.yaml",
        """\
        # yaml-language-server: $schema=../schemas/providers.schema.json
        kind: socialIdentityProvider
        displayName: Google
        identityProviderType: Google
        clientId: google-client
        clientSecret: {env: GOOGLE_SECRET}
        """,
    )
    planned = workspace.run("plan", "--detailed-exitcode", env={**env, "GOOGLE_SECRET": "CANARY-g"})
    assert planned.code == 2, planned.text
    assert "+ socialIdentityProvider/Google" in planned.out
    assert (
        workspace.run("apply", "--auto-approve", env={**env, "GOOGLE_SECRET": "CANARY-g"}).code == 0
    )
    assert (workspace.root / ".idpctl" / "state.json").is_file()
    again = workspace.run("plan", "--detailed-exitcode", env={**env, "GOOGLE_SECRET": "CANARY-g"})
    assert again.code == 0, again.text


def test_init_writes_commented_settings_gitignore_and_schemas(tmp_path, capsys) -> None:
    assert (
        cli.main(
            ["init", str(tmp_path), "--tenant", "fabrikam.onmicrosoft.com", "--tenant-kind", "b2c"]
        )
        == 0
    )
    text = (tmp_path / "idpctl.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=schemas/idpctl.schema.json")
    data = yaml.safe_load(text)
    assert data["tenant"] == "fabrikam.onmicrosoft.com" and data["tenantKind"] == "b2c"
    assert data["auth"]["clientSecret"] == {"env": "AZURE_CLIENT_SECRET"}
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 8
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert ".idpctl/" in ignored and "plan.json" in ignored
    assert (tmp_path / "schemas" / "providers.schema.json").is_file()
    assert (tmp_path / "providers").is_dir()
    assert not (tmp_path / ".github").exists()


def test_init_workflows_on_request(tmp_path) -> None:
    assert cli.main(["init", str(tmp_path), "--workflows"]) == 0
    written = sorted(p.name for p in (tmp_path / ".github" / "workflows").iterdir())
    assert written == sorted(WORKFLOWS)


def test_init_refuses_to_overwrite_without_force(tmp_path, capsys) -> None:
    (tmp_path / ".gitignore").write_text("mine\n")
    assert cli.main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "refusing to overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore"]
    assert (tmp_path / ".gitignore").read_text() == "mine\n"
    assert cli.main(["init", str(tmp_path), "--force"]) == 0
    assert ".idpctl/" in (tmp_path / ".gitignore").read_text()


def test_init_quotes_what_it_is_given(tmp_path) -> None:
    tenant = "x.onmicrosoft.com\nstate: {backend: local, path: /etc/passwd}"
    assert cli.main(["init", str(tmp_path), "--tenant", tenant]) == 0
    data = yaml.safe_load((tmp_path / "idpctl.yaml").read_text())
    assert data["tenant"] == tenant and data["state"]["path"] == ".idpctl/state.json"
