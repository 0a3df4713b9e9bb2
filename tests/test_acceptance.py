"""Acceptance: every scenario folder, with each display name under a run-specific prefix,
against the emulator always and against a real tenant when IDPCTL_ACCEPTANCE=1 and its
credentials are in the environment (tests/acceptance.py; README "Acceptance tests against your
tenant"). Each run records its exchanges as conformance fixtures, removes everything with its
prefix at the end (and on interrupt), and never touches a provider without the prefix."""

from __future__ import annotations

import atexit
import json
import os
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

import acceptance
from test_scenarios import _run_step, _scenarios
from workspace import CANARY, Workspace

TARGETS = ("emulator", "tenant")
# providers made "in the portal" on the emulator, which the run must leave alone
BYSTANDERS: Mapping[str, dict[str, Any]] = {
    "external": {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Bystander",
        "clientId": "b",
        "issuer": "https://b.test/",
        "wellKnownEndpoint": "https://b.test/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": "CANARY-bystander",
        },
        "inboundClaimMapping": {"email": "email"},
    },
    "b2c": {
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": "GitHub",
        "identityProviderType": "GitHub",
        "clientId": "b",
        "clientSecret": "CANARY-b",
    },
}


class TargetWorkspace(Workspace):
    """A Workspace whose idpctl.yaml points at an acceptance target (tenant or emulator)."""

    target: acceptance.Target
    extra_env: dict[str, str]

    def write_config(self) -> None:
        self.config.write_text(self.target.config(), encoding="utf-8")

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.target.env, **self.extra_env, **(env or {})}

    def live(self) -> list[dict[str, Any]]:
        with acceptance.graph_for(self.root, self.target.env) as graph:
            return graph.list_providers("beta")

    def sweep(self, prefix: str) -> list[str]:
        with acceptance.graph_for(self.root, self.target.env) as graph:
            return acceptance.sweep(graph, prefix)


def _workspace(root: Path, target: acceptance.Target, extra_env: dict[str, str]) -> TargetWorkspace:
    TargetWorkspace.target = target  # read by write_config during __post_init__
    ws = TargetWorkspace(root, None, tenant_kind=target.kind)  # type: ignore[arg-type]
    ws.extra_env = extra_env
    return ws


@pytest.fixture(scope="session")
def tenant() -> Iterator[acceptance.Target]:
    """The configured tenant (skipped without one), swept of this session's prefix at exit,
    on SIGTERM and at the end of each test."""
    found = acceptance.tenant_target()
    if isinstance(found, str):
        pytest.skip(found)
    yield found


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _guard(ws: TargetWorkspace, prefix: str) -> None:
    """On a real tenant: sweep the prefix on interpreter exit too, and turn SIGTERM into an
    interrupt, so that a killed run still removes what it made (pytest runs the `finally`
    below and its finalizers on KeyboardInterrupt). The emulator dies with the run."""
    if ws.target.name != "tenant":
        return
    atexit.register(ws.sweep, prefix)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def _skip_reason(
    spec: dict[str, Any], folder: Path, ws: TargetWorkspace, prefix: str
) -> str | None:
    if spec["tenantKind"] != ws.target.kind:
        return f"a {spec['tenantKind']} scenario; the target is a {ws.target.kind} tenant"
    texts = [p.read_text(encoding="utf-8") for p in folder.rglob("*.yaml")]
    if any("userFlows" in t for t in texts):
        return "links user flows, which a shared tenant's flows must not be used for"
    if ws.target.name != "tenant":
        return None
    taken = {
        (str(i.get("@odata.type", "")).lower().lstrip("#"), i.get("identityProviderType"))
        for i in ws.live()
        if not acceptance.owned(i, prefix)
    }
    singletons = {("microsoft.graph.appleManagedIdentityProvider".lower(), None)}
    for step in spec["steps"]:
        for path in (folder / step["dir"]).iterdir():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            key = (
                f"microsoft.graph.{data.get('kind', '')}".lower(),
                data.get("identityProviderType"),
            )
            if key in taken or (key[0], None) in singletons & taken:
                return f"the tenant already has a {data.get('kind')} {key[1] or ''}: untouched"
    return None


