"""The acceptance suite's target, run prefix, scenario rewriting and sweep (README, "Acceptance
tests against your tenant"). Like Terraform's TF_ACC: the scenario folders run against a real
tenant when it is configured in the environment, and against the emulator otherwise.

Environment for a real tenant (all but the last two required):

    IDPCTL_ACCEPTANCE=1
    IDPCTL_ACC_TENANT         tenant id or domain
    IDPCTL_ACC_TENANT_KIND    workforce | b2c | external
    IDPCTL_ACC_CLIENT_ID      the app idpctl signs in as (IdentityProvider.ReadWrite.All)
    IDPCTL_ACC_CLIENT_SECRET  its secret, or
    IDPCTL_ACC_CERTIFICATE    a PEM file holding its certificate and private key
    IDPCTL_ACC_RECORD_DIR     optional: record every exchange there as conformance fixtures
    IDPCTL_ACC_CLOUD          optional: global (default) | usgov | china

Every provider a run creates has a display name starting with the run's prefix
(`idpctl-acc-<UTC time>-<random>-`); the run deletes everything with its prefix when it ends,
when interrupted (SIGINT, SIGTERM: pytest finalizers and atexit) and before it starts.
`scripts/acceptance-sweep [PREFIX]` deletes what a killed run left (default prefix
`idpctl-acc-`: every run's). Nothing without the prefix is ever deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

PREFIX_ROOT = "idpctl-acc-"
ENABLE = "IDPCTL_ACCEPTANCE"
SECRET_ENV = "IDPCTL_ACC_CLIENT_SECRET"
REQUIRED = ("IDPCTL_ACC_TENANT", "IDPCTL_ACC_TENANT_KIND", "IDPCTL_ACC_CLIENT_ID")
# kinds whose natural key is the display name: the prefix changes their address
DISPLAY_KEYED = frozenset({"oidcIdentityProvider", "openIdConnectIdentityProvider"})


@dataclass(frozen=True)
class Target:
    """Where a run goes: the tenant and how to sign in (the secret stays in the environment)."""

    name: str  # "tenant" | "emulator"
    tenant: str
    kind: str
    client_id: str
    graph: str = ""  # idpctl.yaml `graph:` lines beyond the defaults (the emulator's URL, CA)
    auth: str = ""  # idpctl.yaml `auth:` block
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def config(self) -> str:
        """idpctl.yaml for this target (state beside it, providers in providers/)."""
        graph = f"graph:\n{textwrap.indent(self.graph, '  ')}" if self.graph else ""
        return (
            f"tenant: {self.tenant}\ntenantKind: {self.kind}\n{graph}{self.auth}"
            "state: {backend: local, path: state.json}\nproviders: providers/\n"
        )


def tenant_target(environ: Mapping[str, str] = os.environ) -> Target | str:
    """The configured real tenant, or the reason there is none (for the skip message)."""
    if environ.get(ENABLE) != "1":
        return f"{ENABLE}=1 is not set (acceptance tests run against the emulator only)"
    missing = [name for name in REQUIRED if not environ.get(name)]
    if not (environ.get(SECRET_ENV) or environ.get("IDPCTL_ACC_CERTIFICATE")):
        missing.append(f"{SECRET_ENV} or IDPCTL_ACC_CERTIFICATE")
    if missing:
        return f"{ENABLE}=1 but not set: {', '.join(missing)}"
    if environ.get("IDPCTL_ACC_CERTIFICATE"):
        path = environ["IDPCTL_ACC_CERTIFICATE"]
        auth = (
            "auth:\n  mode: certificate\n  clientId: {env: IDPCTL_ACC_CLIENT_ID}\n"
            f"  certificate: {{path: {path}}}\n"
        )
    else:
        auth = (
            "auth:\n  mode: secret\n  clientId: {env: IDPCTL_ACC_CLIENT_ID}\n"
            f"  clientSecret: {{env: {SECRET_ENV}}}\n"
        )
    cloud = environ.get("IDPCTL_ACC_CLOUD")
    return Target(
        "tenant",
        environ["IDPCTL_ACC_TENANT"],
        environ["IDPCTL_ACC_TENANT_KIND"],
        environ["IDPCTL_ACC_CLIENT_ID"],
        auth=auth + (f"cloud: {cloud}\n" if cloud else ""),
    )


def emulator_target(handle: Any, secret_env: str) -> Target:
    return Target(
        "emulator",
        handle.tenant,
        handle.kind,
        handle.client_id,
        graph=(
            f"url: {handle.base_url}\nauthority: {handle.base_url}\ncaBundle: {handle.ca_path}\n"
        ),
        auth=(
            "auth:\n  mode: secret\n"
            f"  clientId: {handle.client_id}\n  clientSecret: {{env: {secret_env}}}\n"
        ),
        env={secret_env: handle.client_secret},
    )


def run_prefix() -> str:
    """`idpctl-acc-<UTC minute>-<6 hex>-`: unique per run, recognisable by the sweep."""
    return f"{PREFIX_ROOT}{datetime.now(UTC):%Y%m%d%H%M}-{secrets.token_hex(3)}-"


def prefixed_folder(source: Path, target: Path, prefix: str) -> None:
    """Copy a scenario step's provider files with every displayName prefixed."""
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    for path in sorted(source.iterdir()):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("displayName"), str):
            data["displayName"] = prefix + data["displayName"]
        if isinstance(data, dict) and isinstance(data.get("name"), str):  # legacy shape
            data["name"] = prefix + data["name"]
        (target / path.name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def prefixed_address(address: str, prefix: str) -> str:
    kind, _, key = address.partition("/")
    return f"{kind}/{prefix}{key}" if kind in DISPLAY_KEYED else address


def owned(item: Mapping[str, Any], prefix: str) -> bool:
    """A provider this run (or, with PREFIX_ROOT, any run) made: never built in, and its
    display name carries the prefix."""
    kind = str(item.get("@odata.type") or "").lower()
    return "builtinidentityprovider" not in kind and str(item.get("displayName") or "").startswith(
        prefix
    )


def sweep(graph: Any, prefix: str) -> list[str]:
    """Delete every provider whose display name starts with `prefix`; their ids. A delete
    that fails (e.g. a provider a user flow still offers) is reported, not fatal."""
    if not prefix.startswith(PREFIX_ROOT):
        raise ValueError(f"refusing to sweep {prefix!r}: not an acceptance prefix")
    deleted: list[str] = []
    for item in graph.list_providers("beta"):
        if owned(item, prefix):
            try:
                graph.delete_provider(item["id"])
                deleted.append(item["id"])
            except Exception as error:  # report and go on: the rest still goes
                print(f"acceptance sweep: could not delete {item['id']}: {error}", file=sys.stderr)
    return deleted


@contextlib.contextmanager
def graph_for(folder: Path, env: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A signed-in GraphClient from the idpctl.yaml in `folder`, with `env` (the target's
    secret variable) set while it is open."""
    from idpctl.cli import pipeline
    from idpctl.config import settings as config

    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        with pipeline.graph_session(config.load_settings(folder / "idpctl.yaml")) as graph:
            yield graph
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: list[str]) -> int:
    """`scripts/acceptance-sweep [PREFIX]`: delete what killed runs left in the tenant."""
    import tempfile

    prefix = argv[0] if argv else PREFIX_ROOT
    target = tenant_target()
    if isinstance(target, str):
        print(f"acceptance sweep: {target}", file=sys.stderr)
        return 1
    if not re.fullmatch(r"idpctl-acc-[A-Za-z0-9-]*", prefix):
        print(f"acceptance sweep: {prefix!r} is not an acceptance prefix", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "idpctl.yaml").write_text(target.config(), encoding="utf-8")
        (Path(folder) / "providers").mkdir()
        with graph_for(Path(folder)) as graph:
            deleted = sweep(graph, prefix)
    print(f"acceptance sweep: deleted {len(deleted)} provider(s) named {prefix}*")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
