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
