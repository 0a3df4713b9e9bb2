"""GitHub annotations from validate and plan: `::error file=...,line=...,col=...::` lines for
located problems, on with --annotations github or GITHUB_ACTIONS=true."""

from __future__ import annotations

import argparse

from idpctl.render.annotations import annotation, enabled

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
BAD = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientSecret: {env: GOOGLE_SECRET}
colour: blue
"""
ENV = {"GOOGLE_SECRET": "CANARY-g1"}


def annotations(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("::")]


def test_validate_annotates_each_located_problem(workspace) -> None:
    workspace.write("google.yaml", BAD)
    result = workspace.run("validate", "--annotations", "github")
    assert result.code == 1
    found = annotations(result.out)
    assert len(found) == 2
    assert all(x.startswith("::error file=providers/google.yaml,line=") for x in found)
    assert any(",line=5,col=1,title=idpctl validate::" in x and "colour" in x for x in found)
    plain = workspace.run("validate")
    assert annotations(plain.out) == []


def test_on_by_default_in_github_actions_and_off_on_request(workspace) -> None:
    workspace.write("google.yaml", BAD)
    on = workspace.run("validate", env={"GITHUB_ACTIONS": "true"})
    assert annotations(on.out)
    off = workspace.run("validate", "--annotations", "none", env={"GITHUB_ACTIONS": "true"})
    assert annotations(off.out) == []


def test_plan_annotates_config_errors_and_changes(workspace) -> None:
    workspace.write("google.yaml", BAD)
    failed = workspace.run("plan", "--annotations", "github", env=ENV)
    assert failed.code == 1 and any(
        x.startswith("::error file=providers/google.yaml,line=") for x in annotations(failed.out)
    )
    workspace.write("google.yaml", GOOGLE)
    planned = workspace.run("plan", "--annotations", "github", env=ENV)
    assert planned.code == 0, planned.text
    assert (
        "::notice file=providers/google.yaml,line=1,col=1,title=idpctl plan%3A create"
        "::socialIdentityProvider/Google will be created"
    ) in annotations(planned.out)
    as_json = workspace.run("plan", "--format", "json", "--annotations", "github", env=ENV)
    assert annotations(as_json.out) == [] and annotations(as_json.err)


def test_enabled_and_format() -> None:
    def ns(value):
        return argparse.Namespace(annotations=value)

    assert enabled(ns(None), {"GITHUB_ACTIONS": "true"})
    assert not enabled(ns(None), {})
    assert not enabled(ns("none"), {"GITHUB_ACTIONS": "true"})
    assert enabled(ns("github"), {})
    assert annotation("notice", "x", file="a.yaml", line=0) == "::notice file=a.yaml::x"


def test_paths_are_relative_to_the_workspace_root_from_a_subfolder(workspace) -> None:
    """The action's working-directory: idpctl runs in `identity/` of the repository, and the
    annotation must name `identity/providers/google.yaml`, the path GitHub knows."""
    workspace.write("google.yaml", BAD)
    repository = workspace.root.parent
    result = workspace.run(
        "validate", "--annotations", "github", env={"GITHUB_WORKSPACE": str(repository)}
    )
    found = annotations(result.out)
    folder = workspace.root.name
    assert found and all(
        x.startswith(f"::error file={folder}/providers/google.yaml,line=") for x in found
    ), found


def test_paths_outside_the_workspace_stay_as_given(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "elsewhere"))
    assert annotation("error", "x", file="p/a.yaml") == "::error file=p/a.yaml::x"
    assert (
        annotation("error", "x", file=str(tmp_path / "elsewhere" / "b.yaml"))
        == "::error file=b.yaml::x"
    )
