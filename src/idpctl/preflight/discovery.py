"""The discovery preflight: is each OpenID Connect provider's metadata what Entra needs?

For every custom OIDC provider (External ID `oidcIdentityProvider.wellKnownEndpoint`, B2C
`openIdConnectIdentityProvider.metadataUrl`) fetch the discovery document and its JWKS and
compare them with the configuration (docs/preflight.md lists every check):

    findings = run(providers, ca_bundle=settings.preflight_ca_bundle,
                   limits=limits(settings))                             # -> (Finding, ...)
    problems = check(providers, settings=settings, kinds=kinds)        # validate --online

A definite misconfiguration is an "error" finding; a network failure (unreachable, timeout,
TLS, 5xx, a deadline passed) and a scope the IdP does not list are "warning" findings.
The URLs are the pull request author's: each provider's fetches end by
`preflight.providerDeadline` and the whole preflight by `preflight.runDeadline`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idpctl.errors import Problem
from idpctl.model import Finding, Location, Provider
from idpctl.preflight.fetch import DEFAULT_LIMITS, NOT_JSON, Fetched, Fetcher, Limits

__all__ = ["REQUIRED_FIELDS", "Limits", "Target", "blocking", "check", "limits", "run", "targets"]

log = logging.getLogger(__name__)

REQUIRED_FIELDS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "token_endpoint_auth_methods_supported",
    "response_types_supported",
    "jwks_uri",
)
MAX_WORKERS = 8
_B2C_METHOD = "client_secret_post"


@dataclass(frozen=True)
class Target:
    """What the preflight checks for one provider, read from its configuration."""

    address: str
    url: str  # the discovery document
    issuer: str | None  # External ID only: must equal the metadata's issuer exactly
    response_type: str | None
    response_mode: str | None  # B2C only
    method: str | None  # the client authentication method the token endpoint must accept
    scopes: tuple[str, ...] = ()
    location: Location | None = None


def targets(providers: Iterable[Provider]) -> list[Target]:
    """The providers the preflight can check (custom OIDC, not `ensure: absent`)."""
    out = []
    for p in providers:
        f = p.fields
        scopes = tuple(str(f.get("scope") or "").split())
        if p.absent:
            continue
        if p.kind == "oidcIdentityProvider" and isinstance(f.get("wellKnownEndpoint"), str):
            out.append(
                Target(
                    p.address,
                    f["wellKnownEndpoint"],
                    _str(f.get("issuer")),
                    _str(f.get("responseType")),
                    None,
                    p.auth_method,
                    scopes,
                    p.location,
                )
            )
        elif p.kind == "openIdConnectIdentityProvider" and isinstance(f.get("metadataUrl"), str):
            response_type = _str(f.get("responseType"))
            method = _B2C_METHOD if response_type == "code" else None
            out.append(
                Target(
                    p.address,
                    f["metadataUrl"],
                    None,
                    response_type,
                    _str(f.get("responseMode")),
                    method,
                    scopes,
                    p.location,
                )
            )
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def limits(settings: Any) -> Limits:
    """The fetch limits of idpctl.yaml's `preflight:` (defaults for what it does not set;
    the schema bounds each: docs/preflight.md)."""
    raw = getattr(settings, "raw", None) or {}
    section = raw.get("preflight") if isinstance(raw, Mapping) else None
    if not isinstance(section, Mapping):
        return Limits()
    base = Limits()
    return Limits(
        timeout=_seconds(section, "timeout", base.timeout),
        provider_deadline=_seconds(section, "providerDeadline", base.provider_deadline),
        run_deadline=_seconds(section, "runDeadline", base.run_deadline),
    )


def _seconds(section: Mapping[str, Any], key: str, default: float) -> float:
    value = section.get(key)
    return float(value) if isinstance(value, int | float) else default


def run(
    providers: Iterable[Provider],
    *,
    ca_bundle: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    workers: int = MAX_WORKERS,
) -> tuple[Finding, ...]:
    """Fetch and check every target concurrently (each distinct URL once), all of it by
    `limits.run_deadline` and each provider's fetches by `limits.provider_deadline`."""
    wanted = targets(providers)
    if not wanted:
        return ()
    with (
        Fetcher(ca_bundle=ca_bundle, limits=limits) as fetcher,
        ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted)))) as pool,
    ):
        results = list(pool.map(lambda t: check_target(t, fetcher), wanted))
    return tuple(finding for found in results for finding in found)


def check_target(target: Target, fetcher: Fetcher) -> list[Finding]:
    """Every finding for one provider (its discovery document and JWKS share one deadline)."""
    deadline = fetcher.deadline()
    fetched = fetcher.get(target.url, deadline=deadline)
    if fetched.problem is not None:
        name = "discovery.json" if fetched.problem == NOT_JSON else "discovery.fetch"
        return [_fetch_finding(target, name, "the discovery document", fetched)]
    doc = fetched.data
    if not isinstance(doc, Mapping):
        return [_error(target, "discovery.json", "the discovery document is not a JSON object")]
    missing = [name for name in REQUIRED_FIELDS if name not in doc]
    found = []
    if missing:
        found.append(
            _error(
                target,
                "discovery.fields",
                "the discovery document lacks " + ", ".join(missing) + " (Entra requires them)",
            )
        )
    found += _document_checks(target, doc)
    jwks_uri = doc.get("jwks_uri")
    if isinstance(jwks_uri, str):
        found += _jwks_checks(target, fetcher.get(jwks_uri, deadline=deadline))
    return found


