"""Per-kind knowledge, read from `schemas/`: natural key, `@odata.type`, required, write-only
and immutable fields, tenant kinds and API versions. The schemas are the single source; this
module only reads their `x-` marks.

    kinds = load_kinds()
    kinds["oidcIdentityProvider"].write_only      # {"clientAuthentication.clientSecret"}
    kinds.by_odata_type("#Microsoft.Graph.OidcIdentityProvider").name
    kinds.canonical_odata("microsoft.graph.OIDCClientSecretAuthentication")
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idpctl.model import Kind, Provider

__all__ = [
    "META_FIELDS",
    "Kinds",
    "default_schema_dir",
    "graph_fields",
    "legacy_warning",
    "load_kinds",
    "migrate_legacy",
    "natural_key",
    "secret_paths",
    "to_graph_body",
]

_PREFIX = "microsoft.graph."
SECRET_REF = "secretRef.schema.json"
# Provider-file fields that steer idpctl and are never sent to Graph (`x-meta` in the schemas).
META_FIELDS = frozenset({"kind", "protected", "ensure", "userFlows", "secretPolicy", "moved"})


def default_schema_dir() -> Path:
    """`schemas/` at the repository root (editable install) or packaged beside this module."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "schemas", here / "schemas"):
        if (candidate / "idpctl.schema.json").is_file():
            return candidate
    return here.parents[1] / "schemas"


def _bare(odata_type: str) -> str:
    text = odata_type.strip().lstrip("#")
    if text.casefold().startswith(_PREFIX):
        text = text[len(_PREFIX) :]
    return text.casefold()


@dataclass(frozen=True, eq=False)
class Kinds(Mapping[str, Kind]):
    """The Graph kinds idpctl knows (a mapping name -> Kind), plus every schema by name.

    Legacy input shapes (`openIdConnectProvider`) are in `schemas` and `legacy`, not in the
    mapping: they are never a Graph kind idpctl reads or writes.
    """

    kinds: Mapping[str, Kind]
    schemas: Mapping[str, Mapping[str, Any]] = field(repr=False)
    legacy: Mapping[str, str] = field(default_factory=dict)  # legacy name -> kind it becomes
    nested_types: Mapping[str, str] = field(default_factory=dict, repr=False)

    __hash__ = object.__hash__  # identity: loaded once and passed around

    def __getitem__(self, name: str) -> Kind:
        return self.kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.kinds)

    def __len__(self) -> int:
        return len(self.kinds)

    def by_odata_type(self, odata_type: str | None) -> Kind | None:
        """The kind for an `@odata.type`, any casing, with or without `#` and namespace."""
        if not odata_type:
            return None
        bare = _bare(odata_type)
        return next((k for k in self.kinds.values() if k.name.casefold() == bare), None)

    def canonical_odata(self, odata_type: str) -> str:
        """Canonical spelling (`#microsoft.graph.camelCase`) of a known kind or nested type;
        an unknown type comes back with `#` and the namespace but its own casing."""
        bare = _bare(odata_type)
        kind = self.by_odata_type(odata_type)
        if kind is not None:
            return kind.odata_type
        if bare in self.nested_types:
            return self.nested_types[bare]
        text = odata_type.strip().lstrip("#")
        return "#" + (text if text.casefold().startswith(_PREFIX) else _PREFIX + text)

    def schema(self, name: str) -> Mapping[str, Any]:
        return self.schemas[name]


