"""A hostile discovery document, end to end (docs/security.md, control 2).

The author of a pull request chooses the `wellKnownEndpoint` of a provider, so the server
behind it is theirs: a loopback HTTPS server here, serving a discovery document whose issuer,
jwks_uri, response types and token endpoint auth methods hold forged lines (workflow commands,
CR, ESC sequences, U+2028, a fence breaker, raw HTML, an @mention, a link and an image), a JWKS
answer and a redirect that carry them too. `validate --online`, `plan` (text, JSON, Markdown),
the GitHub annotations and the job summary are run against it; every printed line and every
file written is scanned: no line starts with `::` but idpctl's own annotations, no control
character, and in Markdown no raw HTML, link, image or mention outside a code span, and no
broken fence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from idpservers import LocalIdP, Route, running_local_idp, tls_pair
from test_adversarial_output import assert_safe_lines

# every kind of forged line and markup a discovery value can carry
HOSTILE = (
    "FORGED\n::warning file=README.md,line=1::FORGED\n::add-mask::FORGED\r"
    "Error: FORGED\x1b[2J\x1b]0;FORGED\x07\u2028::error::FORGED\x85##[error]FORGED\n"
    "```\n<img src=x onerror=alert(1)></details><summary>FORGED</summary>"
    "@octocat [link](http://x.example) ![image](http://x.example/i.png) | cell"
)
# what a header value can hold (no CR/LF): the redirects' Location (with ESC, httpx refuses it)
HOSTILE_HEADER = "http://x.example/::add-mask::FORGED```<img src=x>@octocat[link](http://x.example)"

PROVIDER = """\
kind: oidcIdentityProvider
displayName: {name}
clientId: contoso-client
issuer: {base}/{name}/
wellKnownEndpoint: {base}/{name}/.well-known/openid-configuration
responseType: code
scope: openid profile
clientAuthentication:
  method: client_secret_post
  clientSecret: {{env: CONTOSO_SECRET}}
