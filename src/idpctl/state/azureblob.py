"""The state in Azure Blob Storage, shared by every pipeline that manages one tenant. The
`state: {backend: azureblob, ...}` block of idpctl.yaml (connection string, SAS token, or
idpctl's own sign-in) is turned into a store by `state.blobsettings.from_settings`.

The lock is an infinite lease on the state blob itself: while an apply holds it, nobody else
can write the blob or take the lease, and the holder (host, pid, start time, lock id,
operation, user) is kept in the blob's metadata so a refused run can name it. `unlock` breaks
the lease after checking the lock id against that metadata. Writes are conditional on the ETag
seen at load (`If-Match`, or `If-None-Match: *` for a new blob), so two runs can never
overwrite each other's state. A lock taken before any state exists creates an empty
placeholder blob (marked in its metadata) to hold the lease; `load` reads it as "no state".

Implemented with httpx against the Blob REST API rather than `azure-storage-blob`: idpctl
needs seven calls (get, put, properties, metadata, lease acquire/release/break, create
container), httpx is already the Graph client's transport, and the SDK would add azure-core
and its dependencies for that. The JSON (de)serialisation is `idpctl.state.codec`'s, the
requests and their retries `idpctl.state.blobhttp`'s, the lock record in the metadata
`idpctl.state.bloblock`'s.

Transient storage errors (a dropped or timed-out connection, 408, 429, 500, 502, 503 with
ServerBusy, 504) are retried with idpctl's one backoff policy (`net.retry.Backoff`, honouring
Retry-After; `state.blobhttp`), so an apply never stops half done because storage blinked.
Every request is safe to send again: reads, metadata and container creation are idempotent,
and the writes that are not say so in their answer, which is read with the retry in mind: a
conditional PUT whose first try landed answers 412 (or 409) to the retry, and is recognised
as this store's own write by the blob holding exactly the bytes sent; a lease acquire
proposes its lease id, and acquiring again with the id of the active lease succeeds (Lease
Blob, "acquire"), so a retry whose first try landed gets the lease it already holds, while
another run's lease is still refused. The lease and the ETag check are never loosened.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import quote

import httpx

from idpctl.errors import LockError, StateError
from idpctl.graph.storage_auth import install_redaction
from idpctl.model import State
from idpctl.state import codec
from idpctl.state.blobhttp import BlobHttp, metadata, retried
from idpctl.state.bloblock import (
    PLACEHOLDER,
    UNKNOWN_HOLDER,
    BlobProperties,
    clean_metadata,
    holder_data,
    holder_text,
    lock_headers,
    lock_record,
)
from idpctl.state.lock import LockInfo
from idpctl.state.store import StateStore

__all__ = ["AzureBlobStateStore"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.25


class AzureBlobStateStore:
    """The state as one block blob, locked by an infinite lease on it (see module docstring).

    `auth` is an `httpx.Auth` from `idpctl.graph.storage_auth` (`parse_connection_string`,
    `Sas`, `Bearer`, `SharedKey`), or made by `state.blobsettings.from_settings`.
    """

    def __init__(
        self,
        *,
        account_url: str,
        container: str,
        blob: str,
        auth: httpx.Auth,
        verify: str | bool = True,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = f"{account_url.rstrip('/')}/{quote(container)}/{quote(blob)}"
        self.container_url = f"{account_url.rstrip('/')}/{quote(container)}"
        install_redaction()
        self.http = BlobHttp(
            self.url,
            auth=auth,
            verify=verify,
            timeout=timeout,
            transport=transport,
            max_retries=max_retries,
            backoff_base=backoff_base,
            max_wait=max_wait,
            sleep=sleep,
        )
        self._guard = threading.Lock()
        self._loaded = False
        self._etag: str | None = None  # of the blob as this store last saw it; None: absent
        self._basis: tuple[int, str] | None = None  # (serial, lineage) of the loaded state
        self._lease: tuple[str, LockInfo] | None = None  # (lease id, holder) while locked

    def __repr__(self) -> str:
        return f"AzureBlobStateStore({self.url!r})"

    def describe(self) -> str:
        return self.url

    def close(self) -> None:
        self.http.close()

    # -- load and save -----------------------------------------------------------------

    def load(self) -> State:
        with self._guard:
            response = self.http.send("GET", self.url, ok=(200, 404))
            self._loaded = True
            if response.status_code == 404:
                self._etag, self._basis = None, None
                return codec.new_state()
            self._etag = response.headers["etag"]
            state = self._parse(response)
            self._basis = None if state is None else (state.serial, state.lineage)
            return state if state is not None else codec.new_state()

    def _parse(self, response: httpx.Response) -> State | None:
        body = response.content
        if not body.strip():
            if metadata(response.headers).get(PLACEHOLDER) == "true":
                return None
            raise StateError(f"state blob {self.url} is empty; it was left unchanged")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise StateError(
                f"state blob {self.url} is not valid JSON; it was left unchanged"
            ) from None
        return codec.from_data(data, origin=self.url)

    def save(self, state: State) -> None:
        text = codec.dumps(state)
        with self._guard:
            if not self._loaded:
                raise StateError(f"state blob {self.url}: save without load")
            if self._basis is not None:
                if state.lineage != self._basis[1]:
                    raise StateError(f"state blob {self.url} belongs to another lineage")
                if state.serial <= self._basis[0]:
                    raise StateError(
                        f"refusing to save serial {state.serial} over serial "
                        f"{self._basis[0]} in {self.url}: the state was derived "
                        "from an older one"
                    )
            for attempt in (1, 2):
                response = self._put(text)
                if response.status_code == 201:
                    etag = response.headers["etag"]
                    break
                landed = self._own_write(text) if retried(response) else None
                if landed is not None:
                    etag = landed
                    break
                if attempt == 2 or not self._only_metadata_moved():
                    raise StateError(
                        f"state blob {self.url} changed since it was loaded; another run wrote it"
                    )
            self._etag = etag
            self._basis = (state.serial, state.lineage)
        log.debug("state saved to %s (serial %s)", self.url, state.serial)

    def _put(self, text: str) -> httpx.Response:
        headers = {"x-ms-blob-type": "BlockBlob", "content-type": "application/json"}
        headers.update({"if-match": self._etag} if self._etag else {"if-none-match": "*"})
        if self._lease is not None:
            headers["x-ms-lease-id"] = self._lease[0]
            headers.update(lock_headers(self._lease[1]))
        self._ensure_container()
        response = self.http.send(
            "PUT", self.url, headers=headers, content=text.encode("utf-8"), ok=(201, 409, 412)
        )
        if response.headers.get("x-ms-error-code", "").startswith("Lease"):
            holder = self.read_lock()
            raise LockError(
                f"cannot save state to {self.url}: " + holder_text(holder, self.url),
                holder=holder_data(holder),
            )
        return response

    def _own_write(self, text: str) -> str | None:
        """The blob's ETag when it holds exactly `text`: a PUT whose answer was lost landed,
        and its retry was refused only because of it. None otherwise."""
        response = self.http.send("GET", self.url, ok=(200, 404))
        if response.status_code == 200 and response.content == text.encode("utf-8"):
            log.debug("state blob %s: a retried save had landed on its first try", self.url)
            return response.headers["etag"]
        return None

    def _only_metadata_moved(self) -> bool:
        """True when the blob's ETag moved but its state did not (a lock was taken or
        broken since load); then the save is retried against the new ETag."""
        response = self.http.send("GET", self.url, ok=(200, 404))
        if response.status_code == 404:
            return False
        current = self._parse(response)
        now = None if current is None else (current.serial, current.lineage)
        if now != self._basis:
            return False
        self._etag = response.headers["etag"]
        return True

    # -- the lock ----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, *, operation: str, timeout: float = 0) -> Iterator[LockInfo]:
        info = LockInfo.new(operation=operation)
        lease_id = str(uuid.uuid4())
        self._acquire(lease_id, timeout=timeout)
        try:
            props = self._properties()
            meta = lock_headers(
                info, placeholder=props is not None and props.metadata.get(PLACEHOLDER) == "true"
            )
            self._set_metadata(props, {"x-ms-lease-id": lease_id, **meta}, ok=(200,))
            self._lease = (lease_id, info)
            log.debug("state blob %s leased (lock id %s)", self.url, info.lock_id)
            yield info
        finally:
            self._lease = None
            try:
                self._release(lease_id, info)
            except StateError as error:
                log.warning("%s; the lock stays until: idpctl state unlock %s", error, info.lock_id)

    def _acquire(self, lease_id: str, *, timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 0)
        headers = {
            "x-ms-lease-action": "acquire",
            "x-ms-lease-duration": "-1",
            "x-ms-proposed-lease-id": lease_id,
        }
        while True:
            response = self.http.send(
                "PUT", self.url, params={"comp": "lease"}, headers=headers, ok=(201, 404, 409)
            )
            code = response.headers.get("x-ms-error-code", "")
            if response.status_code == 201:
                return
            if code == "ContainerNotFound":
                self._ensure_container(force=True)
            elif code == "BlobNotFound":
                self._create_placeholder()
            elif code != "LeaseAlreadyPresent":
                raise StateError(
                    f"cannot lease state blob {self.url}: {response.status_code} {code}"
                )
            elif time.monotonic() >= deadline:
                holder = self._named_holder()
                waited = f"timed out after {timeout:g}s waiting: " if timeout > 0 else ""
                raise LockError(waited + holder_text(holder, self.url), holder=holder_data(holder))
            else:
                time.sleep(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.01)))

    def _named_holder(self) -> LockInfo | None:
        """The holder, waiting a moment for its record: a lease is taken a few milliseconds
        before the metadata naming its holder is written."""
        patience = time.monotonic() + 1.0
        holder = self.read_lock()
        while holder is UNKNOWN_HOLDER and time.monotonic() < patience:
            time.sleep(0.05)
            holder = self.read_lock()
        return holder

    def _release(self, lease_id: str, info: LockInfo) -> None:
        props = self._properties()
        response = self._set_metadata(
            props, {"x-ms-lease-id": lease_id, **clean_metadata(props)}, ok=(200, 404, 409, 412)
        )
        if response.status_code != 200:
            log.warning(
                "state lock on %s was broken while held (lock id %s)", self.url, info.lock_id
            )
            return
        self.http.send(
            "PUT",
            self.url,
            params={"comp": "lease"},
            ok=(200, 409, 412),
            headers={"x-ms-lease-action": "release", "x-ms-lease-id": lease_id},
        )
        log.debug("state blob %s lease released", self.url)

    def read_lock(self) -> LockInfo | None:
        return lock_record(self._properties())

    def unlock(self, lock_id: str) -> LockInfo:
        current = self.read_lock()
        if current is None:
            raise StateError(f"state is not locked (no lease on {self.url})")
        if current is UNKNOWN_HOLDER or current.lock_id != lock_id.strip():
            raise LockError(
                f"lock id {lock_id} does not match the current lock: "
                + holder_text(current, self.url),
                holder=holder_data(current),
            )
        broken = self.http.send(
            "PUT",
            self.url,
            params={"comp": "lease"},
            ok=(202, 409),
            headers={"x-ms-lease-action": "break", "x-ms-lease-break-period": "0"},
        )
        if broken.status_code == 409 and not retried(broken):  # broken since read_lock
            raise StateError(
                f"state blob {self.url}: the lease could not be broken "
                f"({broken.headers.get('x-ms-error-code', '409')})"
            )
        props = self._properties()
        self._set_metadata(props, clean_metadata(props), ok=(200, 412))  # 412: re-leased
        log.info("state lock on %s broken (lock id %s)", self.url, lock_id)
        return current

    # -- HTTP ------------------------------------------------------------------------------

    def _properties(self) -> BlobProperties | None:
        response = self.http.send("HEAD", self.url, ok=(200, 404))
        if response.status_code == 404:
            return None
        return BlobProperties(
            etag=response.headers["etag"],
            metadata=metadata(response.headers),
            leased=response.headers.get("x-ms-lease-status") == "locked",
        )

    def _set_metadata(
        self, props: BlobProperties | None, headers: Mapping[str, str], *, ok: tuple[int, ...]
    ) -> httpx.Response:
        """Replace the blob's metadata. Metadata moves the ETag but not the state: when this
        store's ETag was current, it follows."""
        response = self.http.send(
            "PUT", self.url, params={"comp": "metadata"}, headers=headers, ok=ok
        )
        if response.status_code == 200 and props is not None and self._etag == props.etag:
            self._etag = response.headers.get("etag", self._etag)
        return response

    def _create_placeholder(self) -> None:
        self._ensure_container()
        self.http.send(
            "PUT",
            self.url,
            content=b"",
            ok=(201, 409, 412),
            headers={
                "x-ms-blob-type": "BlockBlob",
                "if-none-match": "*",
                f"x-ms-meta-{PLACEHOLDER}": "true",
            },
        )

    def _ensure_container(self, *, force: bool = False) -> None:
        if force or self._etag is None:
            self.http.send(
                "PUT", self.container_url, params={"restype": "container"}, ok=(201, 409)
            )


def _is_a_state_store(store: AzureBlobStateStore) -> StateStore:
    """The type checker proves this store meets `StateStore` (no runtime use)."""
    return store
