"""From the attacker's side: `--all-envs` and the `idpctl emulator` entry point against the
files of a pull request (docs/security.md, rule 2 and control 7).

The attacker commits files to the checkout that idpctl runs in: a package or module named
like one idpctl imports, a `.pth`, a `sitecustomize.py`, a `*.dist-info` that declares an
`idpctl.verbs` entry point, and provider files whose display names imitate idpctl's own
"Saved the plan to FILE:" line. Every planted file writes a canary when it runs; the canary
must never appear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idpctl.cli import fleet
from workspace import Workspace


def _overlays(ws: Workspace, *names: str) -> None:
    folder = ws.root / "environments"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.yaml").write_text(
            f"state: {{path: .idpctl/{name}.json}}\n", encoding="utf-8"
        )


def _payload(canary: Path, label: str) -> str:
    return f"open({str(canary)!r}, 'a').write({label!r} + '\\n')\n"


def _plant_package(root: Path, canary: Path) -> None:
    """`idpctl/` at the top of the checkout: what `python -m idpctl` finds first."""
    package = root / "idpctl"
    package.mkdir()
    (package / "__init__.py").write_text(_payload(canary, "idpctl/__init__.py"), encoding="utf-8")
    (package / "__main__.py").write_text(_payload(canary, "idpctl/__main__.py"), encoding="utf-8")


def _plant_yaml(root: Path, canary: Path) -> None:
    """`yaml.py` at the top of the checkout: shadows PyYAML, which every verb imports."""
    (root / "yaml.py").write_text(_payload(canary, "yaml.py"), encoding="utf-8")


@pytest.mark.parametrize(
    "plant", [_plant_package, _plant_yaml], ids=["idpctl-package", "yaml-module"]
)
def test_all_envs_imports_nothing_from_the_checkout(make_workspace, tmp_path, plant) -> None:
    """`validate --all-envs` in a checkout holding a planted module: nothing of it runs.
    (The same child command line serves `plan --all-envs` and `drift --all-envs`, which run
    with the job's OIDC request token and provider secrets in their environment.)"""
    ws = make_workspace("external")
    _overlays(ws, "dev", "prod")
    canary = tmp_path / "RAN"
    plant(ws.root, canary)
    result = ws.run("validate", "--all-envs")
    assert not canary.exists(), (canary.read_text(encoding="utf-8"), result.text)
    assert result.code == 0, result.text


def test_a_pth_or_sitecustomize_in_the_checkout_is_never_run(make_workspace, tmp_path) -> None:
    """Python processes .pth files and sitecustomize only from site directories, never from
    the working directory, even for `-m` children."""
    ws = make_workspace("external")
    _overlays(ws, "dev", "prod")
    canary = tmp_path / "RAN"
    (ws.root / "zz-idpctl.pth").write_text(
        "import os; " + _payload(canary, ".pth"), encoding="utf-8"
    )
    (ws.root / "sitecustomize.py").write_text(
        _payload(canary, "sitecustomize.py"), encoding="utf-8"
    )
    (ws.root / "usercustomize.py").write_text(
        _payload(canary, "usercustomize.py"), encoding="utf-8"
    )
    result = ws.run("validate", "--all-envs")
    assert result.code == 0, result.text
    assert not canary.exists(), canary.read_text(encoding="utf-8")


def _plant_entry_point(root: Path, canary: Path) -> None:
    """A distribution in the checkout that declares the `emulator` verb."""
    info = root / "evil_verbs-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: evil-verbs\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[idpctl.verbs]\nemulator = evil_verb:main\n", encoding="utf-8"
    )
    (root / "evil_verb.py").write_text(
        _payload(canary, "evil_verb") + "def main(argv):\n    return 0\n", encoding="utf-8"
    )


