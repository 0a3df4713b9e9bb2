"""Files idpctl writes into a user's repository besides provider files: the JSON Schemas for
editors (`idpctl schema --write`, `init`, `export`) and where they go.

The schemas are copied byte for byte from the ones idpctl validates against, so an editor and
`idpctl validate` never disagree. A file that already holds the same text is left alone; one
that differs is overwritten only with `force` (a repository may pin an older copy on purpose).
"""

from __future__ import annotations

import os
from pathlib import Path

from idpctl.errors import IdpctlError
from idpctl.fileio import write_atomic
from idpctl.kinds import default_schema_dir

__all__ = ["SCHEMA_DIR", "schema_ref", "write_schemas"]

SCHEMA_DIR = "schemas"  # under the folder of idpctl.yaml
PROVIDERS_SCHEMA = "providers.schema.json"


def _sources() -> list[Path]:
    return sorted(default_schema_dir().glob("*.schema.json"))


def write_schemas(dest: Path, *, force: bool = False) -> list[Path]:
    """Copy every schema into `dest`; returns the files written (unchanged ones are not).
    Refuses, writing nothing, when a file there differs and `force` is not given."""
    sources = _sources()
    differing = [
        dest / s.name
        for s in sources
        if (dest / s.name).exists() and (dest / s.name).read_bytes() != s.read_bytes()
    ]
    if differing and not force:
        raise IdpctlError(
            f"refusing to overwrite {differing[0]} (it differs from idpctl's "
            "schema; use --force); nothing was written"
        )
    written = []
    for source in sources:
        target = dest / source.name
        if target.exists() and target.read_bytes() == source.read_bytes():
            continue
        write_atomic(target, source.read_text(encoding="utf-8"), mode=0o644)
        written.append(target)
    return written


def schema_ref(root: Path, folder: Path) -> str | None:
    """The `$schema` path, relative to `folder`, of the providers schema under `root`, or None
    when the repository has none."""
    schema = root.resolve() / SCHEMA_DIR / PROVIDERS_SCHEMA
    if not schema.is_file():
        return None
    return os.path.relpath(schema, folder.resolve()).replace(os.sep, "/")
