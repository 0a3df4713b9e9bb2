"""`idpctl show PLANFILE`: render a saved plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idpctl.cli import common, options

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "render a saved plan file"
EXAMPLES = ("idpctl show plan.json --format markdown",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("planfile", metavar="PLANFILE")
    options.output_format(p)


def run(args: argparse.Namespace) -> int:
    saved = common.load_planfile(Path(args.planfile))
    sys.stdout.write(common.render(saved.plan, args.format, color=common.use_color()))
    return 0
