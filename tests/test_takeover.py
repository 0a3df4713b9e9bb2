"""Taking over a live tenant in one sitting, end to end against the emulator: a tenant seeded
with a dozen portal-made providers of every kind it offers goes through init, export, import
and plan (exit 0, no secret supplied), then a rename by `moved`, then a rotation (a reference
in place of `{keep: live}`), each followed by an empty plan. No write reaches Graph before
the rename, and no secret before the rotation.

`IDPCTL_TAKEOVER_TRANSCRIPT=FILE` writes the commands and their output (the README's "Take
over an existing tenant" comes from it)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

CLAIMS_B2C = {"userId": "sub", "displayName": "name", "email": "email"}
SECRET_AUTH = "#microsoft.graph.oidcClientSecretAuthentication"
JWT_AUTH = "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"


def _oidc(name: str, n: int, *, jwt: bool = False) -> dict:
    host = f"https://login.partner{n}.test"
    auth = (
        {"@odata.type": JWT_AUTH}
        if jwt
        else {"@odata.type": SECRET_AUTH, "clientSecret": f"CANARY-portal-oidc-{n}"}
    )
    return {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": name,
        "clientId": f"client-{n}",
        "issuer": f"{host}/",
        "wellKnownEndpoint": f"{host}/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid profile email",
        "clientAuthentication": auth,
        "inboundClaimMapping": {"sub": "sub", "email": "email"},
    }


def _b2c_oidc(name: str, n: int) -> dict:
    return {
        "@odata.type": "#microsoft.graph.openIdConnectIdentityProvider",
        "displayName": name,
        "clientId": f"client-{n}",
        "clientSecret": f"CANARY-portal-b2c-{n}",
        "claimsMapping": CLAIMS_B2C,
        "metadataUrl": f"https://login.partner{n}.test/.well-known/openid-configuration",
        "responseMode": "form_post",
        "responseType": "code",
        "scope": "openid",
    }


def _social(kind: str) -> dict:
    return {
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": kind,
        "identityProviderType": kind,
        "clientId": f"{kind.lower()}-client",
        "clientSecret": f"CANARY-portal-{kind.lower()}",
    }


APPLE = {
    "@odata.type": "#microsoft.graph.appleManagedIdentityProvider",
    "displayName": "Sign in with Apple",
    "developerId": "TEAM1",
    "serviceId": "com.contoso.app",
    "keyId": "KEY1",
    "certificateData": "CANARY-portal-apple",
}
SEEDS = {
    "external": [
        *(_oidc(f"Partner {n}", n) for n in range(1, 9)),
        _oidc("Partner JWT", 9, jwt=True),
        _social("Google"),
        _social("Facebook"),
        APPLE,
    ],
    "b2c": [
        *(_b2c_oidc(f"Partner {n}", n) for n in range(1, 6)),
        *(_social(t) for t in ("Google", "Facebook", "Microsoft", "Amazon", "GitHub", "LinkedIn")),
        APPLE,
    ],
}
RENAMED = {"external": "oidcIdentityProvider", "b2c": "openIdConnectIdentityProvider"}


class _Transcript:
    def __init__(self, ws) -> None:
        self.ws, self.lines = ws, []

    def run(self, *args: str, env: dict | None = None):
        result = self.ws.run(*args, env=env)
        self.lines += [
            f"$ idpctl {' '.join(args)}",
            *result.text.rstrip().splitlines(),
            f"(exit {result.code})",
            "",
        ]
        return result

    def save(self) -> None:
        target = os.environ.get("IDPCTL_TAKEOVER_TRANSCRIPT")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write("\n".join(self.lines) + "\n")


def _writes(ws) -> list[dict]:
    return [
        r
        for r in ws.emulator.admin.requests()
        if r["method"] in ("POST", "PATCH", "DELETE", "PUT")
        and "/token" not in r["path"]
        and "oauth2" not in r["path"]
    ]


@pytest.mark.parametrize("tenant_kind", ["external", "b2c"])
def test_take_over_a_tenant_of_a_dozen_providers_in_one_sitting(
    make_workspace, tenant_kind
) -> None:
    ws = make_workspace(tenant_kind)
    for seed in SEEDS[tenant_kind]:
        ws.emulator.admin.seed(dict(seed))
    ws.config.unlink()
    shutil.rmtree(ws.providers)
    ws.env["AZURE_CLIENT_SECRET"] = ws.emulator.client_secret
    e, t = ws.emulator, _Transcript(ws)
    ws.emulator.admin.clear_requests()

    assert (
        t.run(
            "init",
            "--tenant",
            e.tenant,
            "--tenant-kind",
            tenant_kind,
            "--graph-url",
            e.base_url,
            "--ca-bundle",
            str(e.ca_path),
            "--client-id",
            e.client_id,
        ).code
        == 0
    )
    exported = t.run("export")
    assert exported.code == 0, exported.text
    assert f"Exported {len(SEEDS[tenant_kind])} provider(s)" in exported.out
    assert t.run("import", "--all").code == 0
    first = t.run("plan", "--detailed-exitcode")
    assert first.code == 0, first.text
    assert t.run("drift").code == 0
    assert _writes(ws) == []  # nothing written to the tenant so far

    kind = RENAMED[tenant_kind]
    old = (
        ws.providers / "b2c-oidc-partner-1.yaml"
        if tenant_kind == "b2c"
        else ws.providers / "oidc-partner-1.yaml"
    )
    moved = f'moved: {{from: "{kind}/Partner 1"}}'
    text = old.read_text().replace("displayName: Partner 1", f"displayName: Partner One\n{moved}")
    old.unlink()
    (ws.providers / old.name.replace("partner-1", "partner-one")).write_text(text)
    renamed = t.run("plan")
    assert renamed.code == 0 and f"moved from {kind}/Partner 1" in renamed.out, renamed.text
    assert "0 to delete" in renamed.out and "0 to create" in renamed.out
    assert t.run("apply", "--auto-approve").code == 0
    assert t.run("plan", "--detailed-exitcode").code == 0
    state = json.loads((ws.root / ".idpctl" / "state.json").read_text())["providers"]
    assert f"{kind}/Partner One" in state and f"{kind}/Partner 1" not in state
    assert not any("clientSecret" in json.dumps(r) for r in _writes(ws))

    google = ws.providers / "social-google.yaml"
    google.write_text(
        google.read_text().replace(
            "clientSecret: {keep: live}", "clientSecret: {env: GOOGLE_SECRET}"
        )
    )
    env = {"GOOGLE_SECRET": "CANARY-rotated-google"}
    rotated = t.run("plan", env=env)
    assert rotated.code == 0 and "clientSecret: (sensitive)  # will be set" in rotated.out
    assert t.run("apply", "--auto-approve", env=env).code == 0
    assert t.run("plan", "--detailed-exitcode", env=env).code == 0
    t.save()
