"""From the attacker's side: the plan artifact that apply-on-merge-fleet.yml applies.

A branch author can change the pull request's run of plan-on-pr-fleet.yml and so upload any
`idpctl-plan-NAME` artifact. On merge, each tenant's job runs
`idpctl apply --env NAME PLAN --auto-approve` on it. The file must never widen what is
applied, never reach another tenant, and never write a forged line (an annotation, a second
`Error:`, a mention) into the log, the job summary or the `error` output the Decide step reads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from test_apply import ENV, GOOGLE
from test_fleet import fleet_ws  # noqa: F401  (the fixture: dev and prod, two tenants)
from workspace import Workspace

WRITES = {"POST", "PATCH", "PUT", "DELETE"}


def _checksum(data: dict[str, Any]) -> str:
    """The plan file's checksum, as anyone holding the file can compute it (unkeyed)."""
    body = {k: v for k, v in data.items() if k not in ("checksum", "options")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _graph_writes(ws: Workspace) -> list[str]:
    return [
        f"{r.get('method')} {r.get('path')}"
        for r in ws.emulator.admin.requests()
        if r.get("method") in WRITES and "identityProviders" in str(r.get("path"))
    ]


def _assert_inert(text: str) -> None:
    lines = text.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("::")], text
    assert not [line for line in lines if "##[" in line], text
    assert sum(line.startswith("Error:") for line in lines) <= 1, text


HOSTILE_KEY = (
    "Google\n::error file=README.md,line=1::forged\n"
    "Error: forged ``` @everyone ![x](https://attacker.example/x.png)"
)


def test_a_crafted_artifact_is_refused_inert_and_writes_nothing(make_workspace) -> None:
    """A plan file whose change address forges an annotation and an `Error:` line, with a
    recomputed checksum: apply refuses it as stale, prints one `Error:` line with the forged
    text escaped, and sends no write to Graph. Without its basis it is refused outright (so
    the basis check cannot be skipped by leaving it out)."""
    ws = make_workspace("external")
    ws.write("google.yaml", GOOGLE)
    assert ws.run("plan", "--out", "plan.json", env=ENV).code == 0
    path = ws.root / "plan.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change = data["changes"][0]
    change["key"] = HOSTILE_KEY
    change["address"] = f"{change['kind']}/{HOSTILE_KEY}"
    data["checksum"] = _checksum(data)
    crafted = ws.root / "crafted.json"
    crafted.write_text(json.dumps(data), encoding="utf-8")
    ws.emulator.admin.clear_requests()
    result = ws.run("apply", str(crafted), "--auto-approve", env=ENV)
    assert result.code == 1, result.text
    assert "stale" in result.err and "@everyone" in result.err, result.text
    _assert_inert(result.text)
    del data["basis"]
    data["checksum"] = _checksum(data)
    crafted.write_text(json.dumps(data), encoding="utf-8")
    bare = ws.run("apply", str(crafted), "--auto-approve", env=ENV)
    assert bare.code == 1 and "basis is missing" in bare.err, bare.text
    _assert_inert(bare.text)
    assert _graph_writes(ws) == []
    assert not [p for p in ws.live() if p.get("displayName") == "Google"]


def test_another_tenants_plan_in_this_tenants_artifact_is_refused(fleet_ws) -> None:  # noqa: F811
    """prod's reviewed plan (create Google) moved into dev's artifact: dev already has
    Google, so dev's fresh plan is empty and the file is refused; neither tenant is written."""
    ws, prod = fleet_ws
    (ws.root / "environments" / "broken.yaml").unlink()
    ws.apply("--env", "dev")
    made = ws.run("plan", "--env", "prod", "--out", "prod.json")
    assert made.code == 0, made.text
    assert json.loads(Path(ws.root / "prod.json").read_text(encoding="utf-8"))["changes"]
    ws.emulator.admin.clear_requests()
    prod.admin.clear_requests()
    result = ws.run("apply", "--env", "dev", "prod.json", "--auto-approve")
    assert result.code == 1 and "stale" in result.err, result.text
    _assert_inert(result.text)
    assert _graph_writes(ws) == []
    assert [r for r in prod.admin.requests() if r.get("method") in WRITES] == []