def secret_paths(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths (through `properties`) whose value is a secret reference, or may be one."""
    found: list[tuple[str, ...]] = []
    for name, sub in schema.get("properties", {}).items():
        path = (*prefix, name)
        options = [sub, *sub.get("anyOf", ())]
        if any(option.get("$ref") == SECRET_REF for option in options):
            found.append(path)
        elif sub.get("type") == "object":
            found.extend(secret_paths(sub, path))
    return found


def _collect_types(node: Any, out: dict[str, str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "x-odataType" and isinstance(value, str):
                out[_bare(value)] = value
            elif key == "x-odataTypes" and isinstance(value, Mapping):
                out.update({_bare(v): v for v in value.values()})
            else:
                _collect_types(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect_types(item, out)


def _required(schema: Mapping[str, Any]) -> frozenset[str]:
    names = set(schema.get("required", ()))
    for condition in schema.get("allOf", ()):
        names.update(condition.get("else", {}).get("required", ()))
    return frozenset(names - META_FIELDS)


def _kind(schema: Mapping[str, Any]) -> Kind:
    props: Mapping[str, Any] = schema["properties"]
    graph_props = [name for name, sub in props.items() if not sub.get("x-meta")]
    write_only = {".".join(path) for path in secret_paths(schema) if path[0] not in META_FIELDS}
    return Kind(
        name=schema["x-kind"],
        odata_type=schema["x-odataType"],
        key_field=schema.get("x-naturalKey"),
        singleton_key=schema.get("x-singletonKey"),
        fields=tuple(graph_props),
        required=_required(schema),
        write_only=frozenset(write_only),
        immutable=frozenset(n for n in graph_props if props[n].get("x-immutable")),
        tenant_kinds=frozenset(schema.get("x-tenantKinds", ())),
        api_versions=frozenset(schema.get("x-apiVersions", ("beta",))),
        api_version=schema.get("x-apiVersion", "beta"),
        managed=bool(schema.get("x-managed", True)),
    )


@functools.lru_cache(maxsize=8)
def _load(schema_dir: Path) -> Kinds:
    schemas: dict[str, Mapping[str, Any]] = {}
    for path in sorted(schema_dir.glob("*.schema.json")):
        schemas[path.name.removesuffix(".schema.json")] = json.loads(path.read_text("utf-8"))
    kinds: dict[str, Kind] = {}
    legacy: dict[str, str] = {}
    nested: dict[str, str] = {}
    for schema in schemas.values():
        if "x-kind" not in schema:
            continue
        if schema.get("x-legacy"):
            legacy[schema["x-kind"]] = schema["x-migratesTo"]
            continue
        kind = _kind(schema)
        kinds[kind.name] = kind
        _collect_types(schema["properties"], nested)
    return Kinds(kinds=kinds, schemas=schemas, legacy=legacy, nested_types=nested)


def load_kinds(schema_dir: Path | None = None) -> Kinds:
    """Read every schema in `schema_dir` (default: the repository's `schemas/`)."""
    return _load((schema_dir or default_schema_dir()).resolve())


def natural_key(kind: Kind, fields: Mapping[str, Any]) -> str:
    """The provider's key within its kind: a singleton's fixed key, else its key field."""
    if kind.singleton_key is not None:
        return kind.singleton_key
    value = fields.get(kind.key_field or "")
    if value is None or value == "":
        raise ValueError(f"{kind.name} has no {kind.key_field}")
    return str(value)


def graph_fields(
    kind: Kind, data: Mapping[str, Any], kinds: Kinds
) -> tuple[dict[str, Any], str | None]:
    """YAML provider fields -> (Graph-shaped fields, client authentication method).

    Meta fields are dropped; `clientAuthentication: {method, clientSecret}` becomes the Graph
    subtype with its `@odata.type` (the method itself is kept apart: Graph cannot show it).
    """
    fields = {k: copy.deepcopy(v) for k, v in data.items() if k in kind.fields}
    auth = fields.get("clientAuthentication")
    if not isinstance(auth, Mapping):
        return fields, None
    method = auth.get("method")
    subtypes = kinds.schema(kind.name)["properties"]["clientAuthentication"]["x-odataTypes"]
    body: dict[str, Any] = {"@odata.type": subtypes.get(method, "")}
    if method != "private_key_jwt" and "clientSecret" in auth:
        body["clientSecret"] = auth["clientSecret"]
    fields["clientAuthentication"] = body
    return fields, method


def to_graph_body(provider: Provider) -> dict[str, Any]:
    """The POST/PATCH body for a provider: its fields plus the canonical `@odata.type`.
    Secret leaves are left as they are; the request encoder reveals them."""
    body: dict[str, Any] = {"@odata.type": f"#{_PREFIX}{provider.kind}"}
    for name, value in provider.fields.items():
        body[name] = dict(value) if isinstance(value, Mapping) else value
    return body


def migrate_legacy(data: Mapping[str, Any], kinds: Kinds) -> tuple[dict[str, Any], dict[str, str]]:
    """A legacy shape (e.g. `openIdConnectProvider`) rewritten as the kind it migrates to,
    and the renames made (old name -> new name), read from the legacy schema's marks."""
    schema = kinds.schema(data["kind"])
    renames: dict[str, str] = dict(schema.get("x-rename", {}))
    drop = set(schema.get("x-drop", ()))
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "kind":
            out[key] = schema["x-migratesTo"]
        elif key not in drop:
            out[renames.get(key, key)] = value
    return out, renames


def legacy_warning(original: Mapping[str, Any], kinds: Kinds) -> str:
    """The one-line warning for a translated legacy provider, showing the exact rewrite."""
    schema = kinds.schema(original["kind"])
    edits = [f"`kind: {schema['x-migratesTo']}`"]
    for old, new in schema.get("x-rename", {}).items():
        if old in original:
            edits.append(f"`{new}: {original[old]}` instead of `{old}: {original[old]}`")
    drops = [f"`{k}: {original[k]}`" for k in schema.get("x-drop", ()) if k in original]
    text = f"kind {original['kind']} is deprecated: write " + ", ".join(edits)
    if drops:
        text += " and drop " + ", ".join(drops)
    return text + " (`idpctl fmt --migrate` rewrites the file)"
