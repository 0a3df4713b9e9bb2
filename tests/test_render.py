"""The three renderings, against golden files. Regenerate them with UPDATE_GOLDEN=1."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from idpctl.model import Finding, Flow, Flows, Plan, Provider, State
from idpctl.plan import build as planner
from idpctl.plan.userflows import plan_links
from idpctl.render import markdown as render_markdown
from idpctl.render import plans as render
from test_plan import managed, oidc, plan_of, rich_plan, secret, state_of

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def empty_plan() -> Plan:
    p = oidc("Contoso", secret("CANARY-same"))
    lp, rec = managed(p, "id-1")
    return plan_of([p], [lp], state_of(rec))


FINDINGS = (
    Finding(
        "oidcIdentityProvider/Contoso",
        "error",
        "discovery.issuer",
        "issuer 'https://idp.contoso.test/' does not equal the metadata's issuer "
        "'https://idp.contoso.test' (compared exactly: case and trailing slash)",
    ),
    Finding(
        "oidcIdentityProvider/Contoso",
        "warning",
        "discovery.scopes",
        "scopes_supported does not list offline_access",
    ),
)


FLOWS = Flows(
    "b2c",
    (
        Flow(
            "B2C_1_SignUpSignIn",
            "B2C_1_SignUpSignIn",
            ("id-old", "id-woodgrove"),
            "/identity/b2cUserFlows/B2C_1_SignUpSignIn/userFlowIdentityProviders",
        ),
        Flow(
            "B2C_1_Partners",
            "B2C_1_Partners",
            (),
            "/identity/b2cUserFlows/B2C_1_Partners/userFlowIdentityProviders",
        ),
    ),
)


def with_flows(plan: Plan) -> Plan:
    """User-flow links: Contoso created into two flows, Woodgrove's replace carried over, Old
    deleted out of its flow."""
    contoso = Provider(
        "oidcIdentityProvider", "Contoso", {}, user_flows=("SignUpSignIn", "B2C_1_Partners")
    )
    return plan_links(
        plan, [contoso], (), State(serial=0, lineage="l", fingerprint_key=b"k"), flows=FLOWS
    )


def renderings() -> dict[str, str]:
    rich, empty = replace(with_flows(rich_plan()), findings=FINDINGS), empty_plan()
    return {
        "plan.txt": render.text(rich),
        "plan-color.txt": render.text(rich, color=True),
        "plan.json": render.json(rich),
        "plan.md": render_markdown.markdown(rich),
        "empty.txt": render.text(empty),
        "empty.md": render_markdown.markdown(empty),
    }


@pytest.mark.parametrize("name", sorted(renderings()))
def test_golden(name: str) -> None:
    got = renderings()[name]
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest tests/test_render.py"
    assert got == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("name", sorted(renderings()))
def test_no_secret_value_in_any_rendering(name: str) -> None:
    assert "CANARY" not in renderings()[name]


def test_text_symbols_summary_and_notes() -> None:
    out = render.text(rich_plan())
    for line in (
        "  + oidcIdentityProvider/Contoso",
        "  -/+ oidcIdentityProvider/Woodgrove",
        "    - oidcIdentityProvider/Old",
        "   <= socialIdentityProvider/Facebook",
        '~ displayName: "Google" -> "Sign in with Google"',
        "~ clientSecret: (sensitive)  # rotate",
        "~ certificateData: (sensitive)  # rotate (vault version 7 -> 8)",
        "~ clientSecret: (sensitive)  # will be set",
        "changes in the state only",
        '- name: "name"  # not in the configuration: removed',
        "oidcIdentityProvider/Portal (id id-portal): not in config",
        "builtInIdentityProvider/MicrosoftAccount (id MSASignup-OAUTH): built-in",
        "Plan: 1 to create, 4 to update, 2 to replace, 2 to delete, 1 to adopt",
    ):
        assert line in out, line
    assert "\x1b[" not in out
    assert "\x1b[32m" in render.text(rich_plan(), color=True)


def test_no_changes_text() -> None:
    out = render.text(empty_plan())
    assert out.rstrip().endswith(
        "No changes. The tenant matches the configuration (1 unchanged, 0 unmanaged)."
    )


def test_json_rendering_is_the_plan_file_data() -> None:
    rich = rich_plan()
    data = json.loads(render.json(rich))
    assert data == planner.to_data(rich)
    assert planner.to_data(planner.from_data(data)) == data


def test_markdown_table_flags_and_folding() -> None:
    out = render_markdown.markdown(rich_plan())
    assert out.startswith("## idpctl plan for `contoso.onmicrosoft.com`")
    assert "| `+` Create | 1 |" in out and "| `-/+` Replace | 2 |" in out
    assert "> [!WARNING]" in out and "**Deletes**" in out and "**Replaces**" in out
    assert "**Secret rotations**" in out
    assert out.count("<details>\n<summary><code>") == len(rich_plan().changes)
    assert "<code>&lt;=</code>" in out
    row = "| `certificateData` | `(sensitive)` | `(sensitive)` | `rotate (vault version 7 -> 8)` |"
    assert row in out
    # every table row has the same number of cells as its header
    for row in re.findall(r"^\|.*\|$", out, flags=re.M):
        assert row.replace("\\|", "").count("|") in (3, 4, 5), row


def test_markdown_escapes_hostile_names() -> None:
    p = oidc("a|b</details><script>`x`", secret("CANARY-h"))
    out = render_markdown.markdown(plan_of([p], []))
    outside_code = _outside_code(out)
    assert "<script>" not in outside_code and "</details><" not in outside_code
    assert "/a|b&lt;/details&gt;&lt;script&gt;`x`" in out  # in <summary>: escaped, in <code>
    assert "a\\|b" in out


HOSTILE = (
    "@octocat <img src=x onerror=alert(1)> [click](https://evil.test) "
    "![i](https://evil.test/i.png) ```` </details> <!-- x"
)


def _outside_code(markdown: str) -> str:
    """The Markdown with every code span and every <code> element taken out."""
    without = re.sub(r"<code>[^<]*</code>", "", markdown)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", without)


def test_markdown_keeps_outside_text_inert() -> None:
    """No raw HTML, @mention, link or image from outside text; one line per <summary>."""
    p = oidc(HOSTILE, secret("CANARY-h"))
    plan = replace(plan_of([p], []), warnings=(HOSTILE + "\n## forged heading",), tenant=HOSTILE)
    out = render_markdown.markdown(plan)
    rest = _outside_code(out)
    for bad in ("@octocat", "<img", "](https://evil.test", "<!--", "\n## forged"):
        assert bad not in rest, bad
    assert all(line.count("<summary>") == line.count("</summary>") for line in out.splitlines())
    assert "\\x60\\x60\\x60\\x60" in out  # a run that could close a fence is escaped


def test_markdown_stays_under_the_comment_limit() -> None:
    many = [oidc(f"Provider{i:04d}", secret(f"CANARY-{i}")) for i in range(400)]
    out = render_markdown.markdown(plan_of(many, []))
    assert len(out) < 65_536
    assert "Field tables left out" in out


def test_markdown_of_a_huge_plan_fits_one_comment() -> None:
    many = [oidc(f"P{i:05d}", secret(f"CANARY-{i}")) for i in range(3000)]
    creates = render_markdown.markdown(plan_of(many, []))
    assert len(creates) < 65_536 and "more change(s) not shown" in creates
    live = [managed(p, f"id-{i}")[0] for i, p in enumerate(many)]
    noop = render_markdown.markdown(
        plan_of(many, live, state_of(*(managed(p, f"id-{i}")[1] for i, p in enumerate(many))))
    )
    assert len(noop) < 65_536 and "_... and 2800 more._" in noop
