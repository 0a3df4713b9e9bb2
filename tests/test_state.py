"""The local state store: format, atomic saves, refusal of bad files, and the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from idpctl.errors import LockError, StateError
from idpctl.model import ManagedRecord, Secret, SecretRecord, State
from idpctl.state import codec
from idpctl.state import store as st

CANARY = "CANARY-state-secret-value-7f3a"


def _record(state, key: str = "Contoso", secret_value: str = CANARY) -> ManagedRecord:
    secret = Secret(secret_value, source="env:CONTOSO_SECRET")
    return ManagedRecord(
        kind="oidcIdentityProvider",
        key=key,
        id=f"id-{key}",
        auth_method="client_secret_post",
        created_at="2026-11-22T20:59:00Z",
        secrets={
            "clientAuthentication.clientSecret": SecretRecord(
                fingerprint=codec.fingerprint_for(state, secret),
                set_at="2026-11-22T21:00:00Z",
                source=secret.source,
                version=None,
            )
        },
    )


@pytest.fixture
def store(tmp_path: Path) -> st.LocalStateStore:
    return st.LocalStateStore(tmp_path / ".idpctl" / "state.json")


def _saved(store: st.LocalStateStore) -> State:
    state = store.load()
    state = codec.with_record(state, _record(state))
    store.save(state)
    return state


# -- format and round trip -------------------------------------------------------------------


def test_new_state_is_empty_with_random_key_and_lineage() -> None:
    a, b = codec.new_state(), codec.new_state()
    assert a.serial == 0 and a.providers == {}
    assert len(a.fingerprint_key) == 32
    assert a.fingerprint_key != b.fingerprint_key and a.lineage != b.lineage
    assert "fingerprint_key" not in repr(a)


def test_absent_file_loads_new_state_without_creating_it(store) -> None:
    state = store.load()
    assert state.serial == 0 and state.providers == {}
    assert not store.path.exists()


def test_round_trip_keeps_everything(store) -> None:
    saved = _saved(store)
    loaded = st.LocalStateStore(store.path).load()
    assert loaded == saved
    assert loaded.fingerprint_key == saved.fingerprint_key
    record = loaded.providers["oidcIdentityProvider/Contoso"]
    assert record.id == "id-Contoso" and record.auth_method == "client_secret_post"
    assert record.created_at == "2026-11-22T20:59:00Z"
    assert record.secrets["clientAuthentication.clientSecret"].source == "env:CONTOSO_SECRET"


def test_file_layout_and_mode(store) -> None:
    _saved(store)
    data = json.loads(store.path.read_text())
    assert list(data) == ["format_version", "serial", "lineage", "fingerprint_key", "providers"]
    assert data["format_version"] == 1 and data["serial"] == 1
    entry = data["providers"]["oidcIdentityProvider/Contoso"]
    assert list(entry) == ["kind", "key", "id", "auth_method", "created_at", "protected", "secrets"]
    secret = entry["secrets"]["clientAuthentication.clientSecret"]
    assert list(secret) == ["fingerprint", "set_at", "source", "version"]
    assert secret["fingerprint"].startswith("hmac-sha256:")
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_with_record_and_without_bump_serial_and_keep_order() -> None:
    state = codec.new_state()
    s1 = codec.with_record(state, _record(state, "b"))
    s2 = codec.with_record(s1, _record(state, "a"))
    assert (s1.serial, s2.serial) == (1, 2)
    assert list(s2.providers) == ["oidcIdentityProvider/a", "oidcIdentityProvider/b"]
    s3 = codec.without(s2, "oidcIdentityProvider/b")
    assert s3.serial == 3 and list(s3.providers) == ["oidcIdentityProvider/a"]
    assert state.providers == {}  # the original is untouched


def test_fingerprint_is_keyed_by_the_state() -> None:
    secret = Secret(CANARY, source="env:X")
    a, b = codec.new_state(), codec.new_state()
    other_source = Secret(CANARY, source="env:Y")
    assert codec.fingerprint_for(a, secret) == codec.fingerprint_for(a, other_source)
    assert codec.fingerprint_for(a, secret) != codec.fingerprint_for(b, secret)
    assert codec.fingerprint is codec.fingerprint_for


def test_state_never_contains_a_secret_value(store) -> None:
    _saved(store)
    text = store.path.read_text()
    assert CANARY not in text and "CANARY-" not in text


# -- atomic writes ---------------------------------------------------------------------------


def test_save_leaves_no_temp_file(store) -> None:
    _saved(store)
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["state.json"]


def test_failed_rename_keeps_old_file_and_removes_temp(store, monkeypatch) -> None:
    first = _saved(store)
    before = store.path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StateError, match=r"cannot write state file .*state\.json"):
        store.save(codec.with_record(first, _record(first, "other")))
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["state.json"]


_CRASHER = textwrap.dedent(
    """
    import os, sys
    from idpctl.state import codec, store as st
    from idpctl.model import ManagedRecord
    store = st.LocalStateStore(sys.argv[1])
    state = store.load()
    os.replace = lambda src, dst: os._exit(9)  # the process dies between fsync and rename
    store.save(codec.with_record(state, ManagedRecord(kind="k", key="crash", id="x")))
    """
)


def test_a_process_killed_before_the_rename_leaves_the_old_file(store) -> None:
    first = _saved(store)
    before = store.path.read_bytes()
    proc = subprocess.run([sys.executable, "-c", _CRASHER, str(store.path)], check=False)
    assert proc.returncode == 9
    assert store.path.read_bytes() == before
    reloaded = st.LocalStateStore(store.path)
    assert reloaded.load() == first
    leftovers = list(store.path.parent.glob(".state.json.*.tmp"))
    assert len(leftovers) == 1  # what a real crash leaves; the loader never reads it
    fresh = store.path.parent / ".state.json.fresh.tmp"
    fresh.write_text("a concurrent writer's")
    os.utime(leftovers[0], (time.time() - 3600, time.time() - 3600))
    reloaded.save(codec.with_record(first, _record(first, "after")))
    assert reloaded.load().serial == 2
    assert not leftovers[0].exists() and fresh.exists()  # old leftovers swept, fresh kept


def test_save_refuses_when_file_changed_under_us(store) -> None:
    _saved(store)
    mine, theirs = st.LocalStateStore(store.path), st.LocalStateStore(store.path)
    a, b = mine.load(), theirs.load()
    theirs.save(codec.with_record(b, _record(b, "theirs")))
    with pytest.raises(StateError, match=r"changed since it was loaded \(serial 1 -> serial 2\)"):
        mine.save(codec.with_record(a, _record(a, "mine")))


def test_save_refuses_when_file_appeared_under_us(store) -> None:
    mine, theirs = st.LocalStateStore(store.path), st.LocalStateStore(store.path)
    a, b = mine.load(), theirs.load()
    theirs.save(b)
    with pytest.raises(StateError, match=r"absent -> serial 0"):
        mine.save(a)


def test_successive_saves_from_one_store(store) -> None:
    state = _saved(store)
    for key in ("x", "y", "z"):
        state = codec.with_record(state, _record(state, key))
        store.save(state)
    assert st.LocalStateStore(store.path).load().serial == 4


def test_save_without_load_is_refused(store) -> None:
    with pytest.raises(StateError, match="save without load"):
        store.save(codec.new_state())


def test_concurrent_saves_in_threads_do_not_corrupt(store) -> None:
    state = _saved(store)
    errors: list[Exception] = []

    def worker(key: str) -> None:
        try:
            store.save(codec.with_record(state, _record(state, key)))
        except StateError as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 7  # the first wins; the rest see the file moved
    assert st.LocalStateStore(store.path).load().serial == 2


def test_saving_an_older_derivation_is_refused_but_a_no_op_is_fine(store) -> None:
    state = _saved(store)
    store.save(state)  # unchanged: nothing to write
    store.save(codec.with_record(state, _record(state, "x")))
    with pytest.raises(StateError, match="refusing to save serial 2 over serial 2"):
        store.save(codec.with_record(state, _record(state, "y")))


# -- refusing bad files ----------------------------------------------------------------------


def _write(store, text: str) -> None:
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(text)


def test_pending_flows_are_kept_only_while_pending(store) -> None:
    """`relink` (the flows a replace that did not finish left) is written only while some
    are pending: a state without it is what older versions wrote and read, format 1."""
    state = store.load()
    state = codec.with_record(state, replace(_record(state), relink=("B2C_1_A", "B2C_1_B")))
    store.save(state)
    entry = json.loads(store.path.read_text())["providers"]["oidcIdentityProvider/Contoso"]
    assert entry["relink"] == ["B2C_1_A", "B2C_1_B"]
    assert list(entry)[-2:] == ["relink", "secrets"]
    loaded = st.LocalStateStore(store.path).load()
    assert loaded.providers["oidcIdentityProvider/Contoso"].relink == ("B2C_1_A", "B2C_1_B")
    cleared = codec.with_record(
        loaded, replace(loaded.providers["oidcIdentityProvider/Contoso"], relink=())
    )
    assert "relink" not in codec.to_data(cleared)["providers"]["oidcIdentityProvider/Contoso"]


def _good(store) -> dict:
    _saved(store)
    return json.loads(store.path.read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format_version=2), "format version 2; this idpctl reads version 1"),
        (lambda d: d.pop("format_version"), "format version None"),
        (lambda d: d.update(serial=-1), "serial must be"),
        (lambda d: d.update(serial="3"), "serial must be"),
        (lambda d: d.update(lineage=""), "lineage must be"),
        (lambda d: d.update(fingerprint_key="!!"), "fingerprint_key"),
        (lambda d: d.update(fingerprint_key="c2hvcnQ="), "fingerprint_key"),
        (lambda d: d.update(extra=1), "unknown key"),
        (lambda d: d.pop("providers"), "missing providers"),
        (lambda d: d.update(providers=[]), "providers must be an object"),
        (
            lambda d: d["providers"]["oidcIdentityProvider/Contoso"].update(key="Other"),
            "address does not match",
        ),
        (lambda d: d["providers"]["oidcIdentityProvider/Contoso"].update(id=None), ".id must"),
        (
            lambda d: d["providers"]["oidcIdentityProvider/Contoso"].update(created_at=5),
            ".created_at must",
        ),
        (
            lambda d: d["providers"]["oidcIdentityProvider/Contoso"].pop("secrets"),
            "missing secrets",
        ),
        (
            lambda d: d["providers"]["oidcIdentityProvider/Contoso"].update(relink="B2C_1_A"),
            ".relink must be a list of user-flow ids",
        ),
        (
            lambda d: d["providers"]["oidcIdentityProvider/Contoso"].update(relink=[""]),
            ".relink must be a list of user-flow ids",
        ),
        (
            lambda d: d["providers"]["oidcIdentityProvider/Contoso"]["secrets"][
                "clientAuthentication.clientSecret"
            ].update(fingerprint=CANARY),
            "fingerprint",
        ),
        (
            lambda d: d["providers"]["oidcIdentityProvider/Contoso"]["secrets"][
                "clientAuthentication.clientSecret"
            ].update(value=CANARY),
            "unknown key",
        ),
    ],
)
def test_edited_files_are_refused(store, mutate, message) -> None:
    data = _good(store)
    mutate(data)
    _write(store, json.dumps(data))
    with pytest.raises(StateError) as caught:
        st.LocalStateStore(store.path).load()
    text = str(caught.value)
    assert message in text and str(store.path) in text
    assert "\n" not in text and CANARY not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ('{"format_version": 1, "ser', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ("null", "not a JSON object"),
    ],
)
def test_corrupt_or_truncated_files_are_refused(store, content, message) -> None:
    _write(store, content)
    with pytest.raises(StateError, match=message):
        store.load()
    assert store.path.read_text() == content  # never silently replaced


def test_truncated_real_file_is_refused(store) -> None:
    _saved(store)
    raw = store.path.read_bytes()
    store.path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(StateError, match="not valid JSON"):
        st.LocalStateStore(store.path).load()


def test_non_utf8_file_is_refused(store) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(StateError, match="not UTF-8"):
        store.load()


# -- locking ---------------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from idpctl.state.store import LocalStateStore
    store = LocalStateStore(sys.argv[1])
    with store.lock(operation="apply") as info:
        print(info.lock_id, flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _hold(path: Path, seconds: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    lock_id = proc.stdout.readline().strip()
    assert lock_id, "holder process did not take the lock"
    return proc, lock_id


def test_lock_is_exclusive_across_processes_and_names_the_holder(store) -> None:
    proc, lock_id = _hold(store.path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(LockError) as caught, store.lock(operation="apply"):
            pass
        assert time.monotonic() - started < 1.0  # at once, no waiting
        message = str(caught.value)
        assert f"pid {proc.pid}" in message and f"lock id {lock_id}" in message
        assert f"idpctl state unlock {lock_id}" in message
        assert "(no longer running)" not in message
        assert caught.value.holder["pid"] == proc.pid
        assert caught.value.holder["operation"] == "apply"
        assert store.read_lock().lock_id == lock_id
    finally:
        proc.kill()
        proc.wait()


def test_lock_timeout_waits_then_succeeds(store) -> None:
    proc, _ = _hold(store.path, 0.8)
    try:
        started = time.monotonic()
        with store.lock(operation="apply", timeout=20) as info:
            assert store.read_lock() == info
        assert time.monotonic() - started >= 0.3
    finally:
        proc.wait()
    assert store.read_lock() is None


def test_lock_timeout_expires_with_holder_named(store) -> None:
    proc, lock_id = _hold(store.path, 30)
    try:
        started = time.monotonic()
        with (
            pytest.raises(LockError, match=f"timed out after 0.5s waiting: .*{lock_id}"),
            store.lock(operation="apply", timeout=0.5),
        ):
            pass
        assert time.monotonic() - started >= 0.5
    finally:
        proc.kill()
        proc.wait()


def test_stale_lock_is_reported_not_broken_and_unlock_needs_the_right_id(store) -> None:
    proc, lock_id = _hold(store.path, 30)
    proc.kill()
    proc.wait()
    with pytest.raises(LockError, match=r"\(no longer running\)"), store.lock(operation="apply"):
        pass
    assert store.read_lock().lock_id == lock_id  # still there
    with pytest.raises(LockError, match="does not match the current lock"):
        store.unlock("00000000-0000-0000-0000-000000000000")
    assert store.read_lock().lock_id == lock_id
    broken = store.unlock(lock_id)
    assert broken.pid == proc.pid and store.read_lock() is None
    with store.lock(operation="apply"):
        pass


def test_unlock_when_not_locked(store) -> None:
    with pytest.raises(StateError, match="not locked"):
        store.unlock("whatever")


def test_lock_released_on_exception_and_only_our_own(store) -> None:
    with pytest.raises(RuntimeError), store.lock(operation="apply"):
        raise RuntimeError("boom")
    assert store.read_lock() is None
    with store.lock(operation="apply") as info:
        store.unlock(info.lock_id)  # broken by someone else
        with store.lock(operation="other") as theirs:
            pass
        store.lock_path.write_text(json.dumps(theirs.to_data()))
    assert store.read_lock() == theirs  # ours released nothing of theirs


def test_unreadable_lock_file_is_an_error(store) -> None:
    store.lock_path.parent.mkdir(parents=True)
    store.lock_path.write_text("garbage")
    with pytest.raises(StateError, match="unreadable"), store.lock(operation="apply"):
        pass


def test_created_at_is_optional_on_load(store) -> None:
    data = _good(store)
    del data["providers"]["oidcIdentityProvider/Contoso"]["created_at"]
    _write(store, json.dumps(data))
    assert (
        st.LocalStateStore(store.path).load().providers["oidcIdentityProvider/Contoso"].created_at
        is None
    )


# -- idpctl state list|show|unlock --------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> st.LocalStateStore:
    (tmp_path / "providers").mkdir()
    (tmp_path / "idpctl.yaml").write_text(
        "tenant: contoso.onmicrosoft.com\ntenantKind: external\n"
        "state: {backend: local, path: .idpctl/state.json}\nproviders: providers/\n"
    )
    monkeypatch.chdir(tmp_path)
    return st.LocalStateStore(tmp_path / ".idpctl" / "state.json")


def _cli(*argv: str) -> int:
    from idpctl.cli.main import main

    return main(list(argv))


def test_cli_state_list_and_show(project, capsys) -> None:
    assert _cli("state", "list") == 0
    assert capsys.readouterr().out == ""
    state = project.load()
    state = codec.with_record(codec.with_record(state, _record(state, "B")), _record(state, "A"))
    project.save(state)
    assert _cli("state", "list") == 0
    assert capsys.readouterr().out == "oidcIdentityProvider/A\noidcIdentityProvider/B\n"
    assert _cli("state", "show", "oidcIdentityProvider/A") == 0
    out = capsys.readouterr().out
    assert out.startswith("# oidcIdentityProvider/A\nkind         = oidcIdentityProvider\n")
    assert "id           = id-A" in out and "source      = env:CONTOSO_SECRET" in out
    assert "fingerprint = hmac-sha256:" in out and CANARY not in out


def test_cli_state_show_unknown_address(project, capsys) -> None:
    state = project.load()
    project.save(codec.with_record(state, _record(state, "Contoso")))
    assert _cli("state", "show", "oidcIdentityProvider/Contso") == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"Error: oidcIdentityProvider/Contso is not in the state "
        f"({project.path}); did you mean oidcIdentityProvider/Contoso?"
    )


def test_cli_state_unlock(project, capsys) -> None:
    proc, lock_id = _hold(project.path, 30)
    proc.kill()
    proc.wait()
    assert _cli("state", "list") == 0
    assert "(no longer running)" in capsys.readouterr().err  # a note, not an error
    assert _cli("state", "unlock", "not-the-id") == 1
    assert "does not match the current lock" in capsys.readouterr().err
    assert _cli("state", "unlock", lock_id) == 0
    assert capsys.readouterr().out.startswith(f"Lock {lock_id} broken (was held by ")
    assert project.read_lock() is None
    assert _cli("state", "unlock", lock_id) == 1
    assert "state is not locked" in capsys.readouterr().err


def test_cli_corrupt_state_is_one_line(project, capsys) -> None:
    project.path.parent.mkdir()
    project.path.write_text('{"format_version": 1, "ser')
    assert _cli("state", "list") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not valid JSON" in err


# -- property: any state round-trips through the file format ------------------------------------

_text = hs.text(hs.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
_secret_records = hs.builds(
    SecretRecord,
    fingerprint=hs.binary(min_size=32, max_size=32).map(lambda b: "hmac-sha256:" + b.hex()),
    set_at=_text,
    source=_text,
    version=hs.none() | _text,
)


@hs.composite
def _states(draw) -> State:
    state = codec.new_state()
    for _ in range(draw(hs.integers(0, 4))):
        record = ManagedRecord(
            kind=draw(hs.sampled_from(["oidcIdentityProvider", "socialIdentityProvider"])),
            key=draw(_text),
            id=draw(_text),
            auth_method=draw(hs.none() | _text),
            secrets=draw(hs.dictionaries(_text, _secret_records, max_size=2)),
            created_at=draw(hs.none() | _text),
            protected=draw(hs.booleans()),
            relink=tuple(draw(hs.lists(_text.filter(bool), max_size=2))),
        )
        state = codec.with_record(state, record)
    return state


@settings(max_examples=60, deadline=None)
@given(_states())
def test_any_state_round_trips(state) -> None:
    text = codec.dumps(state)
    loaded = codec.from_data(json.loads(text), origin="memory")
    assert loaded == state and codec.dumps(loaded) == text


def test_lock_without_hard_links_falls_back_to_exclusive_create(store, monkeypatch) -> None:
    import errno

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with store.lock(operation="apply") as info:
        assert store.read_lock() == info
        with pytest.raises(LockError, match=info.lock_id), store.lock(operation="apply"):
            pass
    assert store.read_lock() is None
    assert sorted(p.name for p in store.lock_path.parent.iterdir()) == []
