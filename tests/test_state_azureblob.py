"""The Azure Blob state backend against a real Azurite (npm `azurite`, started by the suite):
round trip, the lease lock between two stores and two processes, `unlock`, ETag-checked
writes, Shared Key and SAS authorisation."""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from azurite import ACCOUNT_KEY, Azurite, running_azurite
from idpctl.cli import pipeline
from idpctl.config import settings as config
from idpctl.errors import ConfigError, LockError, StateError
from idpctl.graph.storage_auth import parse_connection_string
from idpctl.model import ManagedRecord, SecretRecord, SecretRef, State
from idpctl.state import codec
from idpctl.state.azureblob import AzureBlobStateStore
from idpctl.state.blobsettings import from_settings
from idpctl.state.lock import LockInfo
from idpctl.state.store import LocalStateStore
from idpservers import tls_pair
from workspace import allow_endpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture
def blob() -> str:
    return f"state-{uuid.uuid4().hex[:12]}.json"


def _store(azurite: Azurite, blob: str, *, container: str = "idpctl") -> AzureBlobStateStore:
    url, auth = parse_connection_string(azurite.connection_string)
    return AzureBlobStateStore(account_url=url, container=container, blob=blob, auth=auth)


def _record(name: str) -> ManagedRecord:
    secret = SecretRecord(
        fingerprint="hmac-sha256:" + "ab" * 32,
        set_at="2026-01-02T03:04:05Z",
        source="env:CONTOSO_SECRET",
    )
    return ManagedRecord(
        kind="oidcIdentityProvider",
        key=name,
        id=f"id-{name}",
        auth_method="client_secret_post",
        secrets={"clientAuthentication.clientSecret": secret},
    )


def _next(store: AzureBlobStateStore, name: str) -> State:
    return codec.with_record(store.load(), _record(name))


def test_round_trip_writes_the_local_state_format(azurite: Azurite, blob: str) -> None:
    store = _store(azurite, blob, container=f"fresh{uuid.uuid4().hex[:8]}")
    empty = store.load()
    assert empty.serial == 0 and not empty.providers
    saved = _next(store, "Contoso")
    store.save(saved)
    again = _store(azurite, blob, container=store.container_url.rsplit("/", 1)[1]).load()
    assert codec.to_data(again) == codec.to_data(saved)
    raw = httpx.get(f"{store.url}?{azurite.account_sas()}").text
    assert raw == codec.dumps(saved)
    assert ACCOUNT_KEY not in repr(store)


def test_a_second_lock_is_refused_naming_the_holder(azurite: Azurite, blob: str) -> None:
    first, second = _store(azurite, blob), _store(azurite, blob)
    with first.lock(operation="apply") as held:
        assert second.read_lock() == held
        with pytest.raises(LockError) as refused, second.lock(operation="apply"):
            pytest.fail("two holders")
        message = str(refused.value)
        for part in (held.host, f"pid {held.pid}", held.lock_id, held.started_at, "apply"):
            assert part in message
        assert refused.value.holder == held.to_data()
        state = second.load()
        with pytest.raises(LockError, match=held.lock_id):
            second.save(codec.with_record(state, _record("Sneaky")))
        first.save(_next(first, "Contoso"))
    assert second.read_lock() is None
    with second.lock(operation="apply"):
        second.save(_next(second, "Fabrikam"))
    assert set(first.load().providers) == {
        "oidcIdentityProvider/Contoso",
        "oidcIdentityProvider/Fabrikam",
    }


def test_lock_timeout_waits_for_the_holder(azurite: Azurite, blob: str) -> None:
    first, second = _store(azurite, blob), _store(azurite, blob)
    entered = threading.Event()

    def hold() -> None:
        with first.lock(operation="apply"):
            entered.set()
            time.sleep(0.6)

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    started = time.monotonic()
    with second.lock(operation="apply", timeout=10) as info:
        assert time.monotonic() - started >= 0.3
        assert second.read_lock() == info
    thread.join()
    with (
        first.lock(operation="apply"),
        pytest.raises(LockError, match=r"timed out after 0\.3s"),
        second.lock(operation="apply", timeout=0.3),
    ):
        pass


