"""idpctl.state.journal on its own, with the state file's codec handed in as the store does
(the store's use of it, crashes included: tests/test_state_journal.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from idpctl.errors import StateError
from idpctl.model import ManagedRecord
from idpctl.state import codec as st
from idpctl.state import journal

CODEC = {"to_data": st.to_data, "from_data": st.from_data}


def _record(key: str) -> ManagedRecord:
    return ManagedRecord(
        kind="oidcIdentityProvider",
        key=key,
        id=f"id-{key}",
        auth_method="client_secret_post",
        created_at="2026-12-03T12:00:00Z",
    )


def test_journal_path_sits_beside_the_state_file(tmp_path: Path) -> None:
    assert journal.journal_path(tmp_path / "state.json") == tmp_path / "state.json.journal"


def test_appended_batches_replay_onto_the_state_they_extend(tmp_path: Path) -> None:
    path = tmp_path / "state.json.journal"
    base = st.with_record(st.new_state(), _record("a"))
    assert journal.replay(base, path, **CODEC) is base  # no journal yet
    one = st.with_record(base, _record("b"))
    journal.append(
        path, base=base, state=one, addresses=[_record("b").address], record_data=st.record_data
    )
    two = st.without(one, _record("a").address)
    journal.append(
        path, base=base, state=two, addresses=[_record("a").address], record_data=st.record_data
    )
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3  # header and two batches
    replayed = journal.replay(base, path, **CODEC)
    assert replayed is not None
    assert (replayed.serial, list(replayed.providers)) == (two.serial, list(two.providers))
    # a journal of another state file (here: a later full save) is ignored
    assert journal.replay(two, path, **CODEC) is two


def test_a_torn_last_line_is_dropped_and_other_damage_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json.journal"
    base = st.new_state()
    one = st.with_record(base, _record("a"))
    journal.append(
        path, base=base, state=one, addresses=[_record("a").address], record_data=st.record_data
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"serial": 9, "set"')
    replayed = journal.replay(base, path, **CODEC)
    assert replayed is not None and list(replayed.providers) == list(one.providers)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n")
    with pytest.raises(StateError, match="line 3 is not JSON"):
        journal.replay(base, path, **CODEC)
