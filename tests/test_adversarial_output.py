"""Attacker-side tests of what idpctl prints and writes (docs/security.md, controls 2 to 4).

The author of a pull request controls provider files, file names and every server a URL in them
points to. Every line idpctl prints in these scenarios is scanned for GitHub workflow commands,
control characters and forged `Error:` lines; every secret a scenario hands idpctl (lengths 1 to
64, unicode, JSON-special characters, quotes, backslashes, a PEM with newlines) is looked for in
every byte printed and every file written, raw and encoded. Runs are in-process (fast); the
scrubbing gate is the same one a child process goes through (`cli.main`).
"""

from __future__ import annotations

import json

OIDC = """\
kind: oidcIdentityProvider
displayName: {name}
clientId: contoso-client
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: openid profile
clientAuthentication:
  method: client_secret_post
  clientSecret: {{env: CONTOSO_SECRET}}
inboundClaimMapping: {{sub: sub, email: email}}
"""


def test_a_secret_equal_to_a_display_name_still_converges(workspace) -> None:
    """Scrubbing is for output only: data idpctl reasons on is never masked."""
    name = "Contoso Sign-in"
    workspace.write("contoso.yaml", OIDC.format(name=json.dumps(name)))
    env = {"CONTOSO_SECRET": name}
    first = workspace.run("apply", "--auto-approve", env=env)
    assert first.code == 0, first.text
    workspace.assert_converged(env=env)
    assert name in [p["displayName"] for p in workspace.live()]


def test_a_saved_plan_is_stale_when_a_secret_value_changed(workspace) -> None:
    """Control 4 keeps staleness working: the one keyed digest over secrets moves."""
    workspace.write("contoso.yaml", OIDC.format(name="Contoso"))
    env = {"CONTOSO_SECRET": "CANARY-first-value"}
    workspace.apply(env=env)
    saved = workspace.run("plan", "--out", "plan.json", "--rotate",
                          "oidcIdentityProvider/Contoso", env=env)
    assert saved.code == 0, saved.text
    text = (workspace.root / "plan.json").read_text(encoding="utf-8")
    assert '"format_version": 2' in text and "fingerprint" not in text and "salt" not in text
    refused = workspace.run("apply", "plan.json", env={"CONTOSO_SECRET": "CANARY-second-value"})
    assert refused.code == 1 and "a secret's value changed" in refused.err, refused.text
    assert workspace.run("apply", "plan.json", env=env).code == 0
