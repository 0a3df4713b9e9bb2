"""The safety check before apply: protected providers are never deleted or replaced, and
other destructive changes need `--allow-destroy`."""

from __future__ import annotations

from idpctl.errors import SafetyError
from idpctl.model import Action, Plan

__all__ = ["check_safety"]


def check_safety(plan: Plan, *, allow_destroy: bool) -> None:
    """Refuse a protected provider's delete or replace (always), and any other destructive
    change unless `allow_destroy`. A delete that only forgets a provider already gone from
    Graph (`graph_id` None) destroys nothing and passes."""
    destructive = [
        c
        for c in plan.changes
        if c.action.destructive and (c.action is Action.REPLACE or c.graph_id)
    ]
    protected = [
        c for c in destructive if c.protected or (c.desired is not None and c.desired.protected)
    ]
    if protected:
        names = ", ".join(f"{c.address} ({c.action.name.lower()})" for c in protected)
        raise SafetyError(
            f"refusing to delete or replace protected provider(s): {names}; "
            "remove `protected: true` first if this is intended"
        )
    if destructive and not allow_destroy:
        names = ", ".join(f"{c.address} ({c.action.name.lower()})" for c in destructive)
        raise SafetyError(f"{len(destructive)} destructive change(s) need --allow-destroy: {names}")
