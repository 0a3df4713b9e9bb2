"""The credential boundary of the configuration: secret references (`{env: NAME}`,
`{file: PATH}`, `{vault: ...}`, `{keyVault: URL}`, `{keep: live}`) become `SecretRef` and
`KeepLive` leaves (never resolved here), and every URL that receives a credential and every
credential file must be the configured cloud's own (https) or inside the configuration's
roots - unless the operator's allowance (`endpoints.Allowance`: environment and command line,
never a file) says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from idpctl.config.document import Document, KeyPath, base_dir, display_path, lookup, problem_at
from idpctl.errors import Problem
from idpctl.model import KeepLive, SecretRef
from idpctl.net import endpoints
from idpctl.net.endpoints import Allowance

__all__ = [
    "Boundary",
    "Configured",
    "endpoint_problems",
    "keep_problems",
    "reference_problems",
    "secret_refs",
]


class Boundary(Protocol):
    """Where a credential may go and a file may be read from (`config.settings.Settings`)."""

    @property
    def path(self) -> Path: ...  # idpctl.yaml

    @property
    def cloud(self) -> str: ...

    @property
    def roots(self) -> tuple[Path, ...]: ...

    @property
    def allowance(self) -> Allowance: ...


class Configured(Boundary, Protocol):
    """A boundary with the merged settings document it was read from."""

    @property
    def raw(self) -> Mapping[str, Any]: ...


def secret_refs(
    data: Any, paths: list[tuple[str, ...]], *, doc: Document, prefix: KeyPath = ()
) -> Any:
    """`data` with each mapping at `paths` replaced by a SecretRef (file paths made absolute,
    relative to the file that names them). Shapes were validated before."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for path in paths:
        head, rest = path[0], path[1:]
        if head not in out:
            continue
        if rest:
            out[head] = secret_refs(out[head], [rest], doc=doc, prefix=(*prefix, head))
        elif isinstance(out[head], dict) and len(out[head]) == 1:
            where = (*prefix, head)
            scheme, spec = next(iter(out[head].items()))
            if scheme == "keep":
                out[head] = KeepLive(doc.locate(where))
                continue
            if scheme == "file":
                spec = os.path.normpath(base_dir(doc, (*where, "file")) / spec)
            out[head] = SecretRef(scheme, spec, doc.locate(where))
    return out


# paths in idpctl.yaml that name a credential file
# a person's token cache (deviceCode) holds a refresh token: a pull request must not choose
# where it is written (people run idpctl on a branch's own idpctl.yaml)
_CREDENTIAL_FILES = (
    ("auth", "certificate", "path"),
    ("auth", "federatedToken", "file"),
    ("auth", "tokenCache"),
)


def endpoint_problems(settings: Configured, doc: Document) -> list[Problem]:
    """Each credential-receiving URL and credential file idpctl.yaml sets, checked against
    the cloud's hosts, the root and the allowance."""
    cloud = endpoints.CLOUDS[settings.cloud]
    owned: dict[tuple[str, ...], tuple[Any, tuple[str, ...]]] = {
        ("graph", "url"): (cloud.graph_hosts, ()),
        ("graph", "authority"): (cloud.authority_hosts, ()),
        ("vault", "address"): ((), ()),  # no host is Vault's by right: the allowance decides
        ("state", "url"): ((), cloud.blob_suffixes),
    }
    problems: list[Problem] = []
    for key, (hosts, suffixes) in owned.items():
        value = lookup(settings.raw, key)
        if value is None:
            continue
        reason = endpoints.check_url(
            value, what=".".join(key), hosts=hosts, suffixes=suffixes, allowance=settings.allowance
        )
        if reason:
            problems.append(problem_at(doc.locate(key), reason))
    for key in _CREDENTIAL_FILES:
        value = lookup(settings.raw, key)
        if isinstance(value, str):
            reason = endpoints.check_path(
                Path(value), roots=settings.roots, allowance=settings.allowance, what=".".join(key)
            )
            if reason:
                problems.append(problem_at(doc.locate(key), reason))
    mount = lookup(settings.raw, ("vault", "auth", "mount"))
    reason = endpoints.check_vault_path(mount, what="vault.auth.mount")
    if reason:
        problems.append(problem_at(doc.locate(("vault", "auth", "mount")), reason))
    return problems


def reference_problems(data: Any, settings: Boundary) -> list[Problem]:
    """A located problem for each secret reference in `data` that would send a token to a
    host the cloud does not own, read a file outside the root, or steer a Vault path."""
    problems: list[Problem] = []
    for ref in _refs(data):
        reason = _ref_problem(ref, settings)
        if reason and ref.location is not None:
            problems.append(problem_at(ref.location, reason))
        elif reason:
            problems.append(Problem(display_path(settings.path), 1, 1, reason))
    return problems


def keep_problems(value: Any) -> list[Problem]:
    """`{keep: live}` says "the provider's secret the tenant holds": idpctl's own credentials
    have no such thing."""
    if isinstance(value, KeepLive) and value.location is not None:
        return [
            problem_at(
                value.location,
                "{keep: live} is for a provider's secret only: "
                "write a reference ({env: NAME}, {file: PATH}, ...)",
            )
        ]
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in keep_problems(v)]
    return []


def _refs(value: Any) -> list[SecretRef]:
    if isinstance(value, SecretRef):
        return [value]
    if isinstance(value, Mapping):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list | tuple):
        return [r for v in value for r in _refs(v)]
    return []


def _ref_problem(ref: SecretRef, settings: Boundary) -> str | None:
    if ref.scheme == "keyVault":
        return endpoints.check_keyvault_url(
            ref.spec, cloud=settings.cloud, allowance=settings.allowance
        )
    if ref.scheme == "file" and isinstance(ref.spec, str):
        return endpoints.check_path(
            Path(ref.spec), roots=settings.roots, allowance=settings.allowance, what="file:"
        )
    if ref.scheme == "vault" and isinstance(ref.spec, Mapping):
        return endpoints.check_vault_path(
            ref.spec.get("mount"), what="vault.mount"
        ) or endpoints.check_vault_path(ref.spec.get("path"), what="vault.path")
    return None
