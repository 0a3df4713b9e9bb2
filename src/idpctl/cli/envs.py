"""`idpctl envs`: the environments of idpctl.yaml, one a line, or with `--format json` as a
GitHub Actions matrix (`{"env": [...]}`, for `strategy.matrix: ${{ fromJSON(...) }}`) for a
fleet too large for one job (docs/fleets.md)."""

from __future__ import annotations

import argparse
import json
import sys

from idpctl.cli import options

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = (
    "list the environments (environments/<NAME>.yaml); --format json prints a GitHub Actions matrix"
)
EXAMPLES = (
    "idpctl envs",
    "idpctl envs --format json    # a GitHub Actions matrix",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.output_format(
        p,
        choices=("text", "json"),
        help_text="text: one name a line; json: a GitHub Actions matrix",
    )


def run(args: argparse.Namespace) -> int:
    from idpctl.cli import fleet

    _path, names = fleet.environments(args)
    if args.format == "json":
        sys.stdout.write(json.dumps({"env": names}) + "\n")
    else:
        sys.stdout.write("".join(f"{name}\n" for name in names))
    return 0
