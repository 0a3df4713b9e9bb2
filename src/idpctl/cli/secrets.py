"""`idpctl secrets report`: per provider, its method, secret source, age, version, policy
status and a recommendation (docs/governance.md).

Reads the files and the state, plus each custom OIDC IdP's discovery document unless
`--offline`. Resolves no secret (it needs no value, so the secret environment variables may
be unset) and sends nothing to Graph.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from idpctl.cli import common, options
from idpctl.cli.options import option

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "secret governance: ages, sources and methods of providers' secrets"
EXAMPLES = ("idpctl secrets report --format markdown",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="secrets_verb", metavar="ACTION", required=True)
    sp = options.sub_verb(
        actions,
        "report",
        "per provider: method, secret source, age, version, policy status and a recommendation",
    )
    options.output_format(sp)
    option(
        sp,
        "--offline",
        action="store_true",
        example="--offline",
        help="do not fetch the IdPs' discovery documents",
    )


MAX_WORKERS = 8


def run(args: argparse.Namespace) -> int:
    from idpctl.cli import pipeline
    from idpctl.config import secretpolicy
    from idpctl.reports import governance as governance_report

    desired = pipeline.load_desired(args, resolve_secrets=False)
    common.print_warnings([str(w) for w in desired.warnings])
    state = pipeline.state_store(desired.settings).load()
    policy = secretpolicy.policy_from_settings(desired.settings)
    metadata = _metadata(desired.providers, settings=desired.settings, offline=args.offline)
    report = governance_report.build(
        desired.providers,
        state,
        now=datetime.now(UTC),
        default_policy=policy,
        metadata=metadata,
        tenant=desired.settings.tenant,
    )
    render = {"json": governance_report.json, "markdown": governance_report.markdown}.get(
        args.format, governance_report.text
    )
    sys.stdout.write(render(report))
    return 0


def _metadata(providers: Sequence[Any], *, settings: Any, offline: bool) -> Mapping[str, Any]:
    """Each client-secret OIDC provider's discovery answer, fetched concurrently (each URL
    once) with the preflight's careful fetcher; "not checked" when offline or unconfigured."""
    from idpctl.reports.governance import OIDC_KIND, SECRET_METHODS, Metadata

    wanted = [
        p
        for p in providers
        if p.kind == OIDC_KIND and not p.absent and p.auth_method in SECRET_METHODS
    ]
    if offline:
        return {p.address: Metadata(checked=False, note="--offline") for p in wanted}
    urls = {p.address: p.fields.get("wellKnownEndpoint") for p in wanted}
    out: dict[str, Any] = {
        a: Metadata(checked=False, note="no wellKnownEndpoint")
        for a, url in urls.items()
        if not isinstance(url, str)
    }
    urls = {a: u for a, u in urls.items() if isinstance(u, str)}
    if not urls:
        return out
    from idpctl.preflight.discovery import limits
    from idpctl.preflight.fetch import Fetcher

    with (
        Fetcher(
            ca_bundle=getattr(settings, "preflight_ca_bundle", None), limits=limits(settings)
        ) as fetcher,
        ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(urls))) as pool,
    ):
        fetched = dict(zip(urls, pool.map(fetcher.get, urls.values()), strict=True))
    for address, answer in fetched.items():
        out[address] = _from_fetched(answer)
    return out


def _from_fetched(answer: Any) -> Any:
    from idpctl.reports.governance import Metadata

    if answer.problem is not None:
        return Metadata(checked=True, error=answer.problem, url=answer.url)
    if not isinstance(answer.data, Mapping):
        return Metadata(checked=True, error="not a JSON object", url=answer.url)
    methods = answer.data.get("token_endpoint_auth_methods_supported")
    if not isinstance(methods, list):
        methods = []
    return Metadata(checked=True, methods=tuple(str(m) for m in methods), url=answer.url)
