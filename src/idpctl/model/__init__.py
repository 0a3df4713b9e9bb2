"""The values the pipeline passes between its steps, by concern: providers and their secret
leaves (`providers`), what the state records (`state`), plans and their parts (`plans`), the
user flows read for planning (`flows`). Import them from here: `from idpctl.model import X`.

    config.load -> [Provider, SecretRef leaves] -> secrets.resolve -> [Provider, Secret leaves]
    live.fetch  -> [LiveProvider]
    plan.build(desired, live, state) -> Plan          (pure)
    render.*(Plan) -> str                              (pure)
    apply.run(plan, graph, state)                      (the only writer)
"""

from __future__ import annotations

from idpctl.model.flows import Flow, Flows
from idpctl.model.plans import (
    APPLY_ORDER,
    Action,
    Change,
    FieldChange,
    Finding,
    FlowLink,
    Plan,
    PlanBasis,
    Reason,
    Unmanaged,
    in_apply_order,
)
from idpctl.model.providers import (
    UNKNOWN,
    KeepLive,
    Kind,
    LiveProvider,
    Location,
    Provider,
    Secret,
    SecretRef,
)
from idpctl.model.state import ManagedRecord, SecretRecord, State

__all__ = [
    "APPLY_ORDER",
    "UNKNOWN",
    "Action",
    "Change",
    "FieldChange",
    "Finding",
    "Flow",
    "FlowLink",
    "Flows",
    "KeepLive",
    "Kind",
    "LiveProvider",
    "Location",
    "ManagedRecord",
    "Plan",
    "PlanBasis",
    "Provider",
    "Reason",
    "Secret",
    "SecretRecord",
    "SecretRef",
    "State",
    "Unmanaged",
    "in_apply_order",
]