inboundClaimMapping: {{sub: sub, email: email}}
"""
SECRET = "CANARY-discovery-hostile-1"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tls_pair(tmp_path_factory.mktemp("hostile-idp-tls"))


@pytest.fixture
def hostile(tls: tuple[Path, Path]) -> Iterator[LocalIdP]:
    with running_local_idp(tls) as idp:
        yield idp


def _document(base: str, name: str, *, jwks: str) -> bytes:
    return json.dumps(
        {
            "issuer": HOSTILE,
            "authorization_endpoint": f"{base}/{name}/authorize",
            "token_endpoint": f"{base}/{name}/token",
            "jwks_uri": jwks,
            "response_types_supported": [HOSTILE, "id_token"],
            "scopes_supported": [HOSTILE],
            "token_endpoint_auth_methods_supported": [HOSTILE, "private_key_jwt"],
            "response_modes_supported": [HOSTILE],
            "error": HOSTILE,
            "error_description": HOSTILE,
        }
    ).encode()


def _serve(idp: LocalIdP) -> None:
    base = idp.base
    well_known = "/.well-known/openid-configuration"
    # the values are hostile; jwks_uri holds the forged lines too
    idp.routes[f"/Contoso{well_known}"] = Route(
        lambda b: _document(b, "Contoso", jwks=f"{b}/jwks/{HOSTILE}")
    )
    # a JWKS that answers with hostile error text
    idp.routes[f"/Partner{well_known}"] = Route(
        lambda b: _document(b, "Partner", jwks=f"{b}/jwks/partner")
    )
    idp.routes["/jwks/partner"] = Route(
        json.dumps({"error": HOSTILE, "keys": HOSTILE}).encode(), status=400
    )
    # a redirect whose Location carries what a header can
    idp.routes[f"/Fabrikam{well_known}"] = Route(
        b"", status=302, headers={"Location": HOSTILE_HEADER}
    )
    idp.routes[f"/Woodgrove{well_known}"] = Route(
        b"", status=302, headers={"Location": HOSTILE_HEADER + "\x1b[2J\x1b]0;FORGED\x07"}
    )
    assert base.startswith("https://127.0.0.1:")


# -- what the Markdown must not hold outside code -----------------------------------------------

_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_CODE = re.compile(r"<code>[^<]*</code>")
_ALLOWED_TAGS = re.compile(r"</?(details|summary|code|b)>")


def assert_inert_markdown(text: str) -> None:
    """Outside code spans and `<code>` elements: no HTML but idpctl's own tags, no link, image
    or @mention, no fence; one `<summary>` per line."""
    for line in text.split("\n"):
        assert not line.lstrip().startswith("```"), f"a fence line: {line!r}"
        assert line.count("<summary>") <= 1, line
        bare = _ALLOWED_TAGS.sub("", _CODE.sub("", _SPAN.sub("", line)))
        assert "<" not in bare, f"raw HTML outside code: {line!r}"
        assert "](" not in bare and "http://" not in bare, f"a link outside code: {line!r}"
        assert "@" not in bare, f"a mention outside code: {line!r}"
        assert "FORGED" not in bare, f"hostile text outside code: {line!r}"


def _run(workspace, args: tuple[str, ...], env: dict[str, str], texts: list[str]) -> str:
    result = workspace.run(*args, env=env)
    assert result.code in (0, 1, 2), (args, result.text[-3000:])
    texts.append(result.out + result.err)
    assert "Traceback" not in result.text, result.text
    return result.out


def test_a_hostile_discovery_document_is_shown_as_text(make_workspace, hostile, tls) -> None:
    _serve(hostile)
    ws = make_workspace("external", preflight=True)
    ws.extra_config = f"preflight: {{caBundle: {tls[0]}}}\n"
    ws.write_config()
    for name in ("Contoso", "Partner", "Fabrikam", "Woodgrove"):
        ws.write(f"{name.lower()}.yaml", PROVIDER.format(name=name, base=hostile.base))
    summary = ws.root / "summary.md"
    env = {"CONTOSO_SECRET": SECRET}
    actions = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), **env}
    texts: list[str] = []
    _run(ws, ("validate", "--online"), env, texts)
    _run(ws, ("validate", "--online"), actions, texts)
    text = _run(ws, ("plan",), env, texts)
    as_json = _run(ws, ("plan", "--format", "json"), env, texts)
    markdown = _run(ws, ("plan", "--format", "markdown"), env, texts)
    _run(ws, ("plan",), actions, texts)
    _run(ws, ("plan", "--format", "markdown"), actions, texts)
    assert any(p.startswith("/Contoso") for p in hostile.hits), "the server was never asked"
    assert "/jwks/partner" in hostile.hits and any("Fabrikam" in p for p in hostile.hits)

    # the hostile values did reach the reader, as text: the scenario tests something
    assert "FORGED" in text and "discovery.issuer" in text, text
    assert json.loads(as_json)["findings"], as_json
    assert "FORGED" in markdown and "x.example" in text
    assert "is not an https URL" in text and "RemoteProtocolError" in text, text
    assert any(line.startswith("::error ") for t in texts for line in t.split("\n"))

    written = summary.read_text(encoding="utf-8")
    assert "FORGED" in written
    for printed in texts:
        assert_safe_lines(printed)
    assert_safe_lines(written)
    assert_inert_markdown(markdown)
    assert_inert_markdown(written)
    for path in ws.root.rglob("*"):
        if path.is_file():
            data = path.read_text(encoding="utf-8", errors="replace")
            assert_safe_lines(data) if path.suffix != ".json" else json.loads(data)


def test_a_json_document_passes_the_gate_unchanged_and_decodes_to_the_same_data() -> None:
    from idpctl import output

    hostile = HOSTILE + "".join(map(chr, range(0x100))) + "\u2029\u202e\u2066 é ☃ ##[x"
    data = {"message": hostile, hostile: [hostile, 1, None]}
    text = output.json_text(data)
    assert output.clean(text) == text
    assert json.loads(output.clean(text)) == data
