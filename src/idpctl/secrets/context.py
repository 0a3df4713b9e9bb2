"""Resolve secret references into `Secret` values: `{env: NAME}`, `{file: PATH}`,
`{vault: {mount, path, key, version}}` (HashiCorp Vault / OpenBao KV v2) and
`{keyVault: URL}` (Azure Key Vault).

Every reference of a run is resolved before anything is written to Graph: `resolve` collects
all failures and raises one `SecretError` whose line names the first reference and where it
is used, plus "(and N more)". No message, log line or repr carries a value. Each distinct
reference is resolved once per `Resolver` (one per run).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idpctl import redact
from idpctl.errors import SecretError
from idpctl.model import Provider, Secret, SecretRef
from idpctl.net import tls
from idpctl.net.endpoints import Allowance, NotRegularFile, check_path, read_regular
from idpctl.secrets.fingerprint import fingerprint

__all__ = [
    "Resolver",
    "SecretContext",
    "SourceError",
    "context_for",
    "fingerprint",
    "resolve",
    "resolve_ref",
]

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024


class SourceError(Exception):
    """A value-free reason a source could not give a value; wrapped into `SecretError`."""


@dataclass(frozen=True)
class SecretContext:
    """What resolving needs besides the reference itself.

    `vault` is the `vault:` block of idpctl.yaml (or None: environment only);
    `keyvault_token(resource)` returns a bearer token for a Key Vault resource
    (`https://vault.azure.net`, or the vault's cloud's: `endpoints.keyvault_resource`);
    `verify` is the TLS verification for Key Vault (True, False or a CA bundle path).
    `cloud` names whose Key Vault hosts may receive its token; `allowance` is what the
    operator let through besides (None: the process environment's, read when used); `roots`, when
    set, are the folders `{file:}` references must lie in (or the allowance's paths).
    """

    env: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)
    vault: Mapping[str, Any] | None = None
    keyvault_token: Callable[[str], str] | None = field(default=None, repr=False)
    verify: bool | str | ssl.SSLContext = True
    timeout: float = 10.0
    cloud: str = "global"
    allowance: Allowance | None = None
    roots: tuple[Path, ...] = ()

    def allowed(self) -> Allowance:
        """The allowance in force: the one given, else the environment's."""
        return self.allowance if self.allowance is not None else Allowance.from_sources()

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        keyvault_token: Callable[[str], str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SecretContext:
        """A context from loaded `Settings` (its `vault` block and Graph CA bundle, if any)."""
        ca = getattr(settings, "ca_bundle", None)
        graph = getattr(settings, "graph", None)
        if ca is None and isinstance(graph, Mapping):
            ca = graph.get("caBundle")
        verify = tls.bundle_verify(ca)
        if keyvault_token is None:
            keyvault_token = _lazy_sign_in(settings, verify=verify, env=env)
        return cls(
            env=os.environ if env is None else env,
            vault=getattr(settings, "vault", None),
            keyvault_token=keyvault_token,
            verify=verify,
            cloud=getattr(settings, "cloud", "global"),
            allowance=getattr(settings, "allowance", None),
            roots=tuple(getattr(settings, "roots", ())),
        )


def _lazy_sign_in(settings: Any, *, verify: bool | str,
                  env: Mapping[str, str] | None) -> Callable[[str], str] | None:
    """A Key Vault token callable signing in as `settings.auth` says, on first use only, for
    callers that do not pass the Graph sign-in's own."""
    if not getattr(settings, "tenant", None) or not getattr(settings, "authority", None):
        return None
    provider: list[Any] = []

    def token(resource: str) -> str:
        from idpctl.graph import auth

        if not provider:
            provider.append(auth.token_provider(
                getattr(settings, "auth", None), tenant=settings.tenant,
                authority_root=settings.authority, verify=verify, env=env))
        return provider[0].token(resource)

    return token


class Resolver:
    """Resolves references for one run, each distinct reference once (failures included)."""

    def __init__(self, context: SecretContext | None = None) -> None:
        self.context = context or SecretContext()
        self._cache: dict[str, Secret | SourceError] = {}
        self._vault: Any = None

    def resolve_ref(self, ref: SecretRef) -> Secret:
        outcome = self._outcome(ref)
        if isinstance(outcome, SourceError):
            raise SecretError(f"cannot resolve {ref.describe()}: {outcome}")
        return outcome

    def _outcome(self, ref: SecretRef) -> Secret | SourceError:
        cache_key = f"{ref.scheme}\0{json.dumps(ref.spec, sort_keys=True, default=str)}"
        if cache_key not in self._cache:
            try:
                value, version = self._fetch(ref)
                self._cache[cache_key] = Secret(value, source=ref.describe(), version=version)
                log.debug("resolved %s (version %s)", ref.describe(), version)
            except SourceError as error:
                self._cache[cache_key] = error
                log.debug("could not resolve %s: %s", ref.describe(), error)
        return self._cache[cache_key]

    def _fetch(self, ref: SecretRef) -> tuple[str, str | None]:
        if ref.scheme == "env":
            return _from_env(ref.spec, self.context.env), None
        if ref.scheme == "file":
            return _from_file(ref.spec, context=self.context), None
        if ref.scheme == "vault":
            return self._vault_client().read(ref.spec)
        if ref.scheme == "keyVault":
            from idpctl.secrets.sources import keyvault

            return keyvault.read(ref.spec, context=self.context)
        raise SourceError(f"unknown secret source {ref.scheme!r}")

    def _vault_client(self) -> Any:
        if self._vault is None:
            from idpctl.secrets.sources import vault

            self._vault = vault.VaultClient.from_context(self.context, resolve=self.resolve_ref)
        return self._vault

    def resolve(self, providers: Sequence[Provider]) -> tuple[Provider, ...]:
        """`providers` with every `SecretRef` leaf replaced by a `Secret`; all or nothing."""
        failures: list[str] = []
        resolved = tuple(self._provider(p, failures) for p in providers)
        if failures:
            more = len(failures) - 1
            error = SecretError(failures[0] if not more else f"{failures[0]} (and {more} more)")
            error.problems = tuple(failures)  # type: ignore[attr-defined]
            raise error
        return resolved

    def _provider(self, provider: Provider, failures: list[str]) -> Provider:
        def leaf(ref: SecretRef, path: str) -> Any:
            outcome = self._outcome(ref)
            where = f"{ref.location}: " if ref.location else ""
            if isinstance(outcome, SourceError):
                failures.append(
                    f"{where}{provider.address} {path}: cannot resolve {ref.describe()}: {outcome}"
                )
                return ref
            if len(outcome.reveal()) < redact.MIN_LENGTH:
                failures.append(f"{where}{provider.address} {path}: the value of {ref.describe()} "
                                f"is shorter than {redact.MIN_LENGTH} characters: too short to "
                                "be a client secret, and too short to mask in output")
                return ref
            return outcome

        fields = _walk(provider.fields, "", leaf)
        return dataclasses.replace(provider, fields=fields)


def _walk(value: Any, path: str, leaf: Callable[[SecretRef, str], Any]) -> Any:
    if isinstance(value, SecretRef):
        return leaf(value, path or "(value)")
    if isinstance(value, Mapping):
        return {k: _walk(v, f"{path}.{k}" if path else str(k), leaf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_walk(v, f"{path}[{i}]", leaf) for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def context_for(
    settings: Any,
    *,
    keyvault_token: Callable[[str], str] | None = None,
    env: Mapping[str, str] | None = None,
) -> SecretContext:
    """The `SecretContext` for loaded settings (see `SecretContext.from_settings`)."""
    return SecretContext.from_settings(settings, keyvault_token=keyvault_token, env=env)


def resolve_ref(ref: SecretRef, *, context: SecretContext | None = None) -> Secret:
    """Resolve one reference; SecretError naming it (never its value) on failure."""
    return Resolver(context).resolve_ref(ref)


def resolve(
    providers: Sequence[Provider],
    *,
    context: SecretContext | None = None,
    settings: Any = None,
) -> tuple[Provider, ...]:
    """Resolve every reference in `providers` (a context, or one made from `settings`)."""
    if context is None and settings is not None:
        context = SecretContext.from_settings(settings)
    return Resolver(context).resolve(providers)


def _from_env(name: Any, env: Mapping[str, str]) -> str:
    if not isinstance(name, str) or not name:
        raise SourceError("the variable name must be a non-empty string")
    value = env.get(name)
    if value is None:
        raise SourceError("the environment variable is not set")
    if value == "":
        raise SourceError("the environment variable is empty")
    return value


def _from_file(spec: Any, *, context: SecretContext) -> str:
    if not isinstance(spec, str | os.PathLike) or not str(spec):
        raise SourceError("the file path must be a non-empty string")
    path = Path(spec)
    if context.roots:
        reason = check_path(path, roots=context.roots, allowance=context.allowed(),
                            what="the file")
        if reason:
            raise SourceError(reason)
    try:
        data = read_regular(path, limit=MAX_FILE_BYTES)
    except FileNotFoundError:
        raise SourceError("file not found") from None
    except (IsADirectoryError, NotRegularFile) as error:
        kind = getattr(error, "kind", "is a folder")
        raise SourceError("is a directory, not a file" if kind == "is a folder"
                          else f"the path {kind}, not a regular file") from None
    except PermissionError:
        raise SourceError("permission denied reading the file") from None
    except OSError as error:
        raise SourceError(f"cannot read the file ({error.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise SourceError("the file is larger than 1 MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError("the file is not UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise SourceError("the file is empty")
    return text
