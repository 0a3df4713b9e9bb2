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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from idpctl import redact
from idpctl.errors import SecretError
from idpctl.model import Provider, Secret, SecretRef
from idpctl.net.bearer import TokenSource
from idpctl.net.endpoints import NotRegularFile, check_path, read_regular
from idpctl.secrets.fingerprint import fingerprint
from idpctl.secrets.sources import SecretContext, SourceError

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
                failures.append(
                    f"{where}{provider.address} {path}: the value of {ref.describe()} "
                    f"is shorter than {redact.MIN_LENGTH} characters: too short to "
                    "be a client secret, and too short to mask in output"
                )
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
    tokens: TokenSource | None = None,
    env: Mapping[str, str] | None = None,
) -> SecretContext:
    """The `SecretContext` for loaded settings (see `SecretContext.from_settings`), asking
    `tokens` (a `net.bearer.TokenSource`; `auth.secret_context` passes one in) for Key Vault
    tokens (None: a `{keyVault:}` reference fails with a reason)."""
    return SecretContext.from_settings(
        settings, keyvault_token=None if tokens is None else tokens.token, env=env
    )


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
        reason = check_path(path, roots=context.roots, allowance=context.allowed(), what="the file")
        if reason:
            raise SourceError(reason)
    try:
        data = read_regular(path, limit=MAX_FILE_BYTES)
    except FileNotFoundError:
        raise SourceError("file not found") from None
    except (IsADirectoryError, NotRegularFile) as error:
        kind = getattr(error, "kind", "is a folder")
        raise SourceError(
            "is a directory, not a file"
            if kind == "is a folder"
            else f"the path {kind}, not a regular file"
        ) from None
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
