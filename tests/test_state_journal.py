"""The state journal: a batch's record costs what the batch changed, survives a crash (load
replays it), and is folded into the state file when the apply ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idpctl.errors import StateError
from idpctl.model import ManagedRecord, State
from idpctl.state import codec
from idpctl.state import store as st


def _record(key: str) -> ManagedRecord:
    return ManagedRecord(
        kind="oidcIdentityProvider",
        key=key,
        id=f"id-{key}",
        auth_method="client_secret_post",
        created_at="2026-12-03T12:00:00Z",
    )


@pytest.fixture
def store(tmp_path: Path) -> st.LocalStateStore:
    return st.LocalStateStore(tmp_path / "state.json")


def _with_file(store: st.LocalStateStore, *keys: str) -> State:
    state = store.load()
    for key in keys:
        state = codec.with_record(state, _record(key))
    store.save(state)
    return state


def _batch(
    store: st.LocalStateStore, state: State, *keys: str, drop: tuple[str, ...] = ()
) -> State:
    for key in keys:
        state = codec.with_record(state, _record(key))
    for address in drop:
        state = codec.without(state, address)
    store.append(state, addresses=[f"oidcIdentityProvider/{k}" for k in keys] + list(drop))
    return state


def test_a_batch_record_appends_only_what_changed_and_load_replays_it(store) -> None:
    state = _with_file(store, *(f"Old{i}" for i in range(50)))
    before = store.path.read_bytes()
    state = _batch(store, state, "New1", "New2", drop=("oidcIdentityProvider/Old3",))
    state = _batch(store, state, "New3")
    assert store.path.read_bytes() == before  # the state file is not rewritten per batch
    lines = store.journal_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # header and two batches
    assert set(json.loads(lines[1])["set"]) == {
        "oidcIdentityProvider/New1",
        "oidcIdentityProvider/New2",
    }
    reloaded = st.LocalStateStore(store.path).load()  # a crash here: the next run replays
    assert codec.to_data(reloaded) == codec.to_data(state)


def test_compact_folds_the_journal_into_the_file(store) -> None:
    state = _batch(store, _with_file(store, "Old"), "New")
    store.compact()
    assert not store.journal_path.exists()
    assert codec.to_data(st.LocalStateStore(store.path).load()) == codec.to_data(state)
    assert json.loads(store.path.read_text(encoding="utf-8"))["serial"] == state.serial


def test_a_torn_last_record_is_dropped_like_a_batch_never_saved(store) -> None:
    kept = _batch(store, _with_file(store, "Old"), "New1")
    _batch(store, kept, "New2")
    text = store.journal_path.read_text(encoding="utf-8")
    store.journal_path.write_text(
        text[: -len(text.splitlines()[-1]) // 2 - 1], encoding="utf-8"
    )  # the last line cut half way
    assert codec.to_data(st.LocalStateStore(store.path).load()) == codec.to_data(kept)


def test_a_journal_of_another_state_file_is_ignored(store) -> None:
    """A crash between a full save and the journal's removal leaves a journal whose header
    names the state file before: replaying it would go backwards."""
    state = _batch(store, _with_file(store, "Old"), "New")
    stale = store.journal_path.read_bytes()
    store.compact()
    store.journal_path.write_bytes(stale)
    assert codec.to_data(st.LocalStateStore(store.path).load()) == codec.to_data(state)


def test_damage_inside_the_journal_is_refused(store) -> None:
    _batch(store, _with_file(store, "Old"), "New")
    lines = store.journal_path.read_text(encoding="utf-8").splitlines()
    store.journal_path.write_text(
        "\n".join([lines[0], "{not json", lines[1]]) + "\n", encoding="utf-8"
    )
    with pytest.raises(StateError, match=r"state journal .* line 2 is not JSON"):
        st.LocalStateStore(store.path).load()


def test_another_run_writing_between_records_is_refused(store) -> None:
    state = _batch(store, _with_file(store, "Old"), "New")
    other = st.LocalStateStore(store.path)
    other.save(codec.with_record(other.load(), _record("Theirs")))
    with pytest.raises(StateError, match="changed since it was loaded"):
        _batch(store, state, "Mine")


def test_a_killed_apply_leaves_a_journal_the_next_run_replays(workspace) -> None:
    """kill -9 while the fifth `$batch` hangs (sent only once the first has settled, as four
    are in flight at most): what settled is in the journal, not in the state file, and the
    next command's state holds it (the records themselves, not a later adoption)."""
    import time

    for i in range(45):
        workspace.write(
            f"j{i:02d}.yaml",
            f"""\
            kind: oidcIdentityProvider
            displayName: Journal {i:02d}
            clientId: client-{i:02d}
            issuer: https://j{i:02d}.example.com/
            wellKnownEndpoint: https://j{i:02d}.example.com/.well-known/openid-configuration
            responseType: code
            scope: openid profile email
            clientAuthentication:
              method: client_secret_post
              clientSecret: {{env: JOURNAL_SECRET}}
            inboundClaimMapping: {{sub: sub, name: name, email: email}}
            """,
        )
    env = {"JOURNAL_SECRET": "CANARY-journal"}
    workspace.apply(env=env)  # a state file to extend: the first batch of a new state is a save
    first = (workspace.providers / "j00.yaml").read_text()
    for i in range(45, 145):
        (workspace.providers / f"k{i:03d}.yaml").write_text(
            first.replace("j00", f"j{i:03d}")
            .replace("Journal 00", f"Journal {i:03d}")
            .replace("client-00", f"client-{i:03d}")
        )
    workspace.emulator.admin.add_fault(
        method="POST", path=r"/\$batch$", nth=5, count=1, action="hang", when="before"
    )
    proc = workspace.start_process("apply", "--auto-approve", "--quiet", env=env)
    deadline = time.monotonic() + 60
    while not any(r.get("action") == "hang" for r in workspace.emulator.admin.requests()):
        assert time.monotonic() < deadline and proc.poll() is None, "never reached the hang"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.kill()
    workspace.finish(proc)
    workspace.emulator.admin.clear_faults()
    journal = workspace.state_path.with_name("state.json.journal")
    assert journal.exists()
    assert len(workspace.state()["providers"]) == 45  # the state file alone: the first apply
    lock = workspace.state_path.with_name("state.json.lock")
    lock.unlink()
    listed = workspace.run("state", "list", env=env)  # replays the journal
    assert listed.code == 0, listed.text
    assert listed.out.count("/Journal ") >= 45 + 20
    workspace.apply(env=env)
    assert not journal.exists()
    assert len(workspace.state()["providers"]) == 145
    workspace.assert_converged(env=env)
