"""`idpctl show PLANFILE`: render a saved plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idpctl.cli import common

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    saved = common.load_planfile(Path(args.planfile))
    sys.stdout.write(common.render(saved.plan, args.format, color=common.use_color()))
    return 0
