"""Fleets: environments as tenants. `tenant` left to the overlays, `requireEnv: true`,
`--all-envs` for plan, drift and validate (a section per tenant, a summary table, one exit
code; a failing tenant never stops the others) and `idpctl envs --format json`."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from idpctl.cli import fleet
from idpctl_emulator.harness import EmulatorHandle
from test_hostile_discovery import assert_inert_markdown
from workspace import Workspace

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
PROD_SECRET = "IDPCTL_TEST_PROD_CLIENT_SECRET"


def overlay(ws: Workspace, name: str, text: str) -> None:
    folder = ws.root / "environments"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def fleet_ws(make_workspace, emulator_factory) -> tuple[Workspace, EmulatorHandle]:
    """dev and prod, two emulated tenants; `broken`, whose client secret is never set. The
    base names no tenant and requires an environment."""
    ws = make_workspace("external")
    prod = emulator_factory(
        tenant_kind="external", rate_limit="off", tenant="prod.onmicrosoft.test"
    )
    lines = ws.config.read_text(encoding="utf-8").splitlines(keepends=True)
    dev_tenant = lines[0].split(":", 1)[1].strip()
    ws.config.write_text("requireEnv: true\n" + "".join(lines[1:]), encoding="utf-8")
    overlay(ws, "dev", f"tenant: {dev_tenant}\nstate: {{path: .idpctl/dev.json}}\n")
    overlay(
        ws,
        "prod",
        f"""\
        tenant: {prod.tenant}
        graph: {{url: {prod.base_url}, authority: {prod.base_url}, caBundle: {prod.ca_path}}}
        auth: {{clientId: {prod.client_id}, clientSecret: {{env: {PROD_SECRET}}}}}
        state: {{path: .idpctl/prod.json}}
        """,
    )
    overlay(
        ws,
        "broken",
        f"""\
        tenant: {dev_tenant}
        auth: {{clientSecret: {{env: IDPCTL_TEST_NEVER_SET}}}}
        state: {{path: .idpctl/broken.json}}
        """,
    )
    ws.write("google.yaml", GOOGLE)
    ws.env.update({"GOOGLE_SECRET": "CANARY-fleet-google", PROD_SECRET: prod.client_secret})
    return ws, prod


def test_require_env_refuses_a_run_without_env(fleet_ws) -> None:
    ws, _ = fleet_ws
    result = ws.run("plan")
    assert result.code == 1
    assert "requireEnv: true: choose an environment with --env NAME" in result.err
    assert "(broken, dev, prod)" in result.err
    assert "idpctl.yaml:1:" in result.err or "requireEnv" in result.err
    assert ws.run("plan", "--env", "dev").code == 0


def test_tenant_may_be_left_to_every_overlay(fleet_ws) -> None:
    ws, prod = fleet_ws
    ws.config.write_text(
        ws.config.read_text(encoding="utf-8").replace("requireEnv: true\n", ""), encoding="utf-8"
    )
    plan = ws.plan("--env", "prod")
    assert plan["tenant"] == prod.tenant
    missing = ws.run("plan")
    assert missing.code == 1 and "no tenant: set tenant: here, or in every" in missing.err
    overlay(ws, "qa", "variables: {}\n")
    qa = ws.run("plan", "--env", "qa")
    assert qa.code == 1 and "environment 'qa': no tenant" in qa.err


def test_plan_all_envs_reports_every_tenant_and_one_failure_stops_none(fleet_ws) -> None:
    ws, prod = fleet_ws
    result = ws.run("plan", "--all-envs", "--parallel", "1", "--offline")
    assert result.code == 1, result.text
    out = result.out
    # broken sorts first: dev and prod still ran
    assert out.index("=== broken") < out.index("=== dev") < out.index("=== prod")
    assert f"=== prod ({prod.tenant}) ===" in out
    assert out.count("socialIdentityProvider/Google") >= 2
    table = out[out.index("idpctl plan --all-envs:") :].splitlines()
    assert table[0] == "idpctl plan --all-envs: 3 environments, 1 failed, 2 with changes or drift"
    assert table[1].split() == [
        "env",
        "tenant",
        "create",
        "update",
        "replace",
        "delete",
        "drift",
        "error",
    ]
    rows = {line.split()[0]: line.split() for line in table[2:]}
    assert rows["dev"][2:7] == ["1", "0", "0", "0", "-"]
    assert rows["prod"][1:3] == [prod.tenant, "1"]
    assert "IDPCTL_TEST_NEVER_SET" in " ".join(rows["broken"])
    assert "CANARY-" not in result.text


def test_exit_2_with_changes_and_0_once_every_tenant_is_applied(fleet_ws) -> None:
    ws, _ = fleet_ws
    (ws.root / "environments" / "broken.yaml").unlink()
    assert ws.run("plan", "--all-envs", "--offline").code == 2
    ws.apply("--env", "dev")
    ws.apply("--env", "prod")
    result = ws.run("plan", "--all-envs", "--offline", "--format", "json")
    assert result.code == 0, result.text
    document = json.loads(result.out)
    assert document["exit_code"] == 0 and set(document["environments"]) == {"dev", "prod"}
    assert document["environments"]["dev"]["counts"] == {
        "create": 0,
        "update": 0,
        "replace": 0,
        "delete": 0,
    }
    assert document["environments"]["prod"]["plan"]["summary"]["has_changes"] is False


def test_plan_files_per_environment_and_markdown_report(fleet_ws) -> None:
    ws, prod = fleet_ws
    refused = ws.run("plan", "--all-envs", "--out", "plan.json")
    assert refused.code == 1 and "{env}" in refused.err
    result = ws.run(
        "plan", "--all-envs", "--offline", "--out", "plan-{env}.json", "--format", "markdown"
    )
    assert result.code == 1
    assert (ws.root / "plan-dev.json").is_file() and (ws.root / "plan-prod.json").is_file()
    assert not (ws.root / "plan-broken.json").exists()
    md = result.out
    assert md.startswith("## idpctl plan: 3 environments\n")
    assert "| env | tenant | create | update | replace | delete | drift | error |" in md
    assert "<details><summary><code>prod</code></summary>" in md
    assert "```text\n" in md  # the broken tenant's error, fenced
    sections = {
        name: md[md.index(f"<summary><code>{name}</code>") :].split("</details>", 1)[0]
        for name in ("dev", "prod")
    }
    for name, section in sections.items():  # the plan the child wrote, not an empty section
        assert "socialIdentityProvider/Google" in section, (name, md)
    assert f"| `{prod.tenant}` |" in md and "| 1 | 0 | 0 | 0 |" in md
    assert "CANARY-" not in result.text
    as_json = ws.run(
        "plan", "--all-envs", "--offline", "--out", "plan-{env}.json", "--format", "json"
    )
    envs = json.loads(as_json.out)["environments"]
    assert envs["prod"]["plan"]["summary"]["has_changes"] is True
    assert envs["dev"]["counts"]["create"] == 1 and envs["prod"]["tenant"] == prod.tenant


def test_drift_and_validate_all_envs(fleet_ws) -> None:
    ws, _ = fleet_ws
    (ws.root / "environments" / "broken.yaml").unlink()
    ws.apply("--env", "dev")
    ws.apply("--env", "prod")
    clean = ws.run("drift", "--all-envs")
    assert clean.code == 0, clean.text
    live = next(p for p in ws.live() if p.get("identityProviderType") == "Google")
    ws.emulator.admin.drift(live["id"], {"displayName": "Google (edited)"})
    drifted = ws.run("drift", "--all-envs", "--format", "json")
    assert drifted.code == 2, drifted.text
    rows = {row["env"]: row for row in json.loads(drifted.out)["summary"]}
    assert rows["dev"]["drift"] == "1" and rows["prod"]["drift"] == "0"
    ws.write("bad.yaml", GOOGLE.replace("Google", "Facebook") + "colour: blue\n")
    validated = ws.run("validate", "--all-envs")
    assert validated.code == 1
    assert validated.out.count("providers/bad.yaml:6:1") == 4  # 2 sections, 2 error cells


def test_envs_prints_a_github_actions_matrix(fleet_ws) -> None:
    ws, _ = fleet_ws
    result = ws.run("envs", "--format", "json")
    assert result.code == 0
    assert json.loads(result.out) == {"env": ["broken", "dev", "prod"]}
    assert ws.run("envs").out == "broken\ndev\nprod\n"
    both = ws.run("plan", "--all-envs", "--env", "dev")
    assert both.code == 1 and "--all-envs and --env: choose one" in both.err


def test_child_command_line() -> None:
    argv = [
        "-c",
        "x.yaml",
        "plan",
        "--all-envs",
        "--parallel=3",
        "--format",
        "markdown",
        "--out",
        "p-{env}.json",
        "--offline",
    ]
    assert fleet.child_argv(argv, "plan", "dev", "p-{env}.json") == [
        "-c",
        "x.yaml",
        "plan",
        "--env",
        "dev",
        "--format",
        "json",
        "--out",
        "p-dev.json",
        "--offline",
    ]


def test_run_all_keeps_going_after_an_exception() -> None:
    def one(name: str) -> fleet._Done:
        if name == "a":
            raise RuntimeError("boom")
        return fleet._Done(fleet.TenantResult(env=name, counts={"create": 1}))

    done = fleet.run_all(["a", "b", "c"], one, parallel=2)
    assert [d.result.env for d in done] == ["a", "b", "c"]
    assert done[0].result.error == "RuntimeError: boom"
    assert fleet.exit_code([d.result for d in done]) == 1
    assert fleet.exit_code([d.result for d in done[1:]]) == 2


def test_environments_sharing_a_state_are_refused_and_the_others_run(fleet_ws) -> None:
    """Two tenants in one state would each take the other's providers for its own."""
    ws, _ = fleet_ws
    overlay(ws, "qa", (ws.root / "environments" / "dev.yaml").read_text(encoding="utf-8"))
    result = ws.run("plan", "--all-envs", "--offline", "--format", "json")
    assert result.code == 1
    envs = json.loads(result.out)["environments"]
    assert envs["dev"]["error"].startswith("shares its state with qa")
    assert envs["qa"]["error"].startswith("shares its state with dev")
    assert envs["prod"]["error"] is None and envs["prod"]["counts"]["create"] == 1
    assert not (ws.root / ".idpctl").exists() or not list((ws.root / ".idpctl").glob("*.lock"))


