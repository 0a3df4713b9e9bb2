"""idpctl.cli.show: a saved plan renders as the plan that was saved, in every format
(end to end, against the emulator: tests/test_adversarial_output.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from idpctl.cli import common, show
from idpctl.render import plans as render
from test_plan import rich_plan


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_show_renders_the_saved_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    path = tmp_path / "plan.json"
    common.save_planfile(path, rich_plan(), targets=[], rotate=[])
    saved = common.load_planfile(path)
    assert show.run(argparse.Namespace(planfile=str(path), format=fmt)) == 0
    out = capsys.readouterr().out
    assert out == common.render(saved.plan, fmt)
    assert "CANARY-" not in out
    if fmt == "json":
        assert json.loads(out)
    if fmt == "text":
        assert out == render.text(saved.plan)
