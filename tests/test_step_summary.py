"""The GitHub job summary (`GITHUB_STEP_SUMMARY`) is a file idpctl writes for people, so it
passes the same scrubbing and defusing point as everything printed (docs/security.md,
controls 2 and 3): `output.document`, from both writers (plan's and drift's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idpctl import redact
from idpctl.cli import common
from idpctl.reports import drift_render

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

# a secret that is also a display name: the renderings show it (scrubbing never changes data
# idpctl reasons on), so only the summary writer's scrubbing keeps it out of the file
SECRET = "Contoso Sign-in 7Qz"
FORGED = "x\n::warning file=README.md,line=1::FORGED\n::add-mask::FORGED\r\x1b[2J\u2028##[error]F"


def _summary(workspace) -> tuple[dict[str, str], str]:
    path = workspace.root / "summary.md"
    return {"GITHUB_STEP_SUMMARY": str(path), "CONTOSO_SECRET": SECRET}, str(path)


def _assert_defused(text: str) -> None:
    for line in text.split("\n"):
        assert not line.lstrip(" \t").startswith("::"), line
        assert "##[" not in line and "\r" not in line and "\x1b" not in line, line
        assert "\u2028" not in line, line


@pytest.mark.parametrize("verb", ["plan", "drift"])
def test_a_registered_secret_in_the_summary_text_is_scrubbed(workspace, verb: str) -> None:
    """End to end: a display name equal to a secret never reaches the summary file (the
    Markdown spans scrub too, so the writer's own gate is tried by the next test)."""
    workspace.write("contoso.yaml", OIDC.format(name=json.dumps(SECRET)))
    env, path = _summary(workspace)
    if verb == "drift":
        workspace.apply(env={"CONTOSO_SECRET": SECRET})
    result = workspace.run(verb, env=env)
    assert result.code in (0, 2), result.text
    text = Path(path).read_text(encoding="utf-8")
    assert SECRET not in text and redact.MASK in text, text
    assert SECRET not in result.text


@pytest.mark.parametrize("verb", ["plan", "drift"])
def test_forged_lines_in_the_summary_text_are_defused(workspace, monkeypatch, verb: str) -> None:
    """Whatever a rendering lets through, the summary file cannot hold a workflow command or
    a control character: the writer's own gate, tried with a rendering that lets all through."""
    workspace.write("contoso.yaml", OIDC.format(name="Contoso"))
    env, path = _summary(workspace)
    redact.register(SECRET)
    raw = f"## summary\n{FORGED}\n{SECRET}\n"
    if verb == "plan":
        monkeypatch.setattr(common, "render", lambda plan, fmt, **kw: raw)
    else:
        monkeypatch.setattr(drift_render, "markdown", lambda report: raw)
    result = workspace.run(verb, env=env)
    assert result.code in (0, 2), result.text
    text = Path(path).read_text(encoding="utf-8")
    assert "## summary" in text and "FORGED" in text, text
    assert SECRET not in text, text
    _assert_defused(text)
