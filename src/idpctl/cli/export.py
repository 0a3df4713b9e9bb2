"""`idpctl export [--out DIR] [--force]`: write the live tenant's providers as idpctl files.

Reads Graph only (no state, no lock). Works in a fresh repository: the folder is created (and
removed again, when still empty, if the export fails), and when the repository has no
`schemas/` the JSON Schemas are written there, so each file's `yaml-language-server` comment
names a path that resolves. Refuses to overwrite an existing file unless `--force`; when it
refuses, nothing is written. Graph never shows a secret: each is written `{keep: live}`
(adopt without rotating: the next plan is empty with no secret supplied) with a comment naming
the reference to write when rotating it, or with `--secrets env` as that `{env: NAME}`
reference, to be supplied before the next apply.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from idpctl import output
from idpctl.cli import options
from idpctl.cli.options import option
from idpctl.config import repofiles
from idpctl.errors import IdpctlError
from idpctl.fileio import write_atomic

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "write the tenant's providers as idpctl files"
EXAMPLES = ("idpctl export --out providers",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    option(
        p,
        "--out",
        metavar="DIR",
        default="providers",
        help="folder to write into (default: providers)",
        example="--out providers",
    )
    options.force(p)
    option(
        p,
        "--secrets",
        choices=("keep", "env"),
        default="keep",
        help="keep: write each secret {keep: live}, the value the tenant holds "
        "(default); env: write an {env: NAME} reference to supply",
        example="--secrets env",
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    created = not out.exists()
    # idpctl.yaml's `providers: providers/` must exist for the settings to load
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _export(args, out)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only when still empty
        raise


def _export(args: argparse.Namespace, out: Path) -> int:
    from idpctl import kinds as kinds_module
    from idpctl.cli import pipeline
    from idpctl.reports import export

    settings = pipeline.load_settings(args)
    kinds = kinds_module.load_kinds()
    with pipeline.graph_session(settings, debug=args.debug) as graph:
        live = pipeline.read_live(graph, kinds)
    root = settings.path.parent
    ref = repofiles.schema_ref(root, out)
    keep = args.secrets == "keep"
    result = export.build(live, kinds, schema_ref=ref or export.SCHEMA_ID, keep=keep)
    existing = [out / f.name for f in result.files if (out / f.name).exists()]
    if existing and not args.force:
        names = ", ".join(str(p) for p in existing)
        raise IdpctlError(
            f"export: refusing to overwrite {names} (use --force); nothing was written"
        )
    if ref is None and result.files:
        repofiles.write_schemas(root / repofiles.SCHEMA_DIR)
        ref = repofiles.schema_ref(root, out)
        result = export.build(live, kinds, schema_ref=ref or export.SCHEMA_ID, keep=keep)
        print(
            output.inline(f"Wrote the JSON Schemas to {root / repofiles.SCHEMA_DIR} (for editors)")
        )
    for item in result.files:
        write_atomic(out / item.name, item.text, mode=0o644)
        print(output.inline(f"Wrote {out / item.name} ({item.address})"))
    for skip in result.skipped:
        name = f" {skip.display_name!r}" if skip.display_name else ""
        print(output.inline(f"Skipped {skip.id}{name} ({skip.odata_type}): {skip.reason}"))
    print(f"\nExported {len(result.files)} provider(s), skipped {len(result.skipped)}.")
    if result.secrets and keep:
        print(
            "Secrets kept as the tenant holds them ({keep: live}, set outside idpctl); to "
            "rotate one, write its reference in place of the keep:"
        )
    elif result.secrets:
        print("Secrets to supply (Graph never shows them; each file names its variable):")
    if result.secrets:
        for need in result.secrets:
            print(output.inline(f"  {need.env}  ({need.address} {need.path})"))
    if result.files:
        print(
            "Next: review the files, then `idpctl import --all` to take them under "
            "management without changing the tenant."
        )
    return 0
