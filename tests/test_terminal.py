"""People at a terminal: `-var NAME=VALUE`, `fmt --check`, `--no-color`, help with examples."""

from __future__ import annotations

import os

import pytest

from idpctl.cli import main as cli

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google (${var.LABEL})
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
ENV = {"GOOGLE_SECRET": "CANARY-terminal-google"}


def test_var_sets_and_overrides_variables(workspace) -> None:
    workspace.config.write_text(
        workspace.config.read_text(encoding="utf-8") + "variables: {LABEL: from-file}\n",
        encoding="utf-8",
    )
    workspace.write("google.yaml", GOOGLE)
    plan = workspace.plan(env=ENV)
    assert "Google (from-file)" in str(plan["changes"])
    plan = workspace.plan("-var", "LABEL=from cli", "-var", "OTHER=x", env=ENV)
    assert "Google (from cli)" in str(plan["changes"])
    assert workspace.run("validate", "--var", "LABEL=ok").code == 0


def test_var_needs_name_equals_value(workspace) -> None:
    workspace.write("google.yaml", GOOGLE)
    for bad in ("LABEL", "1X=y", "=y"):
        result = workspace.run("plan", "-var", bad, env=ENV)
        assert result.code == 1, bad
        assert f"-var {bad!r}: expected NAME=VALUE" in result.err
        assert "Traceback" not in result.err


def test_fmt_check_changes_nothing_and_exits_1_when_a_file_would_change(workspace) -> None:
    path = workspace.write("google.yaml", GOOGLE.replace("Google\n", "Google   \n", 1))
    before = path.read_bytes()
    result = workspace.run("fmt", "--check")
    assert result.code == 1 and "would format providers/google.yaml" in result.out
    assert path.read_bytes() == before
    assert workspace.run("fmt").code == 0
    again = workspace.run("fmt", "--check")
    assert again.code == 0 and again.out == ""


def test_no_color_sets_no_color_for_the_run_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(
        cli, "_handler", lambda verb: lambda args: seen.append(os.environ.get("NO_COLOR")) or 0
    )
    assert cli.main(["--no-color", "whoami"]) == 0
    assert cli.main(["whoami", "--no-color"]) == 0
    assert cli.main(["whoami"]) == 0
    assert seen == ["1", "1", None]
    assert "NO_COLOR" not in os.environ


def test_every_verb_has_an_example_and_the_exit_codes_in_its_help() -> None:
    import argparse

    parser = cli.build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in verbs.choices.items():
        if name == "emulator":  # its own parser (idpctl emulator --help)
            continue
        text = sub.format_help()
        assert f"examples:\n  idpctl {name}" in text, name
        assert "exit codes:" in text and "2    changes present" in text, name
