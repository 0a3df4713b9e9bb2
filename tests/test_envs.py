"""idpctl.cli.envs: the environments of idpctl.yaml, one a line or as a GitHub Actions matrix
(the whole fleet runs in tests/test_fleet.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from idpctl.cli import envs
from idpctl.errors import ConfigError


def _repo(tmp_path: Path, *names: str) -> Path:
    config = tmp_path / "idpctl.yaml"
    config.write_text("tenantKind: external\n", encoding="utf-8")
    (tmp_path / "environments").mkdir()
    for name in names:
        (tmp_path / "environments" / f"{name}.yaml").write_text("tenant: t\n", encoding="utf-8")
    (tmp_path / "environments" / "notes.txt").write_text("not an environment\n", "utf-8")
    return config


def test_lines_and_matrix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _repo(tmp_path, "prod", "dev")
    assert envs.run(argparse.Namespace(config=str(config), format="text")) == 0
    assert capsys.readouterr().out == "dev\nprod\n"
    assert envs.run(argparse.Namespace(config=str(config), format="json")) == 0
    assert json.loads(capsys.readouterr().out) == {"env": ["dev", "prod"]}


def test_no_environments_is_a_config_error(tmp_path: Path) -> None:
    config = _repo(tmp_path)
    with pytest.raises(ConfigError, match=r"no environments/<name>\.yaml"):
        envs.run(argparse.Namespace(config=str(config), format="text"))