# what a pull request's provider file can make a child's error or validate output say
HOSTILE = (
    "</details><img src=https://x/t.png> ![i](https://x/p.png) @octo-org/admins "
    "[Approved](https://x) ``` `` ` | *bold* _it_"
)


def assert_inert_fleet_markdown(md: str) -> None:
    """Every fenced block closes with the fence that opened it and holds no backtick run as
    long; outside the fences, `assert_inert_markdown`."""
    outside: list[str] = []
    fence = ""
    for line in md.split("\n"):
        if fence:
            if line == fence:
                fence = ""
            else:
                assert fence not in line, f"a line that could close the fence: {line!r}"
            continue
        opening = re.fullmatch(r"(`{3,})text", line)
        if opening:
            fence = opening.group(1)
            continue
        outside.append(line)
    assert not fence, "a fence left open"
    assert_inert_markdown("\n".join(outside))


def test_markdown_report_escapes_what_a_tenant_said() -> None:
    """An error text can hold what a provider file or Graph said: in the table a code span
    on one line (no cell break), in the section a fence it cannot close."""
    said = "bad | <img src=x onerror=alert(1)>\n````\n@everyone `x`"
    md = fleet.markdown("plan", [fleet.TenantResult(env="dev", code=1, error=said)])
    row = next(line for line in md.splitlines() if line.startswith("| `dev` |"))
    assert row.count(" | ") == len(fleet.HEADER) - 1
    assert "\\|" in row and "\\x0a" in row
    assert f"`````text\n{said}\n`````" in md
    assert_inert_fleet_markdown(md)


