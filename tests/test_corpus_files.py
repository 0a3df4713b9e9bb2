"""Hostile plan and state files: truncated at many points and edited in many ways. Each one
is a single `Error:` line naming the file, exit 1, no traceback, no CANARY- value echoed, and
nothing written to Graph or to the state.

The variants are generated from a real saved plan and a real state (deterministically), so
they follow the formats as they change; `test_counts` states how many there are."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from reliability import ENV, GOOGLE, contoso, one_line_error
from workspace import Workspace

Edit = Callable[[Any], Any]
TRUNCATE_AT = (0, 1, 2, 10, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, -3, -2)  # -1: only "\n"


def _set(path: tuple[Any, ...], value: Any) -> Edit:
    def edit(data: Any) -> Any:
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return data

    return edit


def _drop(path: tuple[Any, ...]) -> Edit:
    def edit(data: Any) -> Any:
        target = data
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
        return data

    return edit


GOOGLE_AT = ("providers", "socialIdentityProvider/Google")
STATE_EDITS: dict[str, Edit | bytes] = {
    "empty": b"",
    "null": b"null",
    "list": b"[]",
    "binary": bytes(range(256)),
    "invalid-utf8": b'{"format_version": 1, "serial": "\xff\xfe"}',
    "nul-bytes": b'{"format_version": 1\x00\x00}',
    "deep-nesting": b"[" * 50_000 + b"]" * 50_000,
    "duplicate-key": None,  # made from the real text below
    "format-version-99": _set(("format_version",), 99),
    "format-version-string": _set(("format_version",), "1"),
    "serial-string": _set(("serial",), "7"),
    "serial-negative": _set(("serial",), -1),
    "serial-float": _set(("serial",), 1.5),
    "serial-missing": _drop(("serial",)),
    "lineage-missing": _drop(("lineage",)),
    "lineage-number": _set(("lineage",), 7),
    "fingerprint-key-bad-base64": _set(("fingerprint_key",), "%%%"),
    "fingerprint-key-empty": _set(("fingerprint_key",), ""),
    "providers-list": _set(("providers",), []),
    "providers-missing": _drop(("providers",)),
    "unknown-top-key": _set(("extra",), 1),
    "record-not-object": _set(GOOGLE_AT, "Google-OAUTH"),
    "record-id-empty": _set((*GOOGLE_AT, "id"), ""),
    "record-id-number": _set((*GOOGLE_AT, "id"), 12),
    "record-kind-mismatch": _set((*GOOGLE_AT, "kind"), "oidcIdentityProvider"),
    "record-unknown-key": _set((*GOOGLE_AT, "surprise"), True),
    "record-protected-string": _set((*GOOGLE_AT, "protected"), "yes"),
    "record-secrets-list": _set((*GOOGLE_AT, "secrets"), []),
    "secret-fingerprint-plain": _set(
        (*GOOGLE_AT, "secrets", "clientSecret", "fingerprint"), "CANARY-leaked-secret"
    ),
    "secret-fingerprint-missing": _drop((*GOOGLE_AT, "secrets", "clientSecret", "fingerprint")),
    "secret-record-string": _set((*GOOGLE_AT, "secrets", "clientSecret"), "CANARY-value"),
}
CHANGE = ("changes", 0)
SECRET_LEAF = (*CHANGE, "body", "clientAuthentication", "clientSecret")
PLAN_EDITS: dict[str, Edit | bytes] = {
    "empty": b"",
    "null": b"null",
    "list": b"[]",
    "binary": bytes(range(256)),
    "invalid-utf8": b'{"changes": "\xff"}',
    "deep-nesting": b"[" * 50_000 + b"]" * 50_000,
    "format-version-99": _set(("format_version",), 99),
    "format-version-missing": _drop(("format_version",)),
    "changes-object": _set(("changes",), {}),
    "changes-missing": _drop(("changes",)),
    "change-not-object": _set(CHANGE, "create everything"),
    "action-unknown": _set((*CHANGE, "action"), "explode"),
    "action-number": _set((*CHANGE, "action"), 3),
    "address-missing": _drop((*CHANGE, "address")),
    "address-no-slash": _set((*CHANGE, "address"), "Contoso"),
    "action-flipped-to-delete": _set((*CHANGE, "action"), "delete"),
    "address-renamed": _set((*CHANGE, "address"), "oidcIdentityProvider/Other"),
    "basis-missing": _drop(("basis",)),
    "basis-secrets-number": _set(("basis", "secrets"), 5),
    "basis-serial-string": _set(("basis", "state_serial"), "1"),
    "tenant-other": _set(("tenant",), "00000000-0000-0000-0000-000000000000"),
    "options-list": _set(("options",), []),
    "targets-number": _set(("options",), {"targets": 5}),
    "secret-leaf-plain-value": _set(SECRET_LEAF, "CANARY-plain-in-plan"),
    "secret-leaf-not-sensitive": _set((*SECRET_LEAF, "sensitive"), False),
    "secret-fingerprint-edited": _set((*SECRET_LEAF, "fingerprint"), "hmac-sha256:00"),
    "body-string": _set((*CHANGE, "body"), "CANARY-body"),
    "fields-object": _set((*CHANGE, "fields"), {"a": 1}),
    "unknown-top-key": _set(("surprise",), {"a": [1]}),
}


def _variants(text: str, edits: dict[str, Edit | bytes | None]) -> dict[str, bytes]:
    raw = text.encode("utf-8")
    out: dict[str, bytes] = {}
    for at in TRUNCATE_AT:
        cut = int(len(raw) * at) if isinstance(at, float) else at % len(raw) if at < 0 else at
        out[f"truncated-at-{cut}"] = raw[:cut]
    for name, edit in edits.items():
        if edit is None:  # a JSON object with a duplicate key
            out[name] = raw.replace(b"{", b'{"serial": 0, ', 1)
        elif isinstance(edit, bytes):
            out[name] = edit
        else:
            out[name] = json.dumps(edit(json.loads(text)), indent=2).encode()
    out["base64-of-the-file"] = base64.b64encode(raw)
    return out


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory, emulator_external) -> dict[str, str]:
    from conftest import reset_emulator

    ws = Workspace(tmp_path_factory.mktemp("origin"), reset_emulator(emulator_external))
    ws.write("google.yaml", GOOGLE)
    ws.apply(env=ENV)
    ws.write("contoso.yaml", contoso())
    assert ws.run("plan", "--out", "plan.json", env=ENV).code == 0
    return {"state": ws.state_path.read_text(), "plan": (ws.root / "plan.json").read_text()}


def _ws(make_workspace, originals: dict[str, str]) -> Workspace:
    ws = make_workspace("external")
    ws.write("google.yaml", GOOGLE)
    ws.write("contoso.yaml", contoso())
    ws.emulator.admin.seed(
        {
            "@odata.type": "#microsoft.graph.socialIdentityProvider",
            "id": "Google-OAUTH",
            "displayName": "Google",
            "identityProviderType": "Google",
            "clientId": "google-client",
            "clientSecret": "portal",
        }
    )
    ws.state_path.write_text(originals["state"])
    ws.emulator.admin.clear_requests()
    return ws


def _no_writes(ws: Workspace) -> None:
    writes = [
        r
        for r in ws.emulator.admin.requests()
        if r["method"] in ("POST", "PATCH", "DELETE") and "/identity/" in r["path"]
    ]
    assert writes == []


def _check(result, name: str, file: str) -> None:
    assert one_line_error(result) is None, f"{name}: {result.text[-2000:]}"
    assert file in result.err, f"{name}: the error does not name {file}: {result.err}"
    assert "CANARY-" not in result.text


def test_counts(originals: dict[str, str]) -> None:
    state = _variants(originals["state"], STATE_EDITS)
    plan = _variants(originals["plan"], PLAN_EDITS)
    print(f"\nhostile files: {len(state)} state variants, {len(plan)} plan variants")
    assert len(state) + len(plan) >= 80


@pytest.mark.parametrize("verb", ["plan", "apply"])
def test_hostile_state_file(make_workspace, originals: dict[str, str], verb: str) -> None:
    ws = _ws(make_workspace, originals)
    args = ("plan",) if verb == "plan" else ("apply", "--auto-approve", "--allow-destroy")
    for name, data in _variants(originals["state"], STATE_EDITS).items():
        ws.state_path.write_bytes(data)
        result = ws.run(*args, env=ENV)
        _check(result, f"state {name}", "state.json")
        assert ws.state_path.read_bytes() == data, f"{name}: the state was rewritten"
        assert not ws.state_path.with_name("state.json.lock").exists()
    _no_writes(ws)


@pytest.mark.parametrize("verb", ["show", "apply"])
def test_hostile_plan_file(make_workspace, originals: dict[str, str], verb: str) -> None:
    ws = _ws(make_workspace, originals)
    planfile = ws.root / "plan.json"
    for name, data in _variants(originals["plan"], PLAN_EDITS).items():
        planfile.write_bytes(data)
        result = ws.run(verb, "plan.json", env=ENV)
        if verb == "show" and result.code == 0:  # an edit show can still render
            assert "CANARY-" not in result.text, name
            continue
        _check(result, f"plan {name}", "plan.json")
        assert ws.state_path.read_text() == originals["state"], name
    _no_writes(ws)


def test_original_plan_file_still_applies(make_workspace, originals: dict[str, str]) -> None:
    """The baseline the variants are made from is valid (else every case passes trivially)."""
    ws = _ws(make_workspace, originals)
    (ws.root / "plan.json").write_text(originals["plan"])
    assert ws.run("show", "plan.json").code == 0
