"""What the schema cannot say about a valid-shaped `idpctl.yaml`: the tenant's form, the CA
bundles of the `graph`, `preflight` and `vault` blocks being readable PEM files, the `state`
block's local path not being a directory. Paths are absolute when these run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from idpctl.config.document import Document, display_path, lookup, problem_at
from idpctl.errors import Problem

__all__ = ["CA_BUNDLE_MAX_BYTES", "TENANT_KINDS", "printable", "settings_problems"]

# A tenant id (GUID) or a domain name: DNS labels of letters, digits and inner hyphens. It
# becomes part of sign-in and Graph URLs, so '/', '?', '#', '..', spaces, newlines never pass.
_TENANT = re.compile(
    r"[0-9A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?"
    r"(?:\.[0-9A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?)*"
)

TENANT_KINDS = ("workforce", "b2c", "external")
_CA_KEYS = (("graph", "caBundle"), ("preflight", "caBundle"), ("vault", "caCert"))
CA_BUNDLE_MAX_BYTES = 8 * 1024 * 1024
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def settings_problems(doc: Document, data: Mapping[str, Any]) -> list[Problem]:
    """What the schema cannot say about valid-shaped settings: the tenant's form, CA bundles
    that are readable PEM files, a state path that is not a directory. `data` has absolute
    paths."""
    problems = [
        problem_at(doc.locate(key), f"{'.'.join(key)}: {message}")
        for key, message in _tenant_problems(data) + _path_problems(data)
    ]
    return problems


def _tenant_problems(data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    tenant = data.get("tenant")
    if not isinstance(tenant, str) or (len(tenant) <= 253 and _TENANT.fullmatch(tenant)):
        return []
    return [
        (
            ("tenant",),
            "expected a tenant id (a GUID) or a domain name such as "
            "contoso.onmicrosoft.com (letters, digits, '-' and '.' only)",
        )
    ]


def _path_problems(data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    found: list[tuple[tuple[str, ...], str]] = []
    for key in _CA_KEYS:
        value = lookup(data, key)
        message = _pem_problem(Path(value)) if isinstance(value, str) else None
        if message:
            found.append((key, message))
    state = data.get("state") or {}
    path = state.get("path") if state.get("backend", "local") == "local" else None
    if isinstance(path, str) and os.path.isdir(path):
        found.append(
            (
                ("state", "path"),
                f"{_shown(path)} is a directory; name a file such as .idpctl/state.json",
            )
        )
    return found


def _shown(path: Path | str) -> str:
    return printable(display_path(path))


def printable(text: str) -> str:
    """`text` for a one-line message: quoted when it holds a newline or another control
    character (which would otherwise start a forged line of output)."""
    return text if text.isprintable() else repr(text)


def _pem_problem(path: Path) -> str | None:
    """Why `path` is not a PEM file of CA certificates, or None."""
    shown = _shown(path)
    if not path.exists():
        return f"{shown} does not exist"
    if not path.is_file():
        return (
            f"{shown} is {'a directory' if path.is_dir() else 'not a regular file'}, "
            "not a PEM file of CA certificates"
        )
    try:
        with open(path, "rb") as handle:
            head = handle.read(CA_BUNDLE_MAX_BYTES + 1)
    except OSError as error:
        return f"{shown} cannot be read: {error.strerror}"
    if len(head) > CA_BUNDLE_MAX_BYTES:
        return f"{shown} is larger than 8 MiB, not a PEM file of CA certificates"
    if _PEM_CERTIFICATE not in head:
        return f"{shown} is not a PEM file of CA certificates (no {_PEM_CERTIFICATE.decode()} line)"
    return None