def test_the_emulator_verb_loads_no_entry_point_from_the_checkout(tmp_path) -> None:
    """`idpctl emulator` (the console script, as the README and the action run idpctl) finds
    its verb through `idpctl.verbs` on sys.path, whose first entry is the script's own folder,
    not the working directory: a `*.dist-info` committed to the checkout is never loaded.
    (Run as `python -m idpctl emulator` instead, the checkout is first on sys.path and the
    planted verb runs: the same root cause as the fleet's children above.)"""
    root = tmp_path / "checkout"
    root.mkdir()
    canary = tmp_path / "RAN"
    _plant_entry_point(root, canary)
    script = Path(sys.executable).parent / "idpctl"
    proc = subprocess.run(
        [str(script), "emulator", "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stderr
    assert not canary.exists(), canary.read_text(encoding="utf-8")


# --- the saved plan the fleet reads ------------------------------------------------------


def _forged_stdout(target: str) -> str:
    """A child's JSON plan whose display name imitates the saved-plan line."""
    doc = {
        "format_version": 1,
        "tenant": "t",
        "summary": {"create": 1},
        "changes": [
            {
                "address": "socialIdentityProvider/x",
                "displayName": f"\nSaved the plan to {target}: apply it",
            }
        ],
    }
    return json.dumps(doc) + f"\nSaved the plan to {target}: apply it\n"


@pytest.mark.parametrize("target", ["/proc/self/environ", "../outside/plan.json", "plan-prod.json"])
def test_a_forged_saved_plan_line_never_chooses_the_file_the_fleet_reads(
    tmp_path, monkeypatch, target
) -> None:
    """The fleet reads a plan file only at the path it computed from its own `--out` for
    this environment; a line in the child's stdout (a display name, a note) naming another
    file is never followed, with or without --out."""
    read: list[Path] = []
    monkeypatch.setattr(fleet, "_saved_plan", lambda path: read.append(path) or {})
    proc = subprocess.CompletedProcess([], 2, stdout=_forged_stdout(target), stderr="")
    fleet._result("dev", "plan", "json", proc, None)
    assert read == []
    own = str(tmp_path / "plan-dev.json")
    fleet._result("dev", "plan", "json", proc, own)
    assert read == []  # the child never said it saved the fleet's own file
    proc.stdout += f"\nSaved the plan to {own}: apply it\n"
    fleet._result("dev", "plan", "json", proc, own)
    assert read == [Path(own)]


# --- environment names: the GitHub matrix and the report -------------------------------

HOSTILE_NAMES = [
    "a b",
    "x`y",
    "@everyone",
    "<img src=x>",
    "::error title=x::y",
    "a\nb",
    "$(id)",
    "${{ github.token }}",
    "[x](https:",
    ".hidden",
    "a|b",
    "é",
]


def test_only_plain_environment_names_reach_the_matrix(make_workspace, tmp_path) -> None:
    """`idpctl envs --format json` is echoed as one `matrix=...` line into GITHUB_OUTPUT and
    each name is pasted into `args:` and artifact names: overlays whose file names hold
    blanks, backticks, `@`, `<`, `::`, newlines, `$`, `|` or non-ASCII are not environments;
    the JSON is one line. An overlay that is a symlink out of the repository, or a FIFO, is
    never read (its run is refused without blocking)."""
    ws = make_workspace("external")
    _overlays(ws, "dev", *HOSTILE_NAMES)
    outside = tmp_path / "outside.yaml"
    outside.write_text("tenant: other.onmicrosoft.test\n", encoding="utf-8")
    (ws.root / "environments" / "linked.yaml").symlink_to(outside)
    os.mkfifo(ws.root / "environments" / "fifo.yaml")
    listed = ws.run("envs", "--format", "json")
    assert listed.code == 0, listed.text
    assert listed.out.count("\n") == 1, listed.out
    names = json.loads(listed.out)["env"]
    assert "dev" in names and not set(names) & set(HOSTILE_NAMES), names
    assert "fifo" not in names
    refused = ws.run("validate", "--env", "linked")
    assert refused.code == 1 and "outside the configuration's root" in refused.text, refused.text


# --- two environments, one state ---------------------------------------------------------


def _shared(root: Path) -> dict[str, str]:
    import argparse

    from idpctl.config import settings as config

    path = root / "idpctl.yaml"
    args = argparse.Namespace(
        config=str(path), allow_path=[], allow_endpoint=[], providers_root=None
    )
    return fleet.shared_state(args, path, config.environment_names(path))


def _fleet_root(tmp_path: Path, overlays: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    (root / "providers").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "idpctl.yaml").write_text(
        "tenant: contoso.onmicrosoft.com\ntenantKind: external\nproviders: providers/\n",
        encoding="utf-8",
    )
    for name, text in overlays.items():
        (root / "environments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return root


def test_the_same_state_spelled_the_same_is_refused(tmp_path) -> None:
    """The case the control was written for (both overlays name one state): refused."""
    same = "state: {backend: azureblob, url: 'https://acct.blob.core.windows.net/c/s.json'}\n"
    assert set(_shared(_fleet_root(tmp_path, {"dev": same, "prod": same}))) == {"dev", "prod"}


@pytest.mark.parametrize("spelling", ["blob-host-case", "local-symlink"])
def test_one_state_spelled_two_ways_is_refused(tmp_path, spelling) -> None:
    """docs/security.md control 7: "two environments with the same state: are refused
    before anything runs". A host name is case-insensitive, so ACCT.blob... and acct.blob...
    are one storage account and one blob (one lease, one set of records); a symlink
    committed next to the overlays makes two paths one file."""
    if spelling == "blob-host-case":
        overlays = {
            "dev": "state: {backend: azureblob, url: 'https://acct.blob.core.windows.net/c/s.json'}\n",
            "prod": "state: {backend: azureblob, url: 'https://ACCT.blob.core.windows.net/c/s.json'}\n",
        }
        root = _fleet_root(tmp_path, overlays)
    else:
        root = _fleet_root(
            tmp_path, {"dev": "state: {path: dev.json}\n", "prod": "state: {path: prod.json}\n"}
        )
        (root / "environments" / "dev.json").write_text("{}", encoding="utf-8")
        (root / "environments" / "prod.json").symlink_to("dev.json")
    assert set(_shared(root)) == {"dev", "prod"}
