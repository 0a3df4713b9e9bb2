"""idpctl.graph.recording: conformance fixtures written from Graph exchanges."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from idpctl.graph import recording


def _exchange(*names: str) -> dict[str, Any]:
    return {
        "request": {"method": "GET", "path": "/identity/identityProviders"},
        "response": {
            "status": 200,
            "body": {"value": [{"displayName": n, "id": n} for n in names]},
        },
    }


def test_nothing_recorded_writes_nothing(tmp_path: Path) -> None:
    recorder = recording.FixtureRecorder(tmp_path / "rec", tenant_kind="external", source="t")
    assert recorder.save() is None
    assert not (tmp_path / "rec").exists()


def test_save_writes_one_private_fixture_in_the_replay_format(tmp_path: Path) -> None:
    recorder = recording.FixtureRecorder(tmp_path / "rec", tenant_kind="b2c", source="test run")
    recorder(_exchange("a", "b"))
    recorder({"request": {"method": "DELETE", "path": "/x"}, "response": {"status": 204}})
    path = recorder.save()
    assert path is not None and path.parent == tmp_path / "rec"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "source": "test run",
        "tenantKind": "b2c",
        "truncated": False,
        "scope": None,
        "exchanges": [
            _exchange("a", "b"),
            {"request": {"method": "DELETE", "path": "/x"}, "response": {"status": 204}},
        ],
    }


def test_a_scope_keeps_only_the_list_items_it_owns(tmp_path: Path) -> None:
    recorder = recording.FixtureRecorder(
        tmp_path, tenant_kind="external", source="t", scope="idpctl-acc-1-"
    )
    recorder(_exchange("idpctl-acc-1-google", "Someone else's", "idpctl-acc-2-x"))
    recorder({"request": {}, "response": {"status": 200, "body": {"id": "one"}}})
    path = recorder.save()
    assert path is not None
    exchanges = json.loads(path.read_text(encoding="utf-8"))["exchanges"]
    assert [i["displayName"] for i in exchanges[0]["response"]["body"]["value"]] == [
        "idpctl-acc-1-google"
    ]
    assert exchanges[1]["response"]["body"] == {"id": "one"}


def test_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(recording.RECORD_DIR_ENV, raising=False)
    assert recording.from_environment(tenant_kind="external", source="s") is None
    monkeypatch.setenv(recording.RECORD_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(recording.SCOPE_ENV, "prefix-")
    recorder = recording.from_environment(tenant_kind="external", source="s")
    assert recorder is not None
    assert (recorder.folder, recorder.scope, recorder.tenant_kind) == (
        tmp_path,
        "prefix-",
        "external",
    )
