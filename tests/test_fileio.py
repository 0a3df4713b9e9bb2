"""idpctl.fileio: the atomic writer of plan and state files and the lock-wait duration parser."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from idpctl.errors import IdpctlError
from idpctl.fileio import MAX_WAIT_SECONDS, parse_duration, write_atomic


def test_write_atomic_creates_folders_and_sets_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.json"
    write_atomic(path, "one\n")
    assert path.read_text(encoding="utf-8") == "one\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_atomic(path, "two\n", mode=0o644)
    assert path.read_text(encoding="utf-8") == "two\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plan.json"
    write_atomic(path, "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("30s", 30.0),
        (" 2m ", 120.0),
        ("1h", 3600.0),
        ("500ms", 0.5),
        ("1.5m", 90.0),
        ("24h", MAX_WAIT_SECONDS),
    ],
)
def test_parse_duration_reads_the_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1s", "1d", "1e308", "2 hours"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(IdpctlError, match="is not a duration"):
        parse_duration(text)


def test_parse_duration_refuses_more_than_a_day() -> None:
    with pytest.raises(IdpctlError, match="longer than 24h"):
        parse_duration("25h")