HOLDER = """
import sys
from idpctl.state.lock import LockInfo
from idpctl.graph.storage_auth import parse_connection_string
from idpctl.state.azureblob import AzureBlobStateStore
url, auth = parse_connection_string(sys.argv[1])
store = AzureBlobStateStore(account_url=url, container="idpctl", blob=sys.argv[2], auth=auth)
with store.lock(operation="apply") as info:
    print(info.lock_id, flush=True)
    sys.stdin.read()
"""


def test_a_stale_lease_is_broken_by_unlock_with_its_id(azurite: Azurite, blob: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, azurite.connection_string, blob],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lock_id = holder.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    store = _store(azurite, blob)
    stale = store.read_lock()
    assert stale is not None and stale.lock_id == lock_id and stale.pid == holder.pid
    with pytest.raises(LockError) as refused, store.lock(operation="apply"):
        pass
    assert "no longer running" in str(refused.value)
    assert f"idpctl state unlock {lock_id}" in str(refused.value)
    with pytest.raises(LockError, match="does not match"):
        store.unlock(str(uuid.uuid4()))
    assert store.read_lock() == stale
    assert store.unlock(lock_id) == stale
    assert store.read_lock() is None
    with pytest.raises(StateError, match="not locked"):
        store.unlock(lock_id)
    with store.lock(operation="apply"):
        store.save(_next(store, "Contoso"))
    assert store.load().serial == 1


def test_a_holder_whose_lock_was_broken_leaves_the_new_lock_alone(
    azurite: Azurite, blob: str
) -> None:
    old, new = _store(azurite, blob), _store(azurite, blob)
    context = old.lock(operation="apply")
    broken = context.__enter__()
    new.unlock(broken.lock_id)
    with new.lock(operation="apply") as current:
        with pytest.raises(LockError, match=current.lock_id):
            old.save(_next(old, "Late"))
        context.__exit__(None, None, None)
        assert new.read_lock() == current


def test_etag_checked_writes_refuse_a_lost_update(azurite: Azurite, blob: str) -> None:
    first, second = _store(azurite, blob), _store(azurite, blob)
    first.save(_next(first, "Base"))
    mine, theirs = _next(first, "Mine"), _next(second, "Theirs")
    second.save(theirs)
    with pytest.raises(StateError, match="changed since it was loaded"):
        first.save(mine)
    assert set(first.load().providers) == {
        "oidcIdentityProvider/Base",
        "oidcIdentityProvider/Theirs",
    }
    older = first.load()
    first.save(codec.with_record(older, _record("Newer")))
    with pytest.raises(StateError, match="older one"):
        first.save(older)


def test_a_lock_taken_after_load_does_not_count_as_a_conflict(azurite: Azurite, blob: str) -> None:
    store, other = _store(azurite, blob), _store(azurite, blob)
    store.save(_next(store, "Base"))
    loaded = _next(store, "After")
    with other.lock(operation="plan"):
        pass  # the metadata (and so the ETag) moved, the state did not
    store.save(loaded)
    assert other.load().serial == loaded.serial
    later = _next(store, "Later")
    with store.lock(operation="apply"):  # this store's own lock: its ETag follows
        store.save(later)
    assert other.load().serial == later.serial


def test_locking_before_any_state_exists(azurite: Azurite, blob: str) -> None:
    store = _store(azurite, blob, container=f"new{uuid.uuid4().hex[:8]}")
    with store.lock(operation="apply"):
        assert store.load().serial == 0
    assert store.load().serial == 0 and store.read_lock() is None
    with store.lock(operation="apply"):
        store.save(_next(store, "First"))
    assert list(store.load().providers) == ["oidcIdentityProvider/First"]