def _document_checks(target: Target, doc: Mapping[str, Any]) -> list[Finding]:
    found = []
    issuer = doc.get("issuer")
    if target.issuer is not None and "issuer" in doc and issuer != target.issuer:
        found.append(
            _error(
                target,
                "discovery.issuer",
                f"issuer {target.issuer!r} does not equal the metadata's issuer "
                f"{_text(issuer)} (compared exactly: case and trailing slash)",
            )
        )
    found += _listed(
        target,
        doc,
        "response_types_supported",
        target.response_type,
        "discovery.response_type",
        "responseType",
    )
    if target.response_mode is not None and "response_modes_supported" in doc:
        found += _listed(
            target,
            doc,
            "response_modes_supported",
            target.response_mode,
            "discovery.response_mode",
            "responseMode",
        )
    found += _method_checks(target, doc)
    scopes = doc.get("scopes_supported")
    if isinstance(scopes, list):
        listed = {s for s in scopes if isinstance(s, str)}  # a set: both lists are outside input
        absent = [s for s in target.scopes if s not in listed]
        if absent:
            found.append(
                Finding(
                    target.address,
                    "warning",
                    "discovery.scopes",
                    "scopes_supported does not list " + ", ".join(absent),
                )
            )
    return found


def _listed(
    target: Target,
    doc: Mapping[str, Any],
    name: str,
    wanted: str | None,
    check_name: str,
    field: str,
) -> list[Finding]:
    values = doc.get(name)
    if wanted is None or name not in doc:
        return []
    if not isinstance(values, list):
        return [_error(target, check_name, f"{name} is not a list")]
    if wanted not in values:
        return [_error(target, check_name, f"{field} {wanted} is not in {name} ({_join(values)})")]
    return []


def _method_checks(target: Target, doc: Mapping[str, Any]) -> list[Finding]:
    name = "token_endpoint_auth_methods_supported"
    methods = doc.get(name)
    if target.method is None or name not in doc:
        return []
    if not isinstance(methods, list):
        return [_error(target, "discovery.auth_method", f"{name} is not a list")]
    if methods == ["client_secret_basic"]:
        return [
            _error(
                target,
                "discovery.auth_method",
                "the token endpoint accepts only "
                "client_secret_basic, which Entra refuses (it needs client_secret_post,"
                " client_secret_jwt or private_key_jwt)",
            )
        ]
    if target.method not in methods:
        return [
            _error(
                target,
                "discovery.auth_method",
                f"client authentication {target.method} is not in {name} ({_join(methods)})",
            )
        ]
    return []


def _jwks_checks(target: Target, fetched: Fetched) -> list[Finding]:
    if fetched.problem is not None:
        return [_fetch_finding(target, "jwks.fetch", "the JWKS (jwks_uri)", fetched)]
    keys = fetched.data.get("keys") if isinstance(fetched.data, Mapping) else None
    if not isinstance(keys, list):
        return [
            _error(target, "jwks.keys", "the JWKS (jwks_uri) is not a JSON key set (no keys list)")
        ]
    signing = [
        k
        for k in keys
        if isinstance(k, Mapping)
        and k.get("use", "sig") == "sig"
        and isinstance(k.get("kty"), str)
        and isinstance(k.get("kid"), str)
    ]
    if not signing:
        return [
            _error(
                target,
                "jwks.keys",
                "the JWKS (jwks_uri) holds no signing key (use: sig or no use, with kty and kid)",
            )
        ]
    return []


def _fetch_finding(target: Target, check_name: str, what: str, fetched: Fetched) -> Finding:
    severity = "warning" if fetched.network else "error"
    return Finding(
        target.address, severity, check_name, f"{what} at {fetched.url}: {fetched.problem}"
    )


def _error(target: Target, check_name: str, message: str) -> Finding:
    return Finding(target.address, "error", check_name, message)


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, str) else "(missing)"


def _join(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values) or "empty"


def blocking(findings: Iterable[Finding], *, strict: bool = False) -> list[Finding]:
    """The findings that stop plan and apply: errors, and with `strict` warnings too."""
    return [f for f in findings if f.severity == "error" or strict]


def check(providers: Sequence[Provider], *, settings: Any, kinds: Any = None) -> list[Problem]:
    """`validate --online`: the findings as located problems (at each provider's file:line)."""
    findings = run(
        providers, ca_bundle=getattr(settings, "preflight_ca_bundle", None), limits=limits(settings)
    )
    where = {p.address: p.location for p in providers}
    problems = []
    for finding in findings:
        loc = where.get(finding.address) or Location(str(getattr(settings, "path", "idpctl")), 1, 1)
        problems.append(
            Problem(
                loc.file,
                loc.line,
                loc.column,
                f"{finding.address}: {finding.message}",
                severity=finding.severity,
            )
        )
    return problems
