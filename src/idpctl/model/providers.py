"""Providers as the files describe them and as Graph lists them, and their secret leaves.

    config.load -> [Provider, SecretRef leaves] -> secrets.resolve -> [Provider, Secret leaves]
    live.fetch  -> [LiveProvider]

Every value here is frozen. Secret values live only inside `Secret`, whose str/repr are
masked; the one code path that reads `Secret.reveal()` is the Graph request encoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "UNKNOWN",
    "KeepLive",
    "Kind",
    "LiveProvider",
    "Location",
    "Provider",
    "Secret",
    "SecretRef",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value came from in a file the user wrote (1-based line and column)."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class _Unknown:
    """A write-only value that Graph masked on read: neither equal nor different nor empty."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(unknown)"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class Secret:
    """A resolved secret value. str/repr never show it; only `reveal()` does, and only the
    Graph request encoder may call that.

    `source` describes the reference (`env:NAME`, `file:path`, `vault:secret/idp#key@3`);
    `version` is the source's version where it has one (Vault KV version, Key Vault version id).
    """

    __slots__ = ("_value", "source", "version")
    # declared for the type checker; set once in __init__ through object.__setattr__
    _value: str
    source: str
    version: str | None

    def __init__(self, value: str, *, source: str, version: str | None = None) -> None:
        from idpctl import redact

        redact.register(value)
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "version", version)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(source={self.source!r}, value=(sensitive))"

    def __str__(self) -> str:
        return "(sensitive)"

    def __format__(self, spec: str) -> str:
        return "(sensitive)"

    def __eq__(self, other: object) -> bool:
        return NotImplemented

    __hash__ = object.__hash__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class SecretRef:
    """An unresolved reference from YAML: `{env: NAME}`, `{file: PATH}`, `{vault: {...}}`,
    `{keyVault: URL}`. `spec` is the mapping's value, paths already made absolute."""

    scheme: str  # env | file | vault | keyVault
    spec: Any
    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        """A short, value-free description used in plans, errors and state."""
        if self.scheme in ("env", "file", "keyVault"):
            return f"{self.scheme}:{self.spec}"
        if self.scheme == "vault" and isinstance(self.spec, Mapping):
            mount = self.spec.get("mount", "secret")
            text = f"vault:{mount}/{self.spec.get('path')}#{self.spec.get('key')}"
            version = self.spec.get("version")
            return f"{text}@{version}" if version is not None else text
        return f"{self.scheme}:{self.spec!r}"


@dataclass(frozen=True)
class KeepLive:
    """`{keep: live}` in place of a provider's secret reference: keep the value the tenant
    holds now, set outside idpctl (docs/secrets.md, "Adopting without rotating"). idpctl never
    sends, compares or records it; a change that would need the secret re-sent is refused.
    Replacing it with a reference rotates the secret as any first set does."""

    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        return "keep: live"


@dataclass(frozen=True)
class Kind:
    """What idpctl knows about one Graph identity provider type, read from `schemas/`."""

    name: str  # Graph type name, e.g. "oidcIdentityProvider"
    odata_type: str  # canonical, e.g. "#microsoft.graph.oidcIdentityProvider"
    key_field: str | None  # natural key property; None for a singleton
    singleton_key: str | None  # the key of a singleton kind, e.g. "Apple"
    fields: tuple[str, ...]  # top-level Graph properties a user may set
    required: frozenset[str] = frozenset()
    write_only: frozenset[str] = frozenset()  # dotted: "clientAuthentication.clientSecret"
    immutable: frozenset[str] = frozenset()  # top-level properties whose change means replace
    tenant_kinds: frozenset[str] = frozenset()  # workforce | b2c | external
    api_versions: frozenset[str] = frozenset({"beta"})  # versions whose metadata holds it
    api_version: str = "beta"  # the one idpctl uses unless idpctl.yaml says otherwise
    managed: bool = True  # False: never created, changed or deleted (builtInIdentityProvider)


@dataclass(frozen=True)
class Provider:
    """One desired identity provider, in Graph's own property shape (no `@odata.type` at the
    top level; nested complex values carry theirs, e.g. clientAuthentication's subtype).

    Secret leaves are `SecretRef` after loading and `Secret` after `secrets.resolve`.
    """

    kind: str
    key: str
    fields: Mapping[str, Any]
    auth_method: str | None = None  # oidc: client_secret_post|_jwt, private_key_jwt
    protected: bool = False
    absent: bool = False  # ensure: absent
    user_flows: tuple[str, ...] | None = None  # None: not managed
    location: Location | None = field(default=None, compare=False)
    # the file's `secretPolicy: {maxAge, warnAt}` as written (durations); None: idpctl.yaml's
    secret_policy: Mapping[str, str] | None = field(default=None, compare=False)
    # `moved: {from: KIND/OLD KEY}`: the address this provider had; plan renames in place
    moved_from: str | None = None

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"


@dataclass(frozen=True)
class LiveProvider:
    """One provider as Graph returned it, normalised: `fields` without `@odata.type`, nested
    types canonical, masked write-only values replaced by `UNKNOWN`.

    `kind` is None for a type idpctl does not know; `raw` is the item as received (masked).
    """

    id: str
    odata_type: str
    kind: str | None
    key: str | None
    fields: Mapping[str, Any]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def address(self) -> str | None:
        return f"{self.kind}/{self.key}" if self.kind and self.key is not None else None