def test_a_released_lock_leaves_no_lock_record_in_the_metadata(azurite: Azurite, blob: str) -> None:
    store = _store(azurite, blob)
    with store.lock(operation="apply"):
        store.save(_next(store, "Kept"))
    head = httpx.head(f"{store.url}?{azurite.account_sas()}")
    assert head.status_code == 200 and head.headers.get("x-ms-lease-status") == "unlocked"
    assert not [
        name
        for name in head.headers
        if name.lower().startswith("x-ms-meta-idpctl")
        and name.lower() != "x-ms-meta-idpctlplaceholder"
    ]


def test_an_empty_blob_that_is_not_our_placeholder_is_an_error(azurite: Azurite, blob: str) -> None:
    store = _store(azurite, blob)
    store.load()
    # the container may not exist yet when this test runs first (201 made, 409 already there)
    made = httpx.put(f"{store.container_url}?restype=container&{azurite.account_sas()}")
    assert made.status_code in (201, 409)
    answer = httpx.put(
        f"{store.url}?{azurite.account_sas()}", content=b"", headers={"x-ms-blob-type": "BlockBlob"}
    )
    assert answer.status_code == 201
    with pytest.raises(StateError, match="is empty"):
        store.load()


def test_sas_from_settings_with_a_reference(
    azurite: Azurite, blob: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sas = azurite.account_sas()
    monkeypatch.setenv("IDPCTL_TEST_STATE_SAS", sas)
    spec = {
        "backend": "azureblob",
        "url": azurite.account_url,
        "container": "idpctl",
        "blob": blob,
        "sasToken": SecretRef("env", "IDPCTL_TEST_STATE_SAS"),
    }
    caplog.set_level(logging.DEBUG)
    store = from_settings(spec)
    with store.lock(operation="apply"):
        store.save(_next(store, "ViaSas"))
    assert _store(azurite, blob).load().providers.keys() == {"oidcIdentityProvider/ViaSas"}
    signature = dict(p.split("=", 1) for p in sas.split("&"))["sig"]
    assert signature not in caplog.text and "sig=(sensitive)" in caplog.text


def test_a_read_only_or_wrong_sas_is_refused_without_echoing_it(
    azurite: Azurite, blob: str
) -> None:
    seed = _store(azurite, blob)
    seed.save(_next(seed, "Seed"))
    read_only = azurite.account_sas(permissions="rl")
    spec = {"url": azurite.account_url, "container": "idpctl", "blob": blob, "sasToken": read_only}
    store = from_settings(spec)
    assert store.load().serial == 1
    with pytest.raises(StateError, match="403") as refused:
        store.save(_next(store, "Nope"))
    forged = read_only.replace("sp=rl", "sp=rwdlacup")
    with pytest.raises(StateError, match="403") as forged_refused:
        from_settings({**spec, "sasToken": forged}).load()
    for error in (refused.value, forged_refused.value):
        assert "sig=" not in str(error)


def test_connection_string_from_an_env_reference(
    azurite: Azurite, blob: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDPCTL_TEST_STATE_CS", azurite.connection_string)
    store = from_settings(
        {
            "backend": "azureblob",
            "container": "idpctl",
            "blob": blob,
            "connectionString": SecretRef("env", "IDPCTL_TEST_STATE_CS"),
        }
    )
    store.save(_next(store, "ViaEnv"))
    assert store.load().serial == 1
    wrong = azurite.connection_string.replace(ACCOUNT_KEY, "d3Jvbmc=")
    with pytest.raises(StateError, match="403") as refused:
        from_settings({"container": "idpctl", "blob": blob, "connectionString": wrong}).load()
    assert "d3Jvbmc=" not in str(refused.value) and ACCOUNT_KEY not in str(refused.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"url": "http://127.0.0.1:1/x", "blob": "b"}, "needs container and blob"),
        ({"container": "c", "blob": "b"}, "needs url or connectionString"),
        ({"container": "c", "blob": "b", "connectionString": "AccountName=a"}, "AccountKey"),
        ({"container": "c", "blob": "b", "connectionString": "Foo=bar"}, "no BlobEndpoint"),
    ],
)
def test_settings_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_settings(spec)