def _prefixed_expect(step: dict[str, Any], prefix: str) -> dict[str, Any]:
    def move(value: Any) -> Any:
        if isinstance(value, list):
            return [acceptance.prefixed_address(a, prefix) for a in value]
        if isinstance(value, dict):
            return {acceptance.prefixed_address(a, prefix): v for a, v in value.items()}
        return value

    expect = {k: move(v) for k, v in (step.get("expect") or {}).items()}
    return {**step, "expect": expect}


@pytest.mark.parametrize("folder", _scenarios(), ids=lambda p: p.name)
def test_scenario_on_target(
    folder: Path, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    prefix = acceptance.run_prefix()
    if target == "tenant":
        goal = request.getfixturevalue("tenant")
    else:
        from conftest import reset_emulator

        handle = reset_emulator(request.getfixturevalue(f"emulator_{spec['tenantKind']}"))
        goal = acceptance.emulator_target(handle, "IDPCTL_ACC_TEST_SECRET")
        if spec["tenantKind"] in BYSTANDERS:
            handle.admin.seed(BYSTANDERS[spec["tenantKind"]])
    kept = os.environ.get("IDPCTL_ACC_RECORD_DIR")  # keep the fixtures for make conformance
    record = Path(kept) / prefix.rstrip("-") if kept else tmp_path / "recorded"
    ws = _workspace(
        tmp_path / "repo", goal, {"IDPCTL_RECORD_DIR": str(record), "IDPCTL_RECORD_SCOPE": prefix}
    )
    reason = _skip_reason(spec, folder, ws, prefix)
    if reason:
        pytest.skip(reason)
    _guard(ws, prefix)
    # what the run must leave alone, judged without the code under test
    before = [i for i in ws.live() if not str(i.get("displayName") or "").startswith(prefix)]
    if target == "emulator" and spec["tenantKind"] in BYSTANDERS:
        assert any(
            i.get("displayName") == BYSTANDERS[spec["tenantKind"]]["displayName"] for i in before
        )
    try:
        for step in spec["steps"]:
            env = {**spec.get("env", {}), **step.get("env", {})}
            acceptance.prefixed_folder(folder / step["dir"], ws.providers, prefix)
            _run_step(ws, _prefixed_expect(step, prefix), env)
    finally:
        left = [i["id"] for i in ws.live() if acceptance.owned(i, prefix)]
        assert sorted(ws.sweep(prefix)) == sorted(left)
    after = ws.live()
    assert not [i for i in after if acceptance.owned(i, prefix)], "the sweep left some"
    # nothing without the prefix was touched (ids and display names as before)
    assert sorted((i["id"], i.get("displayName")) for i in after) == sorted(
        (i["id"], i.get("displayName")) for i in before
    )
    for path in record.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert CANARY not in text and "Bearer" not in text, path
        assert json.loads(text)["scope"] == prefix


def test_sweep_refuses_a_prefix_that_is_not_an_acceptance_one() -> None:
    with pytest.raises(ValueError):
        acceptance.sweep(object(), "Contoso")
    assert acceptance.main(["Contoso"]) == 1  # no tenant configured: refused before any I/O


def test_without_configuration_the_tenant_target_says_why() -> None:
    assert "IDPCTL_ACCEPTANCE=1 is not set" in str(acceptance.tenant_target({}))
    reason = acceptance.tenant_target({"IDPCTL_ACCEPTANCE": "1", "IDPCTL_ACC_TENANT": "t"})
    assert isinstance(reason, str) and "IDPCTL_ACC_CLIENT_ID" in reason
    found = acceptance.tenant_target(
        {
            "IDPCTL_ACCEPTANCE": "1",
            "IDPCTL_ACC_TENANT": "t",
            "IDPCTL_ACC_TENANT_KIND": "external",
            "IDPCTL_ACC_CLIENT_ID": "c",
            "IDPCTL_ACC_CLIENT_SECRET": "CANARY-s",
        }
    )
    assert isinstance(found, acceptance.Target) and "CANARY" not in found.config()
