"""The docs-example replay (tests/conformance/docs, `make conformance`) in the default suite,
and the recording -> replay round trip: what idpctl records against the emulator replays
without a difference, and holds no secret (docs/conformance.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import conformance_replay as conformance
from reliability import ENV, GOOGLE, contoso
from workspace import CANARY

# the shared Contoso file, with one more claim to drop in the second apply
CONTOSO = contoso().replace("email: email}", "email: email, name: name}")


def test_docs_examples_replay_without_unexpected_differences() -> None:
    report = conformance.replay_all([conformance.DOCS])
    assert report.fixtures >= 18 and report.exchanges >= 19
    assert not report.unexpected, report.text()
    # each fixture names the docs page (and example) it was built from
    for path in conformance.fixtures([conformance.DOCS]):
        source = json.loads(path.read_text(encoding="utf-8"))["source"]
        assert source.startswith("microsoft-graph-docs-contrib api-reference/"), path


def test_a_difference_is_reported_with_what_differs() -> None:
    want = {
        "status": 201,
        "body": {
            "@odata.type": "microsoft.graph.socialIdentityProvider",
            "id": "Amazon-OAUTH",
            "clientId": "a",
        },
    }
    got = {
        "status": 201,
        "body": {
            "@odata.type": "#microsoft.graph.socialIdentityProvider",
            "id": "Amazon-OAUTH",
            "clientId": "b",
            "extra": None,
        },
    }
    detail = conformance.compare(want, got, truncated=True)
    assert "clientId" in detail and "extra" not in detail
    assert "extra" in conformance.compare(
        want, {**got, "body": {**got["body"], "clientId": "a"}}, truncated=False
    )


def test_normal_differences_are_normalised() -> None:
    want = {
        "status": 201,
        "body": {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#x",
            "id": "12345678-abcd-1234-cdef-aaaaaaaaaaaa",
            "createdDateTime": "2020-01-01T00:00:00Z",
            "clientAuthentication": {"clientSecret": "4294967296"},
        },
    }
    got = {
        "status": 201,
        "body": {
            "@odata.context": "https://127.0.0.1:1/v1.0/$metadata#x",
            "id": "0b7a1c7e-3f5d-4a8e-9c2b-1d2e3f4a5b6c",
            "createdDateTime": "2026-12-03T00:00:00Z",
            "clientAuthentication": {"clientSecret": "*****"},
        },
    }
    assert conformance.compare(want, got, truncated=False) == ""
    error = {"status": 400, "body": {"error": {"code": "invalidRequest", "message": "a"}}}
    other = {
        "status": 400,
        "body": {"error": {"code": "invalidRequest", "message": "b", "innerError": {"date": "x"}}},
    }
    assert conformance.compare(error, other, truncated=False) == ""


def test_a_recording_replays_cleanly_and_holds_no_secret(workspace: Any, tmp_path: Path) -> None:
    folder = tmp_path / "recorded"
    workspace.write("google.yaml", GOOGLE)
    workspace.write("contoso.yaml", CONTOSO)
    workspace.apply(env={**ENV, "IDPCTL_RECORD_DIR": str(folder)})
    workspace.write("contoso.yaml", CONTOSO.replace("name: name}", "given_name: gn}"))
    workspace.apply(env={**ENV, "IDPCTL_RECORD_DIR": str(folder)})
    recorded = sorted(folder.glob("*.json"))
    assert len(recorded) == 2  # one file per idpctl run
    for path in recorded:
        text = path.read_text(encoding="utf-8")
        assert CANARY not in text and "Bearer" not in text, path
        assert path.stat().st_mode & 0o077 == 0
    # replayed in order on one emulator, as they were made
    report = conformance.Report()
    ids: dict[str, str] = {}
    with conformance.running_emulator(tenant_kind="external", rate_limit="off") as emu:
        for path in recorded:
            data = json.loads(path.read_text(encoding="utf-8"))
            report.exchanges += len(data["exchanges"])
            report.differences += conformance.replay(
                emu, path.name, data, reset=path == recorded[0], ids=ids
            )
    assert report.exchanges > 4
    assert not report.unexpected, report.text()
