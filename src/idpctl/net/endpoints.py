"""Where credentials may go and what idpctl may read: the cloud's own hosts, the repository
root, and the outside-the-repository allowance.

A pull request controls every file of the repository, `idpctl.yaml` included. So a URL that
receives a token or a secret (Graph, the authority, a Key Vault reference, a Vault address)
must be https on a host the configured cloud owns, and a file a repository file names must
lie inside the configuration's root (the folder of `idpctl.yaml`). Anything else needs the
allowance, which only the person running idpctl sets, never a file:

    IDPCTL_ALLOW_ENDPOINTS=127.0.0.1:8443,vault.corp.example:8200   or --allow-endpoint ENTRY
    IDPCTL_ALLOW_PATHS=/run/secrets:/etc/idpctl                      or --allow-path DIR

An endpoint entry is `[scheme://]host[:port]`: the scheme defaults to https and the port to
the scheme's own (443, or 80 for http); `http://host:port` is the only way to let plain http
through. A path entry is a folder (or a file) whose contents may be read.

Key Vault DNS suffixes per cloud: learn.microsoft.com azure/key-vault/general/
about-keys-secrets-certificates ("DNS suffixes for base URL") and the Azure CLI's cloud table
(azure/cli/core/cloud.py: keyvault_dns, mhsm_dns). The token for a vault is asked for the
suffix as a resource (`keyvault_resource`): `https://vault.azure.net`,
`https://vault.usgovcloudapi.net`, `https://vault.azure.cn`, and `https://managedhsm.azure.net`,
`https://managedhsm.usgovcloudapi.net`, `https://managedhsm.azure.cn` for managed HSMs
(learn.microsoft.com entra/identity/managed-identities-azure-resources/
services-support-managed-identities, "Azure Key Vault" resource ids per cloud; Azure
PowerShell's AzureEnvironment `AzureKeyVaultServiceEndpointResourceId` and
`ManagedHsmServiceEndpointResourceId`).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from idpctl.errors import ConfigError

__all__ = [
    "CLOUDS",
    "ENV_ENDPOINTS",
    "ENV_PATHS",
    "Allowance",
    "Cloud",
    "NotRegularFile",
    "check_keyvault_url",
    "check_path",
    "check_url",
    "check_vault_path",
    "file_kind",
    "https_or_allowed",
    "inside",
    "keyvault_resource",
    "read_regular",
]

ENV_ENDPOINTS = "IDPCTL_ALLOW_ENDPOINTS"
ENV_PATHS = "IDPCTL_ALLOW_PATHS"
HINT = (
    f"a custom endpoint needs {ENV_ENDPOINTS}=HOST:PORT or --allow-endpoint HOST:PORT "
    "(never a repository file)"
)
PATH_HINT = f"reading outside it needs {ENV_PATHS}=DIR or --allow-path DIR"
_DEFAULT_PORTS = {"https": 443, "http": 80}
_ENTRY = re.compile(
    r"(?:(?P<scheme>https?)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+)"
    r"(?::(?P<port>\d{1,5}))?/?"
)


@dataclass(frozen=True)
class Cloud:
    """The hosts one Azure cloud owns: where its tokens and secrets may be sent."""

    graph: str  # the default Graph root URL
    authority: str  # the default sign-in root URL
    graph_hosts: frozenset[str]
    authority_hosts: frozenset[str]
    keyvault_suffixes: tuple[str, ...]  # vaults, then managed HSMs
    blob_suffixes: tuple[str, ...]  # Azure Storage blob endpoints (the azureblob state)


CLOUDS: Mapping[str, Cloud] = {
    "global": Cloud(
        "https://graph.microsoft.com",
        "https://login.microsoftonline.com",
        frozenset({"graph.microsoft.com"}),
        frozenset({"login.microsoftonline.com", "login.microsoft.com", "login.windows.net"}),
        (".vault.azure.net", ".managedhsm.azure.net"),
        (".blob.core.windows.net",),
    ),
    "usgov": Cloud(
        "https://graph.microsoft.us",
        "https://login.microsoftonline.us",
        frozenset({"graph.microsoft.us", "dod-graph.microsoft.us"}),
        frozenset({"login.microsoftonline.us"}),
        (".vault.usgovcloudapi.net", ".managedhsm.usgovcloudapi.net"),
        (".blob.core.usgovcloudapi.net",),
    ),
    "china": Cloud(
        "https://microsoftgraph.chinacloudapi.cn",
        "https://login.chinacloudapi.cn",
        frozenset({"microsoftgraph.chinacloudapi.cn"}),
        frozenset({"login.chinacloudapi.cn", "login.partner.microsoftonline.cn"}),
        (".vault.azure.cn", ".managedhsm.azure.cn"),
        (".blob.core.chinacloudapi.cn",),
    ),
}


@dataclass(frozen=True)
class Allowance:
    """Endpoints and paths the operator let through: from the environment and the command
    line only. Empty by default: nothing beyond the cloud's hosts and the repository."""

    endpoints: frozenset[tuple[str, str, int]] = frozenset()  # (scheme, host, port)
    paths: tuple[Path, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)  # where it came from, for docs

    @classmethod
    def from_sources(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        endpoints: Sequence[str] = (),
        paths: Sequence[str] = (),
    ) -> Allowance:
        """The allowance from IDPCTL_ALLOW_ENDPOINTS / IDPCTL_ALLOW_PATHS plus the flags.
        Raises ConfigError naming a malformed entry."""
        env = os.environ if env is None else env
        entries = [e for e in (env.get(ENV_ENDPOINTS) or "").split(",") if e.strip()]
        folders = [p for p in (env.get(ENV_PATHS) or "").split(os.pathsep) if p.strip()]
        return cls(
            frozenset(_endpoint(e.strip()) for e in (*entries, *endpoints)),
            tuple(
                Path(os.path.realpath(os.path.expanduser(p.strip()))) for p in (*folders, *paths)
            ),
        )

    def allows_url(self, url: str) -> bool:
        origin = _origin(url)
        return origin is not None and origin in self.endpoints

    def allows_path(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        return any(inside(real, folder) for folder in self.paths)


def _endpoint(entry: str) -> tuple[str, str, int]:
    match = _ENTRY.fullmatch(entry)
    port = int(match["port"]) if match and match["port"] else None
    if match is None or (port is not None and not 0 < port < 65536):
        raise ConfigError(
            f"{ENV_ENDPOINTS}/--allow-endpoint: {entry!r} is not [https://|http://]HOST[:PORT]"
        )
    scheme = match["scheme"] or "https"
    host = match["host"].strip("[]").lower()
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def check_url(
    url: object,
    *,
    what: str,
    hosts: Iterable[str] = (),
    suffixes: Sequence[str] = (),
    allowance: Allowance,
) -> str | None:
    """None when credentials may be sent to `url`; else the reason, one value-free line.

    Allowed: an endpoint of the allowance (http only if the entry says http), or an https URL
    on port 443 whose host is one of `hosts` or ends with one of `suffixes`."""
    if not isinstance(url, str) or not url:
        return f"{what} must be an https URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a malformed port raises here)
    except ValueError:
        return f"{what} is not a valid URL"
    if parts.username is not None or parts.password is not None:
        return f"{what} must not carry a user name or password"
    if allowance.allows_url(url):
        return None
    origin = _origin(url)
    if origin is None or origin[0] != "https":
        return f"{what} must be https (plain http needs {ENV_ENDPOINTS}=http://HOST:PORT)"
    _, host, port = origin
    own = host in set(hosts) or any(host.endswith(s) and len(host) > len(s) for s in suffixes)
    if own and port == 443:
        return None
    where = f"{host}:{port}"
    if hosts or suffixes:
        return f"{what} host {where} is not one the configured cloud owns; {HINT}"
    return f"{what} {where} is a custom endpoint outside the operator's allowance; {HINT}"


def https_or_allowed(url: object, *, what: str, allowance: Allowance) -> str | None:
    """For a URL from the environment (trusted for its host): None when it is https with a
    host, or in the allowance."""
    if isinstance(url, str) and allowance.allows_url(url):
        return None
    origin = _origin(url) if isinstance(url, str) else None
    if origin is None or origin[0] != "https":
        return f"{what} must be https (plain http needs {ENV_ENDPOINTS}=http://HOST:PORT)"
    return None


def check_keyvault_url(url: object, *, cloud: str, allowance: Allowance) -> str | None:
    """None when a `{keyVault: URL}` reference may receive the Key Vault token."""
    suffixes = CLOUDS[cloud].keyvault_suffixes if cloud in CLOUDS else ()
    reason = check_url(url, what="keyVault", suffixes=suffixes, allowance=allowance)
    if reason and "not one the configured cloud owns" in reason:
        return (
            f"keyVault host is not a Key Vault of the {cloud} cloud "
            f"(*{', *'.join(suffixes)}); {HINT}"
        )
    return reason


def keyvault_resource(url: str, *, cloud: str) -> str:
    """The resource a Key Vault token for `url` is asked for: the suffix of the configured
    cloud's vault or managed HSM the host ends with, as `https://vault.azure.net`. A stand-in
    the operator allowed (no such suffix) gets the cloud's vault resource."""
    suffixes = (
        CLOUDS[cloud].keyvault_suffixes if cloud in CLOUDS else CLOUDS["global"].keyvault_suffixes
    )
    host = (urlsplit(url).hostname or "").lower()
    suffix = next((s for s in suffixes if host.endswith(s) and len(host) > len(s)), suffixes[0])
    return "https://" + suffix.lstrip(".")


def check_vault_path(value: object, *, what: str) -> str | None:
    """None when a Vault mount or path is a plain relative path: no `..`, `.`, empty
    segment, leading slash or backslash (each would let a file steer the request elsewhere)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string"
    if value.startswith("/") or "\\" in value or ":" in value.split("/")[0]:
        return f"{what} must be relative (no leading /, no backslash, no scheme)"
    segments = value.rstrip("/").split("/")
    if any(s in ("", ".", "..") for s in segments):
        return f"{what} must not hold '..', '.' or empty segments"
    return None


def inside(path: Path, root: Path) -> bool:
    """True when `path` is `root` or below it (both already resolved)."""
    return path == root or root in path.parents


def check_path(path: Path, *, roots: Sequence[Path], allowance: Allowance, what: str) -> str | None:
    """None when `path` (after following symlinks) lies inside one of `roots` (the folder
    of idpctl.yaml, and --providers-root when given) or the allowance."""
    real = Path(os.path.realpath(path))
    if any(inside(real, Path(os.path.realpath(r))) for r in roots) or allowance.allows_path(real):
        return None
    shown = " or ".join(str(r) for r in roots)
    return f"{what} is outside the configuration's root {shown}; {PATH_HINT}"


def read_regular(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """Up to `limit` + 1 bytes of a regular file. Never blocks on a FIFO or device: it is
    opened non-blocking and refused by its type before anything is read.

    Raises OSError (FileNotFoundError, PermissionError, ...) or NotRegularFile."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(file_kind(mode))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class NotRegularFile(OSError):
    """A FIFO, device, socket or folder where a regular file was expected."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file")
        self.kind = kind
        self.strerror = f"{kind}, not a regular file"


def file_kind(mode: int) -> str:
    """`is a FIFO`, `is a folder`, ... for a mode that is not a regular file's."""
    for test, name in (
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return f"is a {name}"
    return "is a special file"