def test_development_storage_shorthand() -> None:
    url, _ = parse_connection_string("UseDevelopmentStorage=true")
    assert url == "http://127.0.0.1:10000/devstoreaccount1"


def test_unreachable_account_is_one_clear_error(blob: str) -> None:
    allow_endpoint("http://127.0.0.1:9")
    store = from_settings(
        {
            "url": "http://127.0.0.1:9/devstoreaccount1",
            "container": "c",
            "blob": blob,
            "sasToken": "sv=1&sig=abc",
        }
    )
    store.http.backoff_base = 0.01  # a refused connection is retried: keep the waits short here
    with pytest.raises(StateError, match=r"cannot reach state blob .*ConnectError"):
        store.load()


def test_state_document_matches_the_local_store(
    azurite: Azurite, blob: str, tmp_path: Path
) -> None:
    store = _store(azurite, blob)
    state = _next(store, "Same")
    store.save(state)
    local = LocalStateStore(tmp_path / "state.json")
    local.load()
    local.save(state)
    remote = httpx.get(f"{store.url}?{azurite.account_sas()}").json()
    assert remote == json.loads((tmp_path / "state.json").read_text())


def test_entra_token_from_idpctls_own_sign_in(
    emulator: Any, tmp_path: Path, blob: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azurite with `--oauth basic` over HTTPS takes the emulator's token for Azure Storage
    (audience https://storage.azure.com, issuer https://sts.windows.net/<tenant>/); the store
    comes from idpctl.yaml through the pipeline, as `idpctl apply` builds it."""
    cert, key = tls_pair(tmp_path, "azurite")
    (tmp_path / "providers").mkdir()
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_text(Path(emulator.ca_path).read_text() + cert.read_text())
    monkeypatch.setenv("IDPCTL_TEST_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("IDPCTL_TEST_CLIENT_SECRET", emulator.client_secret)
    with running_azurite("--oauth", "basic", https=(cert, key)) as server:
        (tmp_path / "idpctl.yaml").write_text(
            textwrap.dedent(f"""\
            tenant: {emulator.tenant}
            tenantKind: external
            graph: {{url: {emulator.base_url}, authority: {emulator.base_url},
                     caBundle: ca-bundle.pem}}
            auth:
              clientId: {{env: IDPCTL_TEST_CLIENT_ID}}
              clientSecret: {{env: IDPCTL_TEST_CLIENT_SECRET}}
            state: {{backend: azureblob, url: "{server.account_url}", container: idpctl,
                     blob: {blob}}}
            """)
        )
        settings = config.load_settings(tmp_path / "idpctl.yaml")
        store = pipeline.state_store(settings)
        with store.lock(operation="apply"):
            store.save(_next(store, "ViaEntra"))
        assert list(store.load().providers) == ["oidcIdentityProvider/ViaEntra"]
        trust = ssl.create_default_context(cafile=str(cert))
        anonymous = httpx.get(f"{store.url}", verify=trust, headers={"x-ms-version": "2021-12-02"})
        assert anonymous.status_code in (401, 403, 404)
        forged = httpx.get(
            f"{store.url}",
            verify=trust,
            headers={"x-ms-version": "2021-12-02", "Authorization": "Bearer not-a-token"},
        )
        assert forged.status_code in (401, 403)
    tokens = [r for r in emulator.admin.requests() if "/oauth2/" in r["path"]]
    assert any("storage.azure.com" in json.dumps(r["body"]) for r in tokens)
    assert all(emulator.client_secret not in json.dumps(r) for r in tokens)


def _cli_project(tmp_path: Path, emulator: Any, azurite: Azurite, blob: str) -> Path:
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "google.yaml").write_text(
        textwrap.dedent("""\
        kind: socialIdentityProvider
        identityProviderType: Google
        displayName: Google
        clientId: 123456789012-abc.apps.googleusercontent.com
        clientSecret: {env: IDPCTL_TEST_GOOGLE_SECRET}
        """)
    )
    (tmp_path / "idpctl.yaml").write_text(
        textwrap.dedent(f"""\
        tenant: {emulator.tenant}
        tenantKind: external
        graph: {{url: {emulator.base_url}, authority: {emulator.base_url},
                 caBundle: {emulator.ca_path}}}
        auth:
          clientId: {{env: IDPCTL_TEST_CLIENT_ID}}
          clientSecret: {{env: IDPCTL_TEST_CLIENT_SECRET}}
        state: {{backend: azureblob, container: idpctl, blob: {blob},
                 connectionString: {{env: IDPCTL_TEST_STATE_CS}}}}
        """)
    )
    return tmp_path / "idpctl.yaml"


_NOBODY = LockInfo(lock_id="", host="", pid=0, started_at="", operation="", user="")


def test_two_concurrent_cli_applies_one_refused_then_unlock(
    emulator: Any, azurite: Azurite, blob: str, tmp_path: Path
) -> None:
    settings = _cli_project(tmp_path, emulator, azurite, blob)
    env = {
        **os.environ,
        "IDPCTL_TEST_CLIENT_ID": emulator.client_id,
        "IDPCTL_TEST_CLIENT_SECRET": emulator.client_secret,
        "IDPCTL_TEST_STATE_CS": azurite.connection_string,
        "IDPCTL_TEST_GOOGLE_SECRET": "CANARY-google-secret",
    }
    idpctl = [sys.executable, "-m", "idpctl"]
    apply = [*idpctl, "apply", "--auto-approve", "-c", str(settings)]
    emulator.admin.set_latency(400)
    first = subprocess.Popen(
        apply, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    store = _store(azurite, blob)
    deadline = time.monotonic() + 30
    while first.poll() is None and time.monotonic() < deadline:
        if (store.read_lock() or _NOBODY).pid == first.pid:
            break
        time.sleep(0.05)
    holder = store.read_lock()
    assert holder is not None and holder.pid == first.pid and holder.operation == "apply"
    second = subprocess.run(apply, env=env, capture_output=True, text=True, timeout=60)
    out, err = first.communicate(timeout=60)
    emulator.admin.set_latency(0)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert holder.lock_id in second.stderr and f"pid {first.pid}" in second.stderr
    assert "CANARY-" not in out + err + second.stdout + second.stderr
    assert store.load().providers.keys() == {"socialIdentityProvider/Google"}

    stale = store.lock(operation="apply")  # a run that dies holding the lease
    abandoned = stale.__enter__()
    refused = subprocess.run(apply, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and f"idpctl state unlock {abandoned.lock_id}" in refused.stderr
    unlocked = subprocess.run(
        [*idpctl, "state", "unlock", abandoned.lock_id, "-c", str(settings)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unlocked.returncode == 0, unlocked.stderr
    assert abandoned.lock_id in unlocked.stdout
    again = subprocess.run(apply, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout


def test_a_lease_without_an_idpctl_record_is_reported_not_broken(
    azurite: Azurite, blob: str
) -> None:
    store = _store(azurite, blob)
    store.save(_next(store, "Base"))
    foreign = httpx.put(
        f"{store.url}?comp=lease&{azurite.account_sas()}",
        headers={
            "x-ms-lease-action": "acquire",
            "x-ms-lease-duration": "-1",
            "x-ms-version": "2021-12-02",
        },
    )
    assert foreign.status_code == 201
    with (
        pytest.raises(LockError, match="no idpctl lock record") as refused,
        store.lock(operation="apply"),
    ):
        pass
    assert refused.value.holder == {}
    with pytest.raises(LockError, match="does not match"):
        store.unlock("")
