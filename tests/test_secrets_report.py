"""Secret governance end to end against the emulator: `idpctl secrets report` in its three
formats (no value, no secret environment variable, no Graph call), the plan's age warnings in
every rendering, and `idpctl drift` reporting `secret-expired` as drift (exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from workspace import CLIENT_SECRET_ENV, Workspace

SECRETS = {
    "GOOGLE_SECRET": "CANARY-google-1",
    "CONTOSO_SECRET": "CANARY-contoso-1",
    "FABRIKAM_SECRET": "CANARY-fabrikam-1",
}
GOOGLE = "socialIdentityProvider/Google"
CONTOSO = "oidcIdentityProvider/Contoso"
FABRIKAM = "oidcIdentityProvider/Fabrikam"

GOOGLE_YAML = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
secretPolicy: {maxAge: 30d}
"""

OIDC_YAML = """\
kind: oidcIdentityProvider
displayName: %(name)s
clientId: %(lower)s-client
issuer: %(base)s/_idp/%(lower)s/
wellKnownEndpoint: %(base)s/_idp/%(lower)s/.well-known/openid-configuration
responseType: code
scope: openid profile email
clientAuthentication:
  method: client_secret_post
  clientSecret: {env: %(env)s}
inboundClaimMapping: {sub: sub, email: email, name: name}
"""


@pytest.fixture
def governed(workspace: Workspace) -> Workspace:
    """Google (policy maxAge 30d), Contoso (its IdP lists private_key_jwt) and Fabrikam (its
    IdP lists secret methods only), applied, with the emulator's CA trusted for discovery."""
    base = workspace.emulator.base_url
    workspace.extra_config = f"preflight: {{caBundle: {workspace.emulator.ca_path}}}\n"
    workspace.write_config()
    workspace.write("google.yaml", GOOGLE_YAML)
    for name, env in (("Contoso", "CONTOSO_SECRET"), ("Fabrikam", "FABRIKAM_SECRET")):
        workspace.write(
            f"{name.lower()}.yaml",
            OIDC_YAML % {"name": name, "lower": name.lower(), "base": base, "env": env},
        )
    workspace.apply(env=SECRETS)
    return workspace


def _age(ws: Workspace, days: dict[str, float]) -> None:
    """Move the state's set_at of each address's secrets `days` into the past."""
    data = ws.state()
    for address, age in days.items():
        when = datetime.now(UTC) - timedelta(days=age)
        for record in data["providers"][address]["secrets"].values():
            record["set_at"] = when.isoformat(timespec="seconds").replace("+00:00", "Z")
    ws.state_path.write_text(json.dumps(data, indent=2), encoding="utf-8")


# without the providers' secrets, and with a Graph secret that would fail a sign-in: the
# report needs neither
NO_VALUES = {CLIENT_SECRET_ENV: "CANARY-not-a-valid-client-secret"}


def test_report_text_json_markdown_without_secret_values(governed: Workspace) -> None:
    _age(governed, {GOOGLE: 40, CONTOSO: 80, FABRIKAM: 1})
    governed.emulator.admin.clear_requests()
    text = governed.run("secrets", "report", env=NO_VALUES)
    assert text.code == 0, text.text
    assert text.err == ""
    out = text.out
    assert (
        f"{GOOGLE}\n  method          clientSecret\n"
        "  policy          maxAge 30d, warnAt 25d (set in the provider file)\n"
        "  secret          clientSecret from env:GOOGLE_SECRET\n" in out
    )
    assert "    status        expired: past maxAge 30d\n" in out
    assert "  recommendation  rotate clientSecret now: 40d old, past maxAge 30d\n" in out
    assert "    status        warn: past warnAt 75d, expires " in out
    assert (
        "  idp metadata    token_endpoint_auth_methods_supported: client_secret_post, "
        "client_secret_jwt, private_key_jwt\n"
    ) in out
    assert "move to private_key_jwt: the IdP lists it" in out
    assert "keep rotating: the IdP's metadata does not list private_key_jwt" in out
    assert out.endswith("3 secret(s) in 3 provider(s): 1 ok, 1 warn, 1 expired, 0 unknown.\n")
    paths = {r["path"] for r in governed.emulator.admin.requests()}
    assert all(p.startswith("/_idp/") for p in paths), paths  # no sign-in, no Graph call

    data = json.loads(governed.run("secrets", "report", "--format", "json", env=NO_VALUES).out)
    assert data["summary"] == {"ok": 1, "warn": 1, "expired": 1, "unknown": 0}
    rows = {row["address"]: row for row in data["providers"]}
    assert rows[CONTOSO]["metadata"]["checked"] is True
    assert "private_key_jwt" in rows[CONTOSO]["metadata"]["methods"]
    assert rows[GOOGLE]["secrets"][0]["status"] == "expired"
    assert rows[FABRIKAM]["secrets"][0]["source"] == "env:FABRIKAM_SECRET"

    markdown = governed.run("secrets", "report", "--format", "markdown", env=NO_VALUES).out
    assert markdown.startswith(f"## idpctl secrets report for `{governed.emulator.tenant}`")
    assert f"| `{GOOGLE}` | `clientSecret` | `clientSecret` | `env:GOOGLE_SECRET` |" in markdown
    assert "❌ expired" in markdown and "⚠️ warn" in markdown and "✅ ok" in markdown


