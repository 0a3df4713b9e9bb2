"""The tenant's kind read from the provider list plan already makes (no extra request), and a
plan refused when `tenantKind` names another kind."""

from __future__ import annotations

from typing import Any

import pytest

from idpctl.graph.live import normalise, tenant_kind
from idpctl.kinds import load_kinds

KINDS = load_kinds()
G = "#microsoft.graph."
GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
ENV = {"GOOGLE_SECRET": "CANARY-tk-g"}


def builtin(type_: str) -> dict[str, Any]:
    return {
        "id": f"{type_}-OAUTH",
        "@odata.type": G + "builtInIdentityProvider",
        "displayName": type_,
        "identityProviderType": type_,
    }


def kind_of(*items: dict[str, Any]) -> str | None:
    found = tenant_kind([normalise(item, KINDS) for item in items])
    return found[0] if found else None


def test_the_kind_follows_from_built_ins_and_types() -> None:
    assert (
        kind_of(builtin("AADSignup"), builtin("EmailOTP"), builtin("EmailPassword")) == "external"
    )
    assert (
        kind_of(builtin("AADSignup"), builtin("MicrosoftAccount"), builtin("EmailOTP"))
        == "workforce"
    )
    assert kind_of() == "b2c"  # workforce and external tenants always list built-ins
    assert (
        kind_of(
            {
                "id": "OIDC-1",
                "@odata.type": G + "openIdConnectIdentityProvider",
                "displayName": "Partner",
            }
        )
        == "b2c"
    )
    assert (
        kind_of(
            {
                "id": "Amazon-OAUTH",
                "@odata.type": G + "socialIdentityProvider",
                "identityProviderType": "Amazon",
                "displayName": "Amazon",
            }
        )
        == "b2c"
    )
    assert (
        kind_of(
            builtin("AADSignup"),
            builtin("EmailOTP"),
            {"id": "g", "@odata.type": G + "oidcIdentityProvider", "displayName": "C"},
        )
        == "external"
    )


def test_contradicting_or_thin_evidence_is_no_answer() -> None:
    assert kind_of(builtin("AADSignup"), builtin("EmailOTP")) is None
    assert kind_of(builtin("EmailPassword"), builtin("MicrosoftAccount")) is None
    assert (
        kind_of(
            builtin("EmailPassword"),
            {
                "id": "OIDC-1",
                "@odata.type": G + "openIdConnectIdentityProvider",
                "displayName": "Partner",
            },
        )
        is None
    )


@pytest.mark.parametrize(
    ("configured", "actual"),
    [
        (c, a)
        for c in ("external", "b2c", "workforce")
        for a in ("external", "b2c", "workforce")
        if c != a
    ],
)
def test_plan_refuses_a_tenant_of_another_kind(
    make_workspace: Any, configured: str, actual: str
) -> None:
    ws = make_workspace(actual)
    ws.tenant_kind = configured
    ws.write_config()
    ws.write("google.yaml", GOOGLE)
    ws.emulator.admin.clear_requests()
    result = ws.run("plan", env=ENV)
    assert result.code == 1, result.text
    [line] = result.err.strip().splitlines()
    assert f"tenantKind: {configured}" in line and f"{_a(actual)} tenant" in line, line
    reads = [
        r["path"]
        for r in ws.emulator.admin.requests()
        if r["path"].startswith(("/beta/", "/v1.0/"))
    ]
    # nothing read besides the one provider list (v1.0 or beta by the kinds, docs/api-versions.md)
    assert [r.split("/", 2)[2] for r in reads] == ["identity/identityProviders"], reads
    applied = ws.run("apply", "--auto-approve", env=ENV)
    assert applied.code == 1 and "tenantKind" in applied.err
    assert not any(p.get("identityProviderType") == "Google" for p in ws.live())


def test_a_tenant_of_the_configured_kind_plans(make_workspace: Any) -> None:
    for kind in ("external", "b2c", "workforce"):
        ws = make_workspace(kind)
        ws.write("google.yaml", GOOGLE)
        assert ws.run("plan", env=ENV).code == 0


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
