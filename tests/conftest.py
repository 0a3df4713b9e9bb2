"""Shared fixtures: Graph emulators over real HTTPS (see docs/emulator.md, "Test harness").

- `emulator_external`, `emulator_b2c`, `emulator_workforce`: one in-process emulator per tenant
  kind for the whole session, throttling off. Tests that use these directly share state.
- `emulator`: the external one, reset before each test (store, faults, log, latency, throttle
  counters) with throttling off. What most tests want.
- `emulator_factory(**options)`: a fresh emulator with custom options (`running_emulator`'s
  keywords), stopped at the end of the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from idpctl import redact
from idpctl_emulator.harness import EmulatorHandle, running_emulator
from workspace import TRANSCRIPTS, Workspace, allow_endpoint, assert_no_canary


@pytest.fixture(autouse=True)
def _secret_registry() -> Iterator[None]:
    """Each test sees the secrets registered at import plus its own: the process-wide scrub
    registry would otherwise grow with every test's secrets (property tests make thousands)."""
    saved = redact._snapshot()
    yield
    redact._restore(saved)


def _session_emulator(kind: str) -> Iterator[EmulatorHandle]:
    with running_emulator(tenant_kind=kind, rate_limit="off") as handle:
        allow_endpoint(handle.base_url)  # the operator's allowance lets idpctl reach it
        yield handle


@pytest.fixture(scope="session")
def emulator_external() -> Iterator[EmulatorHandle]:
    yield from _session_emulator("external")


@pytest.fixture(scope="session")
def emulator_b2c() -> Iterator[EmulatorHandle]:
    yield from _session_emulator("b2c")


@pytest.fixture(scope="session")
def emulator_workforce() -> Iterator[EmulatorHandle]:
    yield from _session_emulator("workforce")


def reset_emulator(handle: EmulatorHandle) -> EmulatorHandle:
    """Back to a fresh tenant: empty store, no faults, no latency, throttling off."""
    handle.admin.reset()
    handle.admin.clear_faults()
    handle.admin.set_latency(0)
    handle.admin.set_rate_limit(None)
    return handle


@pytest.fixture
def emulator(emulator_external: EmulatorHandle) -> EmulatorHandle:
    return reset_emulator(emulator_external)


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorHandle]]:
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> EmulatorHandle:
            handle = stack.enter_context(running_emulator(**options))
            allow_endpoint(handle.base_url)
            return handle

        yield start


# -- end-to-end: a user's repository against a reset emulator, canary-scanned -------------


@pytest.fixture
def make_workspace(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Workspace]]:
    """make_workspace(tenant_kind="external") -> a Workspace on that kind's reset emulator."""
    made: list[Workspace] = []
    start = len(TRANSCRIPTS)

    def make(tenant_kind: str = "external", **options: object) -> Workspace:
        handle = reset_emulator(request.getfixturevalue(f"emulator_{tenant_kind}"))
        ws = Workspace(tmp_path / f"repo{len(made)}", handle, tenant_kind=tenant_kind, **options)  # type: ignore[arg-type]
        made.append(ws)
        return ws

    yield make
    assert_no_canary(TRANSCRIPTS[start:], [ws.root for ws in made])


@pytest.fixture
def workspace(make_workspace: Callable[..., Workspace]) -> Workspace:
    return make_workspace("external")