def test_report_offline_and_never_set(workspace: Workspace) -> None:
    base = workspace.emulator.base_url
    workspace.write(
        "contoso.yaml",
        OIDC_YAML % {"name": "Contoso", "lower": "contoso", "base": base, "env": "CONTOSO_SECRET"},
    )
    workspace.emulator.admin.clear_requests()
    result = workspace.run("secrets", "report", "--offline", env=NO_VALUES)
    assert result.code == 0, result.text
    assert "    set           never set by idpctl\n    status        unknown\n" in result.out
    assert "  idp metadata    metadata not checked (--offline)\n" in result.out
    assert "apply to record when clientAuthentication.clientSecret is set" in result.out
    assert workspace.emulator.admin.requests() == []


def test_report_refuses_a_bad_policy_with_its_location(workspace: Workspace) -> None:
    workspace.write(
        "google.yaml", GOOGLE_YAML.replace("{maxAge: 30d}", "{maxAge: 30d, warnAt: 40d}")
    )
    result = workspace.run("secrets", "report", "--offline")
    assert result.code == 1
    assert "google.yaml:6:15: secretPolicy.warnAt 40d is past maxAge 30d" in result.err


def test_plan_warns_past_warn_at_in_every_rendering(governed: Workspace) -> None:
    _age(governed, {CONTOSO: 80, GOOGLE: 1, FABRIKAM: 1})
    text = governed.run("plan", "--detailed-exitcode", env=SECRETS)
    assert text.code == 0, text.text
    assert (
        f"Warning: {CONTOSO} clientAuthentication.clientSecret: secret due for rotation (set "
    ) in text.out
    assert "past warnAt 75d" in text.out and "put a new value in env:CONTOSO_SECRET" in text.out
    assert GOOGLE not in text.out.split("Warning:", 1)[1]
    data = governed.plan(env=SECRETS)
    assert any(
        w.startswith(f"{CONTOSO} clientAuthentication.clientSecret: secret due")
        for w in data["warnings"]
    )
    markdown = governed.run("plan", "--format", "markdown", env=SECRETS).out
    assert "**Warnings**" in markdown and "secret due for rotation" in markdown


def test_plan_does_not_warn_about_a_secret_it_rotates(governed: Workspace) -> None:
    _age(governed, {GOOGLE: 40})
    assert "secret expired" in governed.run("plan", env=SECRETS).out
    rotated = {**SECRETS, "GOOGLE_SECRET": "CANARY-google-2"}
    result = governed.run("plan", env=rotated)
    assert "clientSecret: (sensitive)  # rotate" in result.out
    assert "secret expired" not in result.out
    governed.apply(env=rotated)
    assert "Warning" not in governed.run("plan", env=rotated).out


def test_drift_reports_secret_expired_as_drift(governed: Workspace) -> None:
    clean = governed.run("drift")  # signs in to read Graph; no provider secret needed
    assert clean.code == 0, clean.text
    _age(governed, {CONTOSO: 80})
    warned = governed.run("drift")
    assert warned.code == 0, warned.text  # past warnAt: informational, not drift
    assert (
        f"secret-warn: {CONTOSO}: clientAuthentication.clientSecret: secret due for "
        "rotation" in warned.out
    )
    _age(governed, {GOOGLE: 31})
    result = governed.run("drift", "--format", "json")
    assert result.code == 2, result.text
    findings = json.loads(result.out)["findings"]
    expired = [f for f in findings if f["kind"] == "secret-expired"]
    assert [f["address"] for f in expired] == [GOOGLE]
    assert "past maxAge 30d" in expired[0]["message"] and not expired[0]["informational"]
    assert [f["informational"] for f in findings if f["kind"] == "secret-warn"] == [True]
    text = governed.run("drift").out
    assert f"secret-expired: {GOOGLE}: clientSecret: secret expired" in text


def test_validate_locates_an_incoherent_policy(workspace: Workspace) -> None:
    workspace.write("google.yaml", GOOGLE_YAML.replace("{maxAge: 30d}", "{warnAt: 100d}"))
    result = workspace.run("validate")
    assert result.code == 1
    assert (
        "providers/google.yaml:6:15: secretPolicy.warnAt 100d is past maxAge 90d" in result.text
    ), result.text
    workspace.extra_config = "secretPolicy: {maxAge: 200d}\n"
    workspace.write_config()
    assert workspace.run("validate").code == 0  # 100d is within idpctl.yaml's 200d
    workspace.extra_config = "secretPolicy: {maxAge: 10d, warnAt: 20d}\n"
    workspace.write_config()
    result = workspace.run("validate")
    assert result.code == 1
    assert (
        "idpctl.yaml:" in result.text
        and "secretPolicy.warnAt 20d is past maxAge 10d" in result.text
    ), result.text


def test_report_says_when_the_idp_metadata_cannot_be_read(workspace: Workspace) -> None:
    workspace.write(
        "contoso.yaml",
        OIDC_YAML
        % {
            "name": "Contoso",
            "lower": "contoso",
            "base": "https://127.0.0.1:9",
            "env": "CONTOSO_SECRET",
        },
    )
    result = workspace.run("secrets", "report", "--format", "json", env=NO_VALUES)
    assert result.code == 0, result.text
    (row,) = json.loads(result.out)["providers"]
    assert row["metadata"]["checked"] is True and row["metadata"]["error"]
    assert row["recommendations"][-1].startswith(
        "consider private_key_jwt; IdP metadata unreadable ("
    )