@pytest.mark.parametrize("verb", ["validate", "plan", "drift"])
def test_fleet_markdown_keeps_a_pull_requests_text_inert(verb: str) -> None:
    """Error cells, environment names, tenants and validate's sections (the child's plain
    text) hold no live link, image, mention or HTML; a backtick run closes nothing."""
    results = [
        fleet.TenantResult(env=f"dev{HOSTILE}", code=1, tenant=HOSTILE, error=HOSTILE),
        fleet.TenantResult(
            env="prod",
            code=1,
            error=HOSTILE,
            section=f"providers/x.yaml:6:1: unknown field {HOSTILE}\n```\n{HOSTILE}\n"
            if verb == "validate"
            else "",
        ),
    ]
    md = fleet.markdown(verb, results)
    assert "Approved" in md and "octo-org" in md  # the text is shown, as text
    assert_inert_fleet_markdown(md)


def test_validate_all_envs_markdown_shows_a_hostile_key_as_text(fleet_ws) -> None:
    """The review's case end to end: a provider file's key reaches validate's sections and
    plan's error cells as text only."""
    ws, _ = fleet_ws
    ws.write("x.yaml", GOOGLE.replace("Google", "Facebook") + f'"{HOSTILE}": 1\n')
    for verb in ("validate", "plan"):
        result = ws.run(verb, "--all-envs", "--format", "markdown")
        assert result.code == 1, result.text
        assert "Approved" in result.out, result.out
        assert_inert_fleet_markdown(result.out)


