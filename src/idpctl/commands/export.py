"""`idpctl export [--out DIR] [--force]`: write the live tenant's providers as idpctl files.

Reads Graph only (no state, no lock). Refuses to overwrite an existing file unless `--force`;
when it refuses, nothing is written. Ends with the secrets to supply: Graph never shows a
secret, so each is written as an `{env: NAME}` placeholder.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from idpctl import output
from idpctl.errors import IdpctlError
from idpctl.fileio import write_atomic

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    from idpctl import export, pipeline
    from idpctl import kinds as kinds_module

    settings = pipeline.load_settings(args)
    kinds = kinds_module.load_kinds()
    with pipeline.graph_session(settings, debug=args.debug) as graph:
        live = pipeline.read_live(graph, kinds)
    out = Path(args.out)
    result = export.build(live, kinds, schema_ref=_schema_ref(settings.path.parent, out))
    existing = [out / f.name for f in result.files if (out / f.name).exists()]
    if existing and not args.force:
        names = ", ".join(str(p) for p in existing)
        raise IdpctlError(f"export: refusing to overwrite {names} (use --force); "
                          "nothing was written")
    out.mkdir(parents=True, exist_ok=True)
    for item in result.files:
        write_atomic(out / item.name, item.text, mode=0o644)
        print(output.inline(f"Wrote {out / item.name} ({item.address})"))
    for skip in result.skipped:
        name = f" {skip.display_name!r}" if skip.display_name else ""
        print(output.inline(f"Skipped {skip.id}{name} ({skip.odata_type}): {skip.reason}"))
    print(f"\nExported {len(result.files)} provider(s), skipped {len(result.skipped)}.")
    if result.secrets:
        print("Secrets to supply (Graph never shows them; each file names its variable):")
        for need in result.secrets:
            print(output.inline(f"  {need.env}  ({need.address} {need.path})"))
    if result.files:
        print("Next: review the files, then `idpctl import --all` to take them under "
              "management without changing the tenant.")
    return 0


def _schema_ref(root: Path, out: Path) -> str:
    from idpctl import export

    schema = root / "schemas" / "providers.schema.json"
    if schema.is_file():
        return os.path.relpath(schema, out.resolve()).replace(os.sep, "/")
    return export.SCHEMA_ID
