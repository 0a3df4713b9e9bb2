"""`idpctl apply [PLANFILE]`: make the tenant match the files, under the state lock."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from idpctl.cli import common, options
from idpctl.cli.options import option
from idpctl.errors import IdpctlError, SafetyError, StalePlanError
from idpctl.fileio import parse_duration
from idpctl.model import LiveProvider, Plan, State

__all__ = ["EXAMPLES", "HELP", "add_arguments", "run"]

HELP = "make the tenant match the files"
EXAMPLES = (
    "idpctl apply plan.json",
    "idpctl apply --auto-approve --lock-timeout 30s",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("planfile", nargs="?", metavar="PLANFILE")
    option(
        p,
        "--auto-approve",
        "-auto-approve",
        action="store_true",
        help="do not ask before applying (a saved plan file is never asked about)",
        example="--auto-approve",
    )
    option(
        p,
        "--allow-destroy",
        action="store_true",
        help="allow deletes and replaces",
        example="--allow-destroy",
    )
    options.preflight(p)
    options.targets(p)
    options.rotate(p)
    options.lock_timeout(p)
    option(
        p,
        "--quiet",
        "-q",
        action="store_true",
        help="no progress lines on stderr while waiting for Graph's budget",
        example="--quiet",
    )


def run(args: argparse.Namespace) -> int:
    from idpctl.cli import pipeline
    from idpctl.preflight import checks

    saved = common.load_planfile(Path(args.planfile)) if args.planfile else None
    if saved is not None and (args.target or args.rotate):
        raise IdpctlError(
            "--target and --rotate cannot be combined with a saved plan: "
            "they were fixed when the plan was made"
        )
    desired = pipeline.load_desired(args)
    common.print_warnings(desired.warnings)
    if args.allow_destroy and desired.settings.raw.get("allowDestroy") is False:
        raise SafetyError("--allow-destroy is refused in this environment (allowDestroy: false)")
    targets = saved.targets if saved else pipeline.parse_addresses(args.target)
    rotate = saved.rotate if saved else pipeline.parse_addresses(args.rotate)
    store = pipeline.state_store(desired.settings)
    timeout = parse_duration(args.lock_timeout)
    with (
        store.lock(operation="apply", timeout=timeout),
        pipeline.graph_session(desired.settings, debug=args.debug) as graph,
    ):
        state = store.load()
        live = pipeline.read_live(graph, desired.kinds)

        def replan(new_state: State, new_live: Sequence[LiveProvider]) -> Plan:
            fresh = pipeline.plan_tenant(
                graph, desired, new_live, new_state, targets=targets, rotate=rotate
            )
            _check_safety(fresh, args)
            return fresh

        plan = replan(state, live)
        if saved is not None:
            _refuse_if_stale(saved.plan, plan)
        plan = checks.with_findings(
            plan,
            providers=desired.providers,
            settings=desired.settings,
            graph=graph,
            offline=args.offline,
        )
        if saved is None:
            sys.stdout.write(common.render(plan, "text", color=common.use_color()))
        if not plan.has_changes:
            print("Apply complete: nothing to do.")
            return 0
        if common.preflight_stops(plan, args):
            return 1
        if not args.skip_preflight:
            checks.require_permissions(plan, graph.token_claims())
        if saved is None and not _approved(args):
            print("Apply cancelled.")
            return 1
        return _carry_out(
            plan,
            graph=graph,
            store=store,
            state=state,
            desired=desired,
            replan=replan,
            quiet=getattr(args, "quiet", False),
        )


def _carry_out(
    plan: Plan,
    *,
    graph: Any,
    store: Any,
    state: State,
    desired: Any,
    replan: Any,
    quiet: bool = False,
) -> int:
    from idpctl.apply import applier as apply
    from idpctl.cli import pipeline

    result = apply.run(
        plan,
        graph=graph,
        store=store,
        state=state,
        kinds=desired.kinds,
        progress=common.progress,
        heartbeat=None if quiet else lambda line: print(line, file=sys.stderr, flush=True),
        reread=lambda: pipeline.read_live(graph, desired.kinds),
        replan=replan,
    )
    counts = plan.counts()
    print(
        f"Apply complete: {len(result.done)} change(s) carried out "
        f"({counts['create']} created, {counts['update'] + counts['adopt']} updated, "
        f"{counts['replace']} replaced, {counts['delete']} deleted)."
    )
    common.append_step_summary(plan)
    return 0


def _check_safety(plan: Plan, args: argparse.Namespace) -> None:
    from idpctl.plan import build as planner

    planner.check_safety(plan, allow_destroy=args.allow_destroy)


def _refuse_if_stale(saved: Plan, current: Plan) -> None:
    from idpctl.plan import build as planner

    moved: list[str] = []
    if saved.basis is not None and current.basis is not None:
        moved = list(planner.basis_differences(saved.basis, current.basis))
    if not moved:
        moved = [
            f"the change to {address} computed now differs from the saved plan"
            for address in _differing_changes(saved, current)
        ]
    if moved:
        raise StalePlanError(
            "the saved plan is stale: " + "; ".join(moved) + "; run idpctl plan again"
        )


def _differing_changes(saved: Plan, current: Plan) -> list[str]:
    """Addresses whose change (action, fields, body, user-flow links) is not what was saved,
    compared as the plan file writes them: what apply does must be what the plan showed."""
    from idpctl.plan import planfile

    def by_address(plan: Plan) -> dict[str, object]:
        return {c["address"]: c for c in planfile.to_data(plan)["changes"]}

    old, new = by_address(saved), by_address(current)
    return sorted(a for a in set(old) | set(new) if old.get(a) != new.get(a))


def _approved(args: argparse.Namespace) -> bool:
    if args.auto_approve:
        return True
    if not sys.stdin.isatty():
        raise IdpctlError(
            "apply needs --auto-approve when it is not run on a terminal "
            "(or apply a saved plan: idpctl apply PLANFILE)"
        )
    answer = input("\nDo you want to perform these actions? Only 'yes' will be accepted: ")
    return answer.strip() == "yes"
