"""`idpctl schema [NAME]`: list the JSON Schemas idpctl validates against, or print one.

NAME is a kind (`oidcIdentityProvider`), `idpctl`, `providers` or `secretRef`, matched without
regard to case, with or without `.schema.json`. Editors take them through
`# yaml-language-server: $schema=...` at the top of a file; `idpctl schema --write DIR` copies
them into a repository so that comment can name a relative path (`init` and `export` do it too).
"""

from __future__ import annotations

import argparse
import json
import sys

from idpctl.cli import options
from idpctl.cli.options import option
from idpctl.kinds import default_schema_dir, load_kinds

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "print the JSON Schemas idpctl validates against"
EXAMPLES = (
    "idpctl schema oidcIdentityProvider > oidc.schema.json",
    "idpctl schema --write schemas    # for editors",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="one schema (e.g. oidcIdentityProvider)")
    option(
        p,
        "--write",
        metavar="DIR",
        help="copy every schema into DIR for editors",
        example="--write schemas",
    )
    options.force(p, "with --write: overwrite schema files that differ")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "write", None):
        from pathlib import Path

        from idpctl.config.repofiles import write_schemas

        written = write_schemas(Path(args.write), force=args.force)
        print(
            f"Wrote {len(written)} schema file(s) to {args.write}"
            + ("" if written else " (all already up to date)")
        )
        return 0
    kinds = load_kinds()
    name = getattr(args, "name", None)
    if not name:
        width = max(len(n) for n in kinds.schemas)
        for schema_name, schema in sorted(kinds.schemas.items()):
            print(f"{schema_name:<{width}}  {schema.get('title', '')}")
        print(f"\n(files in {default_schema_dir()}; `idpctl schema NAME` prints one)")
        return 0
    wanted = name.removesuffix(".json").removesuffix(".schema").casefold()
    match = next((n for n in kinds.schemas if n.casefold() == wanted), None)
    if match is None:
        print(f"Error: no schema named {name!r}; `idpctl schema` lists them", file=sys.stderr)
        return 1
    print(json.dumps(kinds.schemas[match], indent=2))
    return 0