def test_a_plan_stopped_after_its_plan_file_shows_the_plan_and_the_error(fleet_ws) -> None:
    """prod's availableProviderTypes fails, a preflight warning that --strict-preflight turns
    into exit 1 after prod's plan file was written: each format shows prod's plan summary and
    its error; dev is unaffected."""
    ws, prod = fleet_ws
    (ws.root / "environments" / "broken.yaml").unlink()
    prod.admin.add_fault(path="availableProviderTypes", status=400, count=-1)
    stale = ws.root / "plan-dev.json"
    args = ("plan", "--all-envs", "--offline", "--strict-preflight", "--out", "plan-{env}.json")
    result = ws.run(*args)
    assert result.code == 1, result.text
    assert (ws.root / "plan-prod.json").is_file()
    prod_text = result.out[
        result.out.index("=== prod") : result.out.index("idpctl plan --all-envs")
    ]
    assert "socialIdentityProvider/Google" in prod_text
    assert "Error: preflight: socialIdentityProvider/Google: could not read" in prod_text
    rows = {line.split()[0]: line.split() for line in result.out.splitlines()[-2:]}
    assert rows["prod"][2:7] == ["1", "0", "0", "0", "-"] and "preflight:" in rows["prod"]
    assert rows["dev"][2:7] == ["1", "0", "0", "0", "-"] and len(rows["dev"]) == 7

    md = ws.run(*args, "--format", "markdown").out
    section = md[md.index("<summary><code>prod</code>") :]  # prod is the last section
    assert "socialIdentityProvider/Google" in section
    assert "```text\nError: preflight: socialIdentityProvider/Google" in section
    assert_inert_fleet_markdown(md)

    envs = json.loads(ws.run(*args, "--format", "json").out)["environments"]
    assert envs["prod"]["counts"]["create"] == 1 and envs["prod"]["exit_code"] == 1
    assert envs["prod"]["plan"]["summary"]["has_changes"] is True
    assert envs["prod"]["error"].startswith("preflight: socialIdentityProvider/Google")
    assert envs["dev"]["error"] is None and stale.is_file()


def test_a_plan_file_left_by_an_earlier_run_is_not_taken_for_this_one(tmp_path) -> None:
    """A child that failed before saving: its stdout never says "Saved the plan to", so an old
    plan-ENV.json is not read as this run's plan."""
    import subprocess

    old = tmp_path / "plan-dev.json"
    old.write_text("not a plan file", encoding="utf-8")
    proc = subprocess.CompletedProcess([], 1, stdout="", stderr="Error: no tenant\n")
    result = fleet._result("dev", "plan", "text", proc, str(old))
    assert result.error == "no tenant" and result.document is None and not result.counts


def test_a_stopped_plans_error_after_its_plan_stays_inert() -> None:
    """The error under a plan section is outside text too: fenced so it cannot close the
    section or the block."""
    said = "preflight: x: ```\n</details> @everyone"
    md = fleet.markdown(
        "plan",
        [
            fleet.TenantResult(
                env="dev",
                code=1,
                error=said,
                counts=dict.fromkeys(fleet.COUNTED, 1),
                section="**Plan: 1 to create**\n",
            )
        ],
    )
    assert "**Plan: 1 to create**" in md and "````text\nError: preflight: x: ```" in md
    assert_inert_fleet_markdown(md)
