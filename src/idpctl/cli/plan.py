"""`idpctl plan`: read the files and the tenant, print what apply would change."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from idpctl.cli import common, options
from idpctl.cli.options import option
from idpctl.render.annotations import Annotator

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "show what apply would change"
EXAMPLES = (
    "idpctl plan --out plan.json --detailed-exitcode",
    "idpctl plan --env prod -var REGION=emea --target oidcIdentityProvider/Contoso",
    "idpctl plan --all-envs --parallel 8 --format markdown",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    option(
        p,
        "--out",
        "-out",
        metavar="FILE",
        help="save the plan for apply",
        example="--out plan.json",
    )
    options.preflight(p)
    options.output_format(p)
    option(
        p,
        "--detailed-exitcode",
        "-detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes",
        example="--detailed-exitcode",
    )
    options.targets(p)
    options.rotate(p)
    options.github_annotations(p)
    options.fleet(p)


def run(args: argparse.Namespace) -> int:
    from idpctl.cli import pipeline
    from idpctl.preflight import checks

    notes = Annotator(args, machine_output=args.format != "text")
    with notes.config_errors("idpctl plan"):
        desired = pipeline.load_desired(args)
    common.print_warnings(desired.warnings)
    notes.problems(desired.warnings, title="idpctl plan")
    targets = pipeline.parse_addresses(args.target)
    rotate = pipeline.parse_addresses(args.rotate)
    store = pipeline.state_store(desired.settings)
    state = store.load()
    with pipeline.graph_session(desired.settings, debug=args.debug) as graph:
        live = pipeline.read_live(graph, desired.kinds)
        plan = pipeline.plan_tenant(graph, desired, live, state, targets=targets, rotate=rotate)
        plan = checks.with_findings(
            plan,
            providers=desired.providers,
            settings=desired.settings,
            graph=graph,
            offline=args.offline,
        )
    plan = _governed(plan, desired, state, targets)
    if args.out:
        common.save_planfile(Path(args.out), plan, targets=targets, rotate=rotate)
    sys.stdout.write(common.render(plan, args.format, color=common.use_color()))
    notes.plan(plan, desired.providers)
    if args.out:
        print(f"\nSaved the plan to {args.out}: apply it with `idpctl apply {args.out}`.")
    common.append_step_summary(plan)
    if common.preflight_stops(plan, args):
        return 1
    return 2 if args.detailed_exitcode and plan.has_changes else 0


def _governed(plan: Any, desired: Any, state: Any, targets: tuple[str, ...]) -> Any:
    """The plan with secret-age warnings (docs/governance.md): past warnAt, not re-sent."""
    from datetime import UTC, datetime

    from idpctl.config import governance, secretpolicy

    policy = secretpolicy.policy_from_settings(desired.settings)
    return governance.annotate_plan(
        plan,
        desired.providers,
        state,
        now=datetime.now(UTC),
        default_policy=policy,
        targets=targets,
    )
