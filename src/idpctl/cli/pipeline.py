"""Composition of the pipeline's steps for the verbs: settings -> desired -> live -> plan.

Each function here wires modules together and does no reconciling logic of its own; the
logic lives in the step modules (config, secrets, live, plan, apply).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idpctl.errors import ConfigError, PlanError
from idpctl.model import Flows, Kind, LiveProvider, Plan, Provider, State

if TYPE_CHECKING:  # the sign-in is imported by the run, not by `idpctl --help`
    from idpctl.graph.tokens import TokenProvider

__all__ = [
    "Desired",
    "build_plan",
    "draft_plan",
    "graph_session",
    "load_desired",
    "load_settings",
    "parse_addresses",
    "plan_tenant",
    "read_flows",
    "read_live",
    "state_store",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Desired:
    settings: Any  # config.Settings
    kinds: Mapping[str, Kind]
    providers: tuple[Provider, ...]  # secret leaves resolved to Secret
    warnings: tuple[Any, ...] = ()  # errors.Problem values: str() is "file:line:col: message"


def load_settings(args: argparse.Namespace) -> Any:
    from idpctl.config import settings as config

    path = Path(args.config) if getattr(args, "config", None) else config.find_settings(Path.cwd())
    return config.load_settings(
        path,
        env=getattr(args, "env", None),
        providers_root=providers_root(args),
        allowance=allowance(args),
        variables=variables(args),
    )


def variables(args: argparse.Namespace) -> dict[str, str]:
    """`-var NAME=VALUE` options (over idpctl.yaml's and the overlay's `variables:`)."""
    from idpctl.config.environments import parse_variables

    return parse_variables(getattr(args, "var", None) or ())


def providers_root(args: argparse.Namespace) -> Path | None:
    """`--providers-root DIR`, when given."""
    root = getattr(args, "providers_root", None)
    return Path(root) if root else None


def allowance(args: argparse.Namespace) -> Any:
    """The outside-the-repository allowance: the environment's plus --allow-endpoint and
    --allow-path (endpoints.Allowance)."""
    from idpctl.net.endpoints import Allowance

    return Allowance.from_sources(
        endpoints=getattr(args, "allow_endpoint", None) or (),
        paths=getattr(args, "allow_path", None) or (),
    )


def load_desired(args: argparse.Namespace, *, resolve_secrets: bool = True) -> Desired:
    """Load settings and provider files, validate them, and resolve every secret reference."""
    from idpctl import kinds as kinds_module
    from idpctl.config.providers import load_providers

    settings = load_settings(args)
    kinds = kinds_module.load_kinds()
    warnings: list[Any] = []
    providers = load_providers(settings, kinds, warnings=warnings)
    if resolve_secrets:
        from idpctl.secrets import context as secrets

        providers = secrets.resolve(providers, context=secret_context(settings))
    return Desired(settings, kinds, tuple(providers), tuple(warnings))


def secret_context(settings: Any) -> Any:
    from idpctl.graph import auth

    return auth.secret_context(settings)


def state_store(settings: Any) -> Any:
    """The state backend `settings.state` names."""
    spec = dict(settings.state)
    backend = spec.get("backend", "local")
    if backend == "local":
        from idpctl.state.store import LocalStateStore

        return LocalStateStore(Path(spec["path"]))
    if backend == "azureblob":
        from idpctl.state import blobsettings

        return blobsettings.from_settings(spec, settings=settings)
    raise ConfigError(f"{settings.path}: state.backend: unknown backend {backend!r}")


def token_provider(settings: Any) -> TokenProvider:
    """The sign-in `settings.auth` names, for the tenant and authority they name."""
    from idpctl.graph import auth
    from idpctl.net import tls

    return auth.token_provider(
        settings.auth,
        tenant=settings.tenant,
        authority_root=settings.authority,
        verify=tls.bundle_verify(settings.ca_bundle),
        env=os.environ,
        secret_context=secret_context(settings),
        allowance=settings.allowance,
    )


@contextlib.contextmanager
def graph_session(settings: Any, *, debug: bool = False) -> Iterator[Any]:
    """A signed-in Graph client for the tenant `settings` names."""
    from idpctl.config import apiversions
    from idpctl.graph import client as graph
    from idpctl.graph import recording
    from idpctl.kinds import load_kinds
    from idpctl.net import tls
    from idpctl.net.ratelimit import parse_budget

    versions = apiversions.for_settings(settings, load_kinds())
    recorder = recording.from_environment(
        tenant_kind=settings.tenant_kind,
        source=f"recorded by idpctl from {settings.graph_url} ({settings.tenant_kind} tenant)",
    )
    verify = tls.bundle_verify(settings.ca_bundle)
    tokens = token_provider(settings)
    client = graph.GraphClient(
        settings.graph_url,
        token_provider=tokens,
        verify=verify,
        timeout=settings.timeout,
        # unset: Graph's documented limits less a margin (ratelimit.BudgetSpec)
        budget=parse_budget(settings.budget, rate_limit=settings.rate_limit),
        trace=debug,
        list_version=versions.list_version,
        recorder=recorder,
    )
    try:
        yield client
    finally:
        client.close()
        if recorder is not None:
            recorder.save()


def read_live(client: Any, kinds: Mapping[str, Kind]) -> tuple[LiveProvider, ...]:
    """The live providers: plain data, read before planning (GET only)."""
    from idpctl.graph import live

    return tuple(live.fetch(client, kinds))


def parse_addresses(values: Sequence[str]) -> tuple[str, ...]:
    """`KIND/KEY` addresses, split at the first `/`; refuses a value without one."""
    out: list[str] = []
    for value in values:
        kind, sep, key = value.partition("/")
        if not sep or not kind or not key:
            raise PlanError(
                f"{value!r} is not an address: write KIND/KEY, e.g. socialIdentityProvider/Google"
            )
        out.append(f"{kind}/{key}")
    return tuple(out)


def plan_tenant(
    graph: Any,
    desired: Desired,
    live: Sequence[LiveProvider],
    state: State,
    *,
    targets: Sequence[str] = (),
    rotate: Sequence[str] = (),
) -> Plan:
    """The plan against the tenant `graph` reads. The reads happen here, around the pure
    steps: `draft_plan` on the data already read, then the user flows read only when that
    draft needs them (`read_flows`), then `build_plan` on the flows as data. Planning itself
    is never given `graph`."""
    draft = draft_plan(desired, live, state, targets=targets, rotate=rotate)
    flows = read_flows(graph, desired, draft, state)
    return build_plan(draft, desired, live, state, flows=flows)


def draft_plan(
    desired: Desired,
    live: Sequence[LiveProvider],
    state: State,
    *,
    targets: Sequence[str] = (),
    rotate: Sequence[str] = (),
) -> Plan:
    """The planner's plan, before user-flow links and API versions. Pure: no I/O."""
    from idpctl.plan import build as planner

    _refuse_other_tenant_kind(desired.settings, live)
    known = {p.address for p in desired.providers} | set(state.providers)
    known |= {lp.address for lp in live if lp.address}
    for address in (*targets, *rotate):
        if address not in known:
            raise PlanError(f"{address}: no such provider in the files, the state or the tenant")
    return planner.build(
        desired.providers,
        tuple(live),
        state,
        kinds=desired.kinds,
        targets=tuple(targets),
        rotate=tuple(rotate),
        tenant=desired.settings.tenant,
        now=datetime.now(UTC),
    )


