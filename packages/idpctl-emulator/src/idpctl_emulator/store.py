"""What Graph does with identity providers, as plain Python the emulator's server calls.

One tenant of one kind. Write-only values are kept only as their SHA-256 (`{"sha256": hex}`),
so neither a dump, a snapshot nor an error can hold one in clear; the one place a plain value
leaves is the social create echo (GRAPH.md 4.1), built from the request itself. The checks a
request must pass first are in providerchecks.py.
Every rule and choice is listed in docs/emulator-graph.md.
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from idpctl_emulator import records
from idpctl_emulator.graphtypes import (
    B2C_OIDC,
    BUILTIN,
    BUILTINS,
    TENANT_KINDS,
    TypeSpec,
    available_provider_types,
    resolve_type,
)
from idpctl_emulator.graphvalues import GraphFault
from idpctl_emulator.providerchecks import (
    check_allowed,
    check_fields,
    check_unique,
    check_version,
    check_version_name,
    check_whole,
    check_writable,
    patch_fields,
    select_fields,
)
from idpctl_emulator.readings import DEFAULT, DELAYED_SECONDS, Readings
from idpctl_emulator.redaction import redact

__all__ = ["Store"]

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "idpctl-emulator-store/1"

# `Store.list` hides the builtin `list` inside the class body: the types it needs, spelled here
Names = list[str]
Records = list[dict]


class Store:
    """The identity providers of one emulated tenant. Thread-safe."""

    def __init__(
        self,
        *,
        tenant_kind: str,
        tenant_id: str,
        replication_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        readings: Readings = DEFAULT,
    ) -> None:
        if tenant_kind not in TENANT_KINDS:
            raise ValueError(f"tenant kind must be one of {', '.join(TENANT_KINDS)}")
        self.tenant_kind = tenant_kind
        self.tenant_id = tenant_id
        self.start_readings = readings  # what reset() goes back to
        self.readings = readings
        self.replication_delay = replication_delay
        self._clock = clock
        self._lock = threading.RLock()
        self._items: dict[str, dict] = {}
        self._visible_at: dict[str, float] = {}
        self.reset()

    # ---- Graph operations -------------------------------------------------------------------

    def list(self, version: str, *, select: Names | None = None) -> Records:
        fields = select_fields(version, select)
        with self._lock:
            return [
                self._render(item, version, select=fields)
                for item in self._items.values()
                if self._visible(item["id"]) and self._in_version(item, version)
            ]

    def page(
        self, version: str, *, offset: int, size: int, select: Names | None = None
    ) -> tuple[Records, bool]:
        """Items `offset` .. `offset + size` of `list`, and whether more follow: only the
        page's items are rendered, so a page costs what it holds."""
        fields = select_fields(version, select)
        with self._lock:
            now, hidden = self._clock(), self._visible_at  # one clock read for the page
            shown = (
                item
                for item in self._items.values()
                if now >= hidden.get(item["id"], float("-inf")) and self._in_version(item, version)
            )
            window = list(itertools.islice(shown, offset, offset + size + 1))
            return (
                [self._render(item, version, select=fields) for item in window[:size]],
                len(window) > size,
            )

    def get(self, version: str, provider_id: str, *, select: Names | None = None) -> dict:
        fields = select_fields(version, select)
        with self._lock:
            item = self._find(provider_id, visible_only=True)
            check_version(self._spec(item), version)
            return self._render(item, version, select=fields)

    def create(self, version: str, body: dict) -> dict:
        check_version_name(version)
        if not isinstance(body, dict):
            raise GraphFault(400, "invalidRequest", "The request body must be a JSON object.")
        spec = resolve_type(body.get("@odata.type"))
        check_allowed(spec, version, self.tenant_kind)
        if "id" in body:
            raise GraphFault(
                400, "invalidRequest", "Property 'id' is read-only: the server assigns it."
            )
        record: dict[str, Any] = {name: None for name in spec.props}
        record.update(check_fields(spec, body, self.tenant_kind))
        if spec.name == B2C_OIDC and record["domainHint"] is None:
            record["domainHint"] = ""
        check_whole(spec, record)
        with self._lock:
            provider_id = records.new_id(spec, record)
            check_unique(spec, provider_id, record, self._items)
            plain = {"@odata.type": spec.odata, "id": provider_id, **record}
            self._items[provider_id] = records.seal(spec, copy.deepcopy(plain))
            self._visible_at[provider_id] = self._clock() + self._delay()
        log.debug("created %s %s", spec.name, provider_id)
        return records.mask(spec, self._shape(spec, plain, version, None), spec.create_mask)

    def update(self, version: str, provider_id: str, body: dict) -> None:
        check_version_name(version)
        with self._lock:
            item, spec = self._writable(version, provider_id)
            changes = patch_fields(
                spec, item, body, tenant_kind=self.tenant_kind, readings=self.readings
            )
            merged = {**copy.deepcopy(item), **changes}
            check_whole(spec, merged)
            self._items[provider_id] = records.seal(spec, merged)
        log.debug("updated %s %s: %s", spec.name, provider_id, sorted(changes))

    def _writable(self, version: str, provider_id: str) -> tuple[dict, Any]:
        """The item to PATCH or DELETE and its type, or the fault Graph answers instead.
        Reaches hidden (replicating) items too, as Graph's writes do."""
        item = self._find(provider_id, visible_only=False)
        spec = self._spec(item)
        check_version(spec, version)
        check_writable(spec)
        return item, spec

    def delete(self, version: str, provider_id: str) -> None:
        check_version_name(version)
        with self._lock:
            _, spec = self._writable(version, provider_id)
            del self._items[provider_id]
            self._visible_at.pop(provider_id, None)
        log.debug("deleted %s %s", spec.name, provider_id)

    def available_provider_types(self, version: str) -> Names:
        check_version_name(version)
        return available_provider_types(self.tenant_kind, version)

    def context_url(
        self, version: str, base_url: str, *, select: Names | None = None, entity: bool = False
    ) -> str:
        """`@odata.context` for a list (or, with entity=True, for one item)."""
        url = f"{base_url.rstrip('/')}/{version}/$metadata#identity/identityProviders"
        names = [name.strip() for name in (select or []) if name.strip()]
        if names:
            url += f"({','.join(names)})"
        return url + ("/$entity" if entity else "")

    # ---- admin API --------------------------------------------------------------------------

    def seed(self, body: dict) -> dict:
        """Add a provider as if made in the portal: no validation, id assigned unless given."""
        if not isinstance(body, dict):
            raise GraphFault(400, "invalidRequest", "The request body must be a JSON object.")
        spec = resolve_type(body.get("@odata.type"))
        record = {name: None for name in spec.props}
        record.update(
            {k: copy.deepcopy(v) for k, v in body.items() if k not in ("@odata.type", "id")}
        )
        with self._lock:
            provider_id = str(body.get("id") or records.new_id(spec, record))
            if provider_id in self._items:
                raise GraphFault(
                    409,
                    "nameAlreadyExists",
                    f"An identity provider with id '{provider_id}' already exists.",
                )
            item = records.seal(spec, {"@odata.type": spec.odata, "id": provider_id, **record})
            self._items[provider_id] = item
            self._visible_at[provider_id] = self._clock()
            return self._render(item, "beta")

    def drift(self, provider_id: str, body: dict) -> dict:
        """Change a provider behind the tool's back: a shallow merge, no validation."""
        if not isinstance(body, dict):
            raise GraphFault(400, "invalidRequest", "The request body must be a JSON object.")
        with self._lock:
            item = self._find(provider_id, visible_only=False)
            spec = self._spec(item)
            item.update(
                {k: copy.deepcopy(v) for k, v in body.items() if k not in ("@odata.type", "id")}
            )
            records.seal(spec, item)
            return self._render(item, "beta")

    def dump(self) -> dict:
        """Every provider, hidden ones too, write-only values as `{"sha256": hex}`."""
        with self._lock:
            return {"providers": copy.deepcopy(list(self._items.values()))}

    def redact(self, body: Any) -> Any:
        return redact(body)

    def reset(self) -> None:
        """An empty tenant (built-ins seeded) with the readings the store started with."""
        with self._lock:
            self.readings = self.start_readings
            self._items.clear()
            self._visible_at.clear()
            for provider_id, display, kind in BUILTINS[self.tenant_kind]:
                self._items[provider_id] = {
                    "@odata.type": f"#microsoft.graph.{BUILTIN}",
                    "id": provider_id,
                    "displayName": display,
                    "identityProviderType": kind,
                    "state": None,
                }

    def hide(self, provider_id: str, seconds: float) -> None:
        """Hide one provider from GET and list for `seconds` (a per-fault replication delay)."""
        with self._lock:
            until = self._clock() + seconds
            self._visible_at[provider_id] = max(self._visible_at.get(provider_id, 0.0), until)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "format": SNAPSHOT_FORMAT,
                "tenantKind": self.tenant_kind,
                "tenantId": self.tenant_id,
                "providers": copy.deepcopy(list(self._items.values())),
            }

    def restore(self, data: dict) -> None:
        """Load a snapshot (replication delays are not kept across restarts)."""
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("not an idpctl emulator store snapshot")
        if data.get("tenantKind") != self.tenant_kind:
            raise ValueError(
                f"the snapshot is of a {data.get('tenantKind')} tenant, not {self.tenant_kind}"
            )
        items = {}
        for raw in data.get("providers", []):
            if not isinstance(raw, dict) or not raw.get("id"):
                raise ValueError("a provider in the snapshot has no id")
            try:
                spec = resolve_type(raw.get("@odata.type"))
            except GraphFault as err:
                raise ValueError(f"provider {raw['id']!r} in the snapshot: {err.message}") from None
            items[str(raw["id"])] = records.seal(
                spec, {**copy.deepcopy(raw), "@odata.type": spec.odata}
            )
        with self._lock:
            self._items = items
            self._visible_at = {}

    # ---- helpers ----------------------------------------------------------------------------

    def _delay(self) -> float:
        """Seconds a created provider hides: the reading `replication=delayed` makes it at
        least DELAYED_SECONDS (docs/emulator-graph.md)."""
        if self.readings.replication == "delayed":
            return max(self.replication_delay, DELAYED_SECONDS)
        return self.replication_delay

    def _visible(self, provider_id: str) -> bool:
        return self._clock() >= self._visible_at.get(provider_id, float("-inf"))

    @staticmethod
    def _spec(item: dict) -> TypeSpec:
        return resolve_type(item["@odata.type"])

    def _in_version(self, item: dict, version: str) -> bool:
        return version == "beta" or not self._spec(item).beta_only

    def _find(self, provider_id: str, *, visible_only: bool) -> dict:
        item = self._items.get(provider_id)
        if item is None or (visible_only and not self._visible(provider_id)):
            raise GraphFault(
                404,
                "itemNotFound",
                f"IdentityProvider with 'id': '{provider_id}' cannot be found in "
                f"the directory '{self.tenant_id}'.",
            )
        return item

    def _render(self, item: dict, version: str, *, select: set[str] | None = None) -> dict:
        spec = self._spec(item)
        return records.mask(
            spec,
            self._shape(spec, item, version, select),
            spec.read_mask,
            shape=self.readings.secret,
        )

    @staticmethod
    def _shape(spec: TypeSpec, item: dict, version: str, select: set[str] | None) -> dict:
        """The wire form: `@odata.type`, `id`, then the type's properties (null when unset)."""
        out: dict[str, Any] = {"@odata.type": spec.odata, "id": item["id"]}
        for name in spec.props:
            if version == "v1.0" and name in spec.beta_props:
                continue
            if select is None or name in select:
                out[name] = copy.deepcopy(item.get(name))
        return out
