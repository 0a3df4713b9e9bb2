"""`idpctl envs`: the environments of idpctl.yaml, one a line, or with `--format json` as a
GitHub Actions matrix (`{"env": [...]}`, for `strategy.matrix: ${{ fromJSON(...) }}`) for a
fleet too large for one job (docs/fleets.md)."""

from __future__ import annotations

import argparse
import json
import sys

from idpctl.cli import fleet

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    _path, names = fleet.environments(args)
    if args.format == "json":
        sys.stdout.write(json.dumps({"env": names}) + "\n")
    else:
        sys.stdout.write("".join(f"{name}\n" for name in names))
    return 0
