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
from typing import Any

from idpctl.errors import ConfigError, PlanError
from idpctl.model import Kind, LiveProvider, Plan, Provider, State

__all__ = [
    "Desired",
    "build_plan",
    "graph_session",
    "load_desired",
    "load_settings",
    "parse_addresses",
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
    from idpctl import config

    path = Path(args.config) if getattr(args, "config", None) else config.find_settings(Path.cwd())
    return config.load_settings(path, env=getattr(args, "env", None))


def load_desired(args: argparse.Namespace, *, resolve_secrets: bool = True) -> Desired:
    """Load settings and provider files, validate them, and resolve every secret reference."""
    from idpctl import config
    from idpctl import kinds as kinds_module

    settings = load_settings(args)
    kinds = kinds_module.load_kinds()
    warnings: list[Any] = []
    providers = config.load_providers(settings, kinds, warnings=warnings)
    if resolve_secrets:
        from idpctl import secrets

        providers = secrets.resolve(providers, context=secret_context(settings))
    return Desired(settings, kinds, tuple(providers), tuple(warnings))


def secret_context(settings: Any) -> Any:
    from idpctl import secrets

    return secrets.context_for(settings)


def state_store(settings: Any) -> Any:
    """The state backend `settings.state` names."""
    spec = dict(settings.state)
    backend = spec.get("backend", "local")
    if backend == "local":
        from idpctl.state import LocalStateStore

        return LocalStateStore(Path(spec["path"]))
    if backend == "azureblob":
        from idpctl.state_azureblob import AzureBlobStateStore

        return AzureBlobStateStore.from_settings(spec, settings=settings)
    raise ConfigError(f"{settings.path}: state.backend: unknown backend {backend!r}")


@contextlib.contextmanager
def graph_session(settings: Any, *, debug: bool = False) -> Iterator[Any]:
    """A signed-in Graph client for the tenant `settings` names."""
    from idpctl import auth, graph
    from idpctl.ratelimit import parse_budget

    verify: str | bool = str(settings.ca_bundle) if settings.ca_bundle else True
    tokens = auth.token_provider(
        settings.auth,
        tenant=settings.tenant,
        authority_root=settings.authority,
        verify=verify,
        env=os.environ,
        secret_context=secret_context(settings),
    )
    client = graph.GraphClient(
        settings.graph_url,
        token_provider=tokens,
        verify=verify,
        timeout=settings.timeout,
        # unset: Graph's documented limits less a margin (ratelimit.BudgetSpec)
        budget=parse_budget(settings.budget, rate_limit=settings.rate_limit),
        trace=debug,
    )
    try:
        yield client
    finally:
        client.close()


class LiveProviders(tuple):  # type: ignore[type-arg]
    """The live providers, remembering the client they were read with so that planning can
    read the user flows too, only when the plan needs them (userflows.plan_links)."""

    graph: Any = None


def read_live(client: Any, kinds: Mapping[str, Kind]) -> tuple[LiveProvider, ...]:
    from idpctl import live

    providers = LiveProviders(live.fetch(client, kinds))
    providers.graph = client
    return providers


def parse_addresses(values: Sequence[str]) -> tuple[str, ...]:
    """`KIND/KEY` addresses, split at the first `/`; refuses a value without one."""
    out: list[str] = []
    for value in values:
        kind, sep, key = value.partition("/")
        if not sep or not kind or not key:
            raise PlanError(f"{value!r} is not an address: write KIND/KEY, e.g. "
                            "socialIdentityProvider/Google")
        out.append(f"{kind}/{key}")
    return tuple(out)


def build_plan(
    desired: Desired,
    live: Sequence[LiveProvider],
    state: State,
    *,
    targets: Sequence[str] = (),
    rotate: Sequence[str] = (),
    salt: str,
) -> Plan:
    from idpctl import plan as planner

    known = {p.address for p in desired.providers} | set(state.providers)
    known |= {lp.address for lp in live if lp.address}
    for address in (*targets, *rotate):
        if address not in known:
            raise PlanError(f"{address}: no such provider in the files, the state or the tenant")
    plan = planner.build(
        desired.providers, tuple(live), state, kinds=desired.kinds,
        targets=tuple(targets), rotate=tuple(rotate), salt=salt,
        tenant=desired.settings.tenant, now=datetime.now(UTC),
    )
    return _with_flow_links(plan, desired, live, state)


def _with_flow_links(plan: Plan, desired: Desired, live: Sequence[LiveProvider],
                     state: State) -> Plan:
    from idpctl import userflows

    graph = getattr(live, "graph", None)
    kind = desired.settings.tenant_kind
    reader = (lambda: userflows.read(graph, kind)) if graph is not None else None
    return userflows.plan_links(plan, desired.providers, live, state, flows=reader)
