"""The typed seams between apply and the state: both stores meet `StateStore`; only the local
store keeps a batch journal (`JournalledStore`), so apply appends there and saves in full
elsewhere. (The type checker proves the same statically: `_is_a_state_store` in each store
module, `_client_is_a_writer` in `apply.seams`.)"""

from __future__ import annotations

from pathlib import Path

import httpx

from idpctl.apply import applier
from idpctl.model import State
from idpctl.state import codec
from idpctl.state.azureblob import AzureBlobStateStore
from idpctl.state.store import JournalledStore, LocalStateStore, StateStore


def _blob() -> AzureBlobStateStore:
    refuse = httpx.MockTransport(lambda request: httpx.Response(500))
    return AzureBlobStateStore(
        account_url="https://acct.blob.core.windows.net",
        container="idpctl",
        blob="prod.json",
        auth=httpx.BasicAuth("u", "p"),
        transport=refuse,
    )


def test_both_stores_meet_the_protocol_and_only_the_local_one_journals(tmp_path: Path) -> None:
    local, blob = LocalStateStore(tmp_path / "state.json"), _blob()
    try:
        assert isinstance(local, StateStore) and isinstance(blob, StateStore)
        assert isinstance(local, JournalledStore)
        assert not isinstance(blob, JournalledStore)
    finally:
        blob.close()


class _Saves:
    def __init__(self) -> None:
        self.saved: list[State] = []

    def save(self, state: State) -> None:
        self.saved.append(state)


class _Journals(_Saves):
    def __init__(self) -> None:
        super().__init__()
        self.appended: list[list[str]] = []
        self.compacted = 0

    def append(self, state: State, *, addresses: list[str]) -> None:
        self.appended.append(list(addresses))

    def compact(self) -> None:
        self.compacted += 1


def test_a_batch_is_a_journal_line_where_the_store_keeps_one_else_a_full_save() -> None:
    state = codec.new_state()
    plain, journalled = _Saves(), _Journals()
    applier._record_batch(plain, state, [])
    applier._record_batch(journalled, state, [])
    applier._compact(journalled)
    assert plain.saved == [state]
    assert journalled.saved == [] and journalled.appended == [[]] and journalled.compacted == 1