def read_flows(graph: Any, desired: Desired, draft: Plan, state: State) -> Flows | None:
    """The user flows, read only when `draft` needs them (userflows.needed: a provider sets
    `userFlows`, the plan deletes or replaces one, or the state keeps flows to re-attach);
    None when not read."""
    from idpctl.graph.userflows import read
    from idpctl.plan import userflows

    if not userflows.needed(draft, desired.providers, state):
        return None
    return read(graph, desired.settings.tenant_kind)


def build_plan(
    draft: Plan,
    desired: Desired,
    live: Sequence[LiveProvider],
    state: State,
    *,
    flows: Flows | None,
) -> Plan:
    """`draft` with the user-flow links planned from `flows` (the data `read_flows` gave;
    None: not read, no links) and each change's API version. Pure: no I/O."""
    from idpctl.config import apiversions
    from idpctl.plan import userflows

    plan = userflows.plan_links(draft, desired.providers, live, state, flows=flows)
    return apiversions.annotate(plan, apiversions.for_settings(desired.settings, desired.kinds))


def _refuse_other_tenant_kind(settings: Any, live: Sequence[LiveProvider]) -> None:
    """A tenant whose provider list shows another kind than `tenantKind` is refused before
    planning: its creates would fail only at apply (live.tenant_kind; no extra request)."""
    from idpctl.graph import live as live_module

    found = live_module.tenant_kind(live)
    if found is None or found[0] == settings.tenant_kind:
        return
    kind, evidence = found
    raise PlanError(
        f"{settings.path}: tenantKind: {settings.tenant_kind}, but tenant "
        f"{settings.tenant} is {_a(kind)} tenant ({evidence}); set tenantKind: "
        f"{kind} or point tenant at {_a(settings.tenant_kind)} tenant"
    )


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"
