"""`idpctl init [--tenant T] [--tenant-kind K] [--graph-url URL] [--ca-bundle FILE]
[--client-id ID] [--workflows] [--force] [DIR]`: start an idpctl repository.

Writes a commented `idpctl.yaml`, a `.gitignore` for local state and plan files, an empty
`providers/` folder, the JSON Schemas under `schemas/` for editors and, with `--workflows`,
the three example GitHub workflows under `.github/workflows/`. Refuses, writing nothing, when
any of those files exists, unless `--force`. The written `idpctl.yaml` is loaded back before
returning, so what init writes always validates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from idpctl.cli import options
from idpctl.cli.options import option
from idpctl.config import repofiles
from idpctl.errors import IdpctlError
from idpctl.fileio import write_atomic

__all__ = ["EXAMPLES", "GITIGNORE", "HELP", "add_arguments", "run", "settings_text"]

HELP = "start a repository: idpctl.yaml, .gitignore, schemas/, providers/"
EXAMPLES = (
    "idpctl init --tenant-kind external --tenant contoso.onmicrosoft.com",
    "idpctl init --workflows    # also the three example workflows",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="default: here")
    option(
        p,
        "--tenant",
        default="contoso.onmicrosoft.com",
        help="tenant id or domain (default: a placeholder to edit)",
        example="--tenant contoso.onmicrosoft.com",
    )
    option(
        p,
        "--tenant-kind",
        choices=("external", "b2c", "workforce"),
        default="external",
        help="the kind of tenant (default: external)",
        example="--tenant-kind b2c",
    )
    option(
        p,
        "--graph-url",
        metavar="URL",
        help="a custom Graph and sign-in endpoint (the emulator)",
        example="--graph-url https://127.0.0.1:8443",
    )
    option(
        p,
        "--ca-bundle",
        metavar="FILE",
        help="a PEM to trust for --graph-url",
        example="--ca-bundle .idpctl/emulator-ca.pem",
    )
    option(
        p,
        "--client-id",
        metavar="ID",
        help="the app idpctl signs in as (default: {env: AZURE_CLIENT_ID})",
        example="--client-id 00000000-0000-0000-0000-000000000001",
    )
    option(
        p,
        "--workflows",
        action="store_true",
        example="--workflows",
        help="also write the example GitHub workflows to .github/workflows/",
    )
    options.force(p)


GITIGNORE = """\
# idpctl: local state, its lock, and saved plans (they name Graph ids; never commit them)
.idpctl/
*.plan.json
plan.json
"""
WORKFLOWS = ("plan-on-pr.yml", "apply-on-merge.yml", "drift.yml")


def settings_text(
    *,
    tenant: str,
    tenant_kind: str,
    graph_url: str | None = None,
    ca_bundle: str | None = None,
    client_id: str | None = None,
) -> str:
    """The commented idpctl.yaml init writes (values quoted as JSON strings, valid YAML)."""
    q = json.dumps
    if graph_url:
        graph = (
            "# a custom Graph and sign-in endpoint (the emulator); idpctl sends credentials\n"
            "# there only with IDPCTL_ALLOW_ENDPOINTS=HOST:PORT (docs/auth.md)\n"
            f"graph:\n  url: {q(graph_url)}\n  authority: {q(graph_url)}\n"
            + (f"  caBundle: {q(ca_bundle)}\n" if ca_bundle else "")
        )
    else:
        graph = "# graph: {url: ..., authority: ..., caBundle: ...}   # a custom endpoint only\n"
    client = q(client_id) if client_id else "{env: AZURE_CLIENT_ID}"
    return f"""\
# yaml-language-server: $schema=schemas/idpctl.schema.json
# idpctl settings (docs/file-format.md); relative paths are relative to this file.

# the tenant: its id (GUID) or domain name, and its kind (workforce | b2c | external),
# which every plan checks against what the tenant shows
tenant: {q(tenant)}
tenantKind: {tenant_kind}
{graph}
# how idpctl signs in (docs/auth.md): auto takes the first mode configured;
# secrets are references ({{env: NAME}}, {{file: PATH}}, vault, keyVault), never values
auth:
  mode: auto
  clientId: {client}
  clientSecret: {{env: AZURE_CLIENT_SECRET}}

# what idpctl manages, by Graph id; local here (git-ignored), shared: backend: azureblob
state: {{backend: local, path: .idpctl/state.json}}

# provider files: a file or folder, or a list of them
providers: providers/

# secret governance (docs/governance.md)
# secretPolicy: {{maxAge: 90d, warnAt: 75d}}
"""


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    files = {
        root / "idpctl.yaml": settings_text(
            tenant=args.tenant,
            tenant_kind=args.tenant_kind,
            graph_url=args.graph_url,
            ca_bundle=args.ca_bundle,
            client_id=args.client_id,
        ),
        root / ".gitignore": GITIGNORE,
    }
    if args.workflows:
        source = _workflow_dir()
        files.update(
            {
                root / ".github" / "workflows" / name: (source / name).read_text(encoding="utf-8")
                for name in WORKFLOWS
            }
        )
    existing = [path for path in files if path.exists()]
    if existing and not args.force:
        raise IdpctlError(
            f"init: {existing[0]} exists; refusing to overwrite it (use --force); "
            "nothing was written"
        )
    schemas = repofiles.write_schemas(root / repofiles.SCHEMA_DIR, force=args.force)
    for path, text in files.items():
        write_atomic(path, text, mode=0o644)
        print(f"Wrote {path}")
    (root / "providers").mkdir(exist_ok=True)
    print(f"Wrote {len(schemas)} schema file(s) to {root / repofiles.SCHEMA_DIR}")
    print(
        f"\nNext: add provider files under {root / 'providers'} (or `idpctl export` a live "
        "tenant's), then `idpctl validate` and `idpctl plan`."
    )
    return 0


def _workflow_dir() -> Path:
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "workflows", here.parents[1] / "examples" / "workflows"):
        if all((candidate / name).is_file() for name in WORKFLOWS):
            return candidate
    raise IdpctlError("init: the example workflows are not installed with this idpctl")
