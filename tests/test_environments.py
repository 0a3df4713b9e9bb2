"""Environments end to end: one set of provider files promoted through two emulated tenants
(dev, then prod) with `--env` / `IDPCTL_ENV`, different `variables:`, separate state, and
`allowDestroy: false` refusing `--allow-destroy` in prod."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from idpctl_emulator.harness import EmulatorHandle
from workspace import Workspace

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google (${var.LABEL})
clientId: ${var.GOOGLE_CLIENT_ID}
clientSecret: {env: GOOGLE_SECRET}
"""
DEV = {"GOOGLE_SECRET": "CANARY-dev"}
PROD_SECRET = "IDPCTL_TEST_PROD_CLIENT_SECRET"


def overlay(ws: Workspace, name: str, text: str) -> None:
    folder = ws.root / "environments"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def promoted(make_workspace, emulator_factory) -> tuple[Workspace, EmulatorHandle]:
    ws = make_workspace("external")
    prod = emulator_factory(
        tenant_kind="external", rate_limit="off", tenant="prod.onmicrosoft.test"
    )
    overlay(
        ws,
        "dev",
        """\
        variables: {LABEL: dev, GOOGLE_CLIENT_ID: dev-google-client}
        state: {path: .idpctl/dev.json}
        """,
    )
    overlay(
        ws,
        "prod",
        f"""\
        tenant: {prod.tenant}
        graph: {{url: {prod.base_url}, authority: {prod.base_url}, caBundle: {prod.ca_path}}}
        auth: {{clientId: {prod.client_id}, clientSecret: {{env: {PROD_SECRET}}}}}
        state: {{path: .idpctl/prod.json}}
        variables: {{LABEL: prod, GOOGLE_CLIENT_ID: prod-google-client}}
        allowDestroy: false
        """,
    )
    ws.write("google.yaml", GOOGLE)
    return ws, prod


def google(providers: list[dict]) -> dict:
    return next(p for p in providers if p.get("identityProviderType") == "Google")


def test_same_files_two_tenants_different_variables(promoted) -> None:
    ws, prod = promoted
    prod_env = {"GOOGLE_SECRET": "CANARY-prod", PROD_SECRET: prod.client_secret}
    ws.apply("--env", "dev", env=DEV)
    ws.assert_converged(env={**DEV, "IDPCTL_ENV": "dev"})
    assert not any(
        p.get("identityProviderType") == "Google" for p in prod.admin.store()["providers"]
    )
    ws.apply(env={**prod_env, "IDPCTL_ENV": "prod"})
    ws.assert_converged(env={**prod_env, "IDPCTL_ENV": "prod"})
    dev_google, prod_google = google(ws.live()), google(prod.admin.store()["providers"])
    assert (dev_google["clientId"], dev_google["displayName"]) == (
        "dev-google-client",
        "Google (dev)",
    )
    assert (prod_google["clientId"], prod_google["displayName"]) == (
        "prod-google-client",
        "Google (prod)",
    )
    # relative paths are relative to the file that holds them: here the overlay
    assert (ws.root / "environments" / ".idpctl" / "dev.json").is_file()
    assert (ws.root / "environments" / ".idpctl" / "prod.json").is_file()
    drift = ws.run("drift", "--env", "prod", env={PROD_SECRET: prod.client_secret})
    assert drift.code == 0, drift.text


def test_allow_destroy_refused_where_the_environment_forbids_it(promoted) -> None:
    ws, prod = promoted
    prod_env = {"GOOGLE_SECRET": "CANARY-prod", PROD_SECRET: prod.client_secret}
    ws.apply("--env", "prod", env=prod_env)
    ws.remove("google.yaml")
    refused = ws.run("apply", "--env", "prod", "--auto-approve", "--allow-destroy", env=prod_env)
    assert refused.code == 1 and "allowDestroy: false" in refused.err
    assert google(prod.admin.store()["providers"])["clientId"] == "prod-google-client"
    ws.write("google.yaml", GOOGLE)
    ws.apply("--env", "dev", env=DEV)
    ws.remove("google.yaml")
    allowed = ws.run("apply", "--env", "dev", "--auto-approve", "--allow-destroy", env=DEV)
    assert allowed.code == 0, allowed.text


def test_unresolved_variable_is_a_located_error(promoted) -> None:
    ws, _ = promoted
    ws.write("google.yaml", GOOGLE.replace("${var.GOOGLE_CLIENT_ID}", "${var.NOPE}"))
    result = ws.run("plan", "--env", "dev", env=DEV)
    assert result.code == 1
    assert "providers/google.yaml:4:" in result.err and "${var.NOPE}" in result.err
    validated = ws.run("validate", "--env", "dev")
    assert validated.code == 1 and "unresolved variable ${var.NOPE}" in validated.out
    no_env = ws.run("validate")
    assert no_env.code == 1 and "unresolved variable ${var.LABEL}" in no_env.out
    unknown = ws.run("plan", "--env", "staging", env=DEV)
    assert unknown.code == 1 and "environments/staging.yaml does not exist" in unknown.err


# --- config.environments as plain calls -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("prod", True),
        ("eu-west.2_b", True),
        (".hidden", False),
        ("a/b", False),
        ("..", False),
        ("", False),
        ("p rod", False),
        ("prod\n", False),
    ],
)
def test_an_environment_name_is_letters_digits_and_dot_dash_underscore(
    name: str, valid: bool
) -> None:
    from idpctl.config.environments import is_environment_name

    assert is_environment_name(name) is valid


def test_environment_names_lists_the_overlays_and_skips_hidden_and_odd_names(
    tmp_path: Path,
) -> None:
    from idpctl.config.environments import environment_names

    folder = tmp_path / "environments"
    folder.mkdir()
    for name in ("prod.yaml", "dev.yaml", ".hidden.yaml", "no spaces.yaml", "notes.txt"):
        (folder / name).write_text("{}\n", encoding="utf-8")
    (folder / "dir.yaml").mkdir()
    assert environment_names(tmp_path / "idpctl.yaml") == ["dev", "prod"]
    assert environment_names(tmp_path / "other" / "idpctl.yaml") == []


def test_substitute_replaces_known_variables_and_reports_each_unknown_one_with_its_path() -> None:
    from idpctl.config.environments import substitute

    missing: list[tuple[tuple[str | int, ...], str]] = []
    data = {"a": "x-${var.ONE}-${var.TWO}", "list": ["${var.ONE}", 3], "n": None}
    out = substitute(data, {"ONE": "1"}, lambda path, name: missing.append((path, name)))
    assert out == {"a": "x-1-${var.TWO}", "list": ["1", 3], "n": None}
    assert missing == [(("a",), "TWO")]


def test_parse_variables_takes_the_last_value_and_names_a_malformed_option() -> None:
    from idpctl.config.environments import parse_variables
    from idpctl.errors import ConfigError

    assert parse_variables(["A=1", "B=x=y", "A=2"]) == {"A": "2", "B": "x=y"}
    with pytest.raises(ConfigError, match="-var '1A=x'"):
        parse_variables(["1A=x"])
