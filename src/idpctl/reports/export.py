"""Export: the live tenant's providers as idpctl provider files. Pure: live values in, text out.

    result = export.build(live, kinds, schema_ref="../schemas/providers.schema.json")
    for f in result.files: (out / f.name).write_text(f.text)
    result.secrets      # each secret as the {env: NAME} reference written in its place

One file per provider, named from its natural key (`social-google.yaml`), fields in the
schema's order after `kind:`. Graph never shows a secret, so each write-only value is written
`{keep: live}` (keep the value the tenant holds, set outside idpctl) with a comment naming the
reference to write when it is rotated (`{env: IDPCTL_OIDC_CONTOSO_CLIENT_SECRET}`, a derived
name); with `keep=False` that reference itself is written, for whoever runs the next apply to
fill in. Graph cannot tell `client_secret_post` from
`client_secret_jwt` either: a secret-auth OIDC provider is exported as `client_secret_post`
with a comment to check it. Built-in providers and types idpctl does not know are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from idpctl.model import UNKNOWN, Kind, LiveProvider

__all__ = [
    "SCHEMA_ID",
    "Export",
    "ExportedFile",
    "SecretNeeded",
    "Skipped",
    "build",
    "env_name",
    "file_name",
]

SCHEMA_ID = "https://idpctl.dev/schemas/providers.schema.json"
_PREFIX = {
    "appleManagedIdentityProvider": "apple",
    "oidcIdentityProvider": "oidc",
    "openIdConnectIdentityProvider": "b2c-oidc",
    "socialIdentityProvider": "social",
}
_PRIVATE_JWT = "oidcprivatejwtkeyclientauthentication"
METHOD_COMMENT = "# Graph cannot tell client_secret_post from client_secret_jwt: check this method"


@dataclass(frozen=True)
class ExportedFile:
    name: str  # file name, unique within the export
    address: str
    text: str


@dataclass(frozen=True)
class SecretNeeded:
    address: str
    path: str  # dotted path of the write-only field
    env: str  # the environment variable the placeholder names


@dataclass(frozen=True)
class Skipped:
    id: str
    odata_type: str
    display_name: str | None
    reason: str  # "built-in" | "unsupported type" | "no natural key"


@dataclass(frozen=True)
class Export:
    files: tuple[ExportedFile, ...]
    secrets: tuple[SecretNeeded, ...]
    skipped: tuple[Skipped, ...]


class _EnvRef(str):
    """A `{env: NAME}` placeholder: dumped in flow style on one line."""


class _Dumper(yaml.SafeDumper):
    pass


class _Keep(str):
    """A `{keep: live}` secret; the str is the reference to write when rotating it."""


_LINE_BREAKS = frozenset("\r\n\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """A string with a line break double-quoted, every break escaped: PyYAML writes NEL and
    the Unicode separators raw in other styles and then reads them back folded to spaces."""
    style = '"' if _LINE_BREAKS.intersection(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(
    _EnvRef,
    lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", {"env": str(v)}, flow_style=True),
)
_Dumper.add_representer(
    _Keep,
    lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", {"keep": "live"}, flow_style=True),
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "provider"


def file_name(kind: str, key: str) -> str:
    """`social-google.yaml`, `oidc-contoso-partners.yaml`, `apple.yaml` for the singleton."""
    prefix = _PREFIX.get(kind, _slug(kind))
    slug = _slug(key)
    return f"{prefix}.yaml" if slug == prefix else f"{prefix}-{slug}.yaml"


def env_name(kind: str, key: str, path: str) -> str:
    """`IDPCTL_OIDC_CONTOSO_CLIENT_SECRET`: kind, key and field, upper snake case."""
    prefix = _PREFIX.get(kind, _slug(kind))
    leaf = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", path.rsplit(".", 1)[-1])
    parts = [prefix] if _slug(key) == prefix else [prefix, key]
    text = "_".join([*parts, leaf])
    return "IDPCTL_" + re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper()


def build(
    live: Sequence[LiveProvider],
    kinds: Mapping[str, Kind],
    *,
    schema_ref: str = SCHEMA_ID,
    keep: bool = True,
) -> Export:
    """Every managed-kind live provider as a file; the rest listed as skipped. `keep`: each
    secret as `{keep: live}` (else as its `{env: NAME}` reference)."""
    files: list[ExportedFile] = []
    secrets: list[SecretNeeded] = []
    skipped: list[Skipped] = []
    names: set[str] = set()
    for lp in sorted(live, key=lambda p: (p.kind or "", p.key or "", p.id)):
        kind = kinds.get(lp.kind) if lp.kind else None
        reason = (
            "unsupported type"
            if kind is None
            else "built-in"
            if not kind.managed
            else "no natural key"
            if lp.key is None
            else None
        )
        if reason is not None or kind is None or lp.key is None:
            name = lp.fields.get("displayName")
            skipped.append(
                Skipped(
                    lp.id,
                    lp.odata_type,
                    name if isinstance(name, str) else None,
                    reason or "unsupported type",
                )
            )
            continue
        document, needed = _document(lp, kind, keep=keep)
        secrets += needed
        name = _unique(file_name(kind.name, lp.key), names)
        files.append(ExportedFile(name, f"{kind.name}/{lp.key}", _text(document, schema_ref)))
    return Export(tuple(files), tuple(secrets), tuple(skipped))


def _unique(name: str, taken: set[str]) -> str:
    stem, n, candidate = name.removesuffix(".yaml"), 2, name
    while candidate in taken:
        candidate, n = f"{stem}-{n}.yaml", n + 1
    taken.add(candidate)
    return candidate


def _document(
    lp: LiveProvider, kind: Kind, *, keep: bool
) -> tuple[dict[str, Any], list[SecretNeeded]]:
    assert lp.key is not None
    doc: dict[str, Any] = {"kind": kind.name}
    needed: list[SecretNeeded] = []

    def secret(path: str) -> str:
        name = env_name(kind.name, lp.key or "", path)
        needed.append(SecretNeeded(f"{kind.name}/{lp.key}", path, name))
        return _Keep(name) if keep else _EnvRef(name)

    for name in kind.fields:
        value = lp.fields.get(name)
        if name in kind.write_only:
            doc[name] = secret(name)
        elif name == "clientAuthentication" and isinstance(value, Mapping):
            doc[name] = _client_auth(value, lambda: secret("clientAuthentication.clientSecret"))
        elif value is not None and value is not UNKNOWN:
            doc[name] = _plain(value)
    return doc, needed


def _client_auth(value: Mapping[str, Any], secret: Any) -> dict[str, Any]:
    subtype = str(value.get("@odata.type", "")).rsplit(".", 1)[-1].casefold()
    if subtype == _PRIVATE_JWT:
        return {"method": "private_key_jwt"}
    return {"method": "client_secret_post", "clientSecret": secret()}


def _plain(value: Any) -> Any:
    """A live value as YAML data: nested `@odata.type`, nulls and masks left out."""
    if isinstance(value, Mapping):
        return {
            k: _plain(v)
            for k, v in value.items()
            if k != "@odata.type" and v is not None and v is not UNKNOWN
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _text(document: Mapping[str, Any], schema_ref: str) -> str:
    """The file: schema comment, then the document; each `{keep: live}` gets the reference to
    write when rotating, each guessed `client_secret_post` a comment to check it. Comments are
    placed by the composed node of the value they describe, never by matching dumped text, so
    no live value (a multi-line display name) can be taken for a key line."""
    body = yaml.dump(
        dict(document),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    ends = sorted(_comments(document, yaml.compose(body, Loader=yaml.SafeLoader)), reverse=True)
    for end, comment in ends:
        if body[end] != "\n":
            raise AssertionError(f"export: a comment would not end its line at {end}")
        body = f"{body[:end]}   {comment}{body[end:]}"
    return f"# yaml-language-server: $schema={schema_ref}\n{body}"


def _comments(value: Any, node: yaml.Node | None, parent: str = "") -> list[tuple[int, str]]:
    """(character index where the value's node ends, comment) for each value that gets one:
    `document` and its composed `node` walked together."""
    if not isinstance(value, Mapping) or not isinstance(node, yaml.MappingNode):
        return []
    found: list[tuple[int, str]] = []
    for (_, value_node), (key, item) in zip(node.value, value.items(), strict=True):
        if isinstance(item, _Keep):
            found.append(
                (
                    value_node.end_mark.index,
                    f"# set outside idpctl; to rotate, write {{env: {item}}}",
                )
            )
        elif parent == "clientAuthentication" and key == "method" and item == "client_secret_post":
            found.append((value_node.end_mark.index, METHOD_COMMENT))
        elif not isinstance(item, _EnvRef):
            found += _comments(item, value_node, key)
    return found
