"""From the attacker's side: the drift issue that drift.yml and drift-fleet.yml open.

The drift report shows the tenant's live values (a display name set in the portal: the
"whoever controls values in the live tenant" attacker of docs/security.md's adoption section)
inside code spans. The issue script keeps at most 60,000 characters of it. Rule 8 of the
workflow rules cuts plan-on-pr's comment at a line end for this reason: a cut inside a code
span leaves its opening backtick unmatched, and the rest of that line (an @mention, an image
that loads from the attacker's host, a link) renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nodetools import ROOT, github_script, node_json
from test_apply import ENV, GOOGLE

EXAMPLES = ROOT / "examples" / "workflows"
PAYLOAD = "@octocat ![i](https://attacker.example/p.png) "


def _issue_script(workflow: str) -> tuple[str, str]:
    """The github-script body of the drift job and the report file it reads (for the
    environment `dev`)."""
    document = yaml.safe_load((EXAMPLES / workflow).read_text(encoding="utf-8"))
    steps = [
        s
        for job in document["jobs"].values()
        for s in job.get("steps", ())
        if str(s.get("uses", "")).startswith("actions/github-script@")
        and "issues.create" in s["with"]["script"]
    ]
    (step,) = steps
    report = "drift-dev.md" if "IDPCTL_ENV_NAME" in step["with"]["script"] else "drift.md"
    return step["with"]["script"], report


def _run_issue_script(script: str, cwd: Path) -> list[Any]:
    harness = github_script(
        cwd / "issue.cjs",
        script,
        """
const calls = [];
const record = (name, answer) => async (args) => { calls.push([name, args]); return answer; };
const github = { rest: { issues: {
  listForRepo: record("listForRepo", { data: [] }), getLabel: record("getLabel", {}),
  createLabel: record("createLabel", {}), create: record("create", {}),
  update: record("update", {}), createComment: record("createComment", {}) } } };
const context = { serverUrl: "https://github.com", repo: { owner: "o", repo: "r" }, runId: 7 };
""",
    )
    return list(
        node_json(
            harness,
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin", "DRIFT_EXIT_CODE": "2", "IDPCTL_ENV_NAME": "dev"},
        )
    )


@pytest.mark.parametrize("workflow", ["drift.yml", "drift-fleet.yml"])
def test_a_long_drift_report_is_cut_at_a_line_end(make_workspace, tmp_path, workflow) -> None:
    """A display name edited in the portal, long enough that the 60,000th character of
    idpctl's drift report falls inside its code span: the issue body must keep every code
    span closed, so the mention and the image stay text."""
    ws = make_workspace("external")
    ws.write("google.yaml", GOOGLE)
    ws.apply(env=ENV)
    live = next(p for p in ws.live() if p.get("identityProviderType") == "Google")
    ws.emulator.admin.drift(live["id"], {"displayName": PAYLOAD + "x" * 61_000})
    drifted = ws.run("drift", "--format", "markdown", env=ENV)
    assert drifted.code == 2, drifted.text
    line = next(x for x in drifted.out.splitlines() if PAYLOAD in x)
    start = drifted.out.index(line)
    assert start + line.index(PAYLOAD) < 60_000 < start + len(line)  # the cut is mid-span
    assert all(x.count("`") % 2 == 0 for x in drifted.out.splitlines())  # idpctl's own: closed
    script, report = _issue_script(workflow)
    (tmp_path / report).write_text(drifted.out, encoding="utf-8")
    calls = _run_issue_script(script, tmp_path)
    body = next(args for name, args in calls if name == "create")["body"]
    assert "... cut" in body
    assert all(x.count("`") % 2 == 0 for x in body.splitlines()), "an open code span"
