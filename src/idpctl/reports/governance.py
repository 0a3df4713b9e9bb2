"""`idpctl secrets report`: per provider, how it authenticates to its IdP, where its secret
comes from, how old it is, and what to do about it. Pure: values in, text out.

    report = build(desired, state, now=now, default_policy=policy, metadata=found, tenant=t)
    text(report) | json(report) | markdown(report)

The report never holds a secret value: sources are reference descriptions
(`vault:secret/idp/contoso#client_secret`), versions and times come from the state.
`metadata` is what the IdP's discovery document says about client authentication, when it
was read (`Metadata.checked`); the recommendation to move to private_key_jwt rests on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from idpctl.config.governance import (
    KEPT_SOURCE,
    GovernanceFinding,
    Status,
    findings,
    secret_leaves,
)
from idpctl.config.secretpolicy import DEFAULT_POLICY, SecretPolicy, format_duration, policy_for
from idpctl.model import Provider, State
from idpctl.output import json_text
from idpctl.render.markdown import span

__all__ = [
    "FORMAT_VERSION",
    "Metadata",
    "ProviderReport",
    "Report",
    "build",
    "json",
    "markdown",
    "recommend",
    "text",
]

FORMAT_VERSION = 1
SECRET_METHODS = frozenset({"client_secret_post", "client_secret_jwt"})
OIDC_KIND = "oidcIdentityProvider"  # the one kind Graph lets authenticate by private_key_jwt


@dataclass(frozen=True)
class Metadata:
    """What the IdP's discovery document said about client authentication.

    `checked` False: not read (`note` says why: --offline, no discovery URL, ...);
    `error`: read but unusable (unreachable, not JSON, ...); else `methods` is its
    `token_endpoint_auth_methods_supported` (empty when the document omits it)."""

    checked: bool
    note: str = ""
    methods: tuple[str, ...] = ()
    error: str | None = None
    url: str | None = None

    def describe(self) -> str:
        if not self.checked:
            return f"metadata not checked ({self.note})" if self.note else "metadata not checked"
        if self.error:
            return f"metadata unreadable ({self.error})"
        listed = ", ".join(self.methods) or "none listed"
        return f"token_endpoint_auth_methods_supported: {listed}"

    def to_data(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "url": self.url,
            "note": self.note or None,
            "error": self.error,
            "methods": list(self.methods) if self.checked else None,
        }


NOT_CHECKED = Metadata(checked=False)


@dataclass(frozen=True)
class ProviderReport:
    address: str
    kind: str
    method: str
    secrets: tuple[GovernanceFinding, ...]
    policy: SecretPolicy
    metadata: Metadata | None  # None: not applicable to this kind
    recommendations: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    tenant: str | None
    generated_at: datetime
    policy: SecretPolicy
    providers: tuple[ProviderReport, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for provider in self.providers:
            for finding in provider.secrets:
                counts[finding.status.value] += 1
        return counts

    def summary(self) -> str:
        c = self.counts()
        total = sum(c.values())
        return (
            f"{total} secret(s) in {len(self.providers)} provider(s): {c['ok']} ok, "
            f"{c['warn']} warn, {c['expired']} expired, {c['unknown']} unknown"
        )


def method_of(provider: Provider) -> str:
    """The OIDC client authentication method, else the kind of secret it holds."""
    if provider.auth_method:
        return provider.auth_method
    paths = [path.rsplit(".", 1)[-1] for path, _ in secret_leaves(provider.fields)]
    return ", ".join(dict.fromkeys(paths)) or "-"


def recommend(
    provider: Provider, found: Sequence[GovernanceFinding], metadata: Metadata | None
) -> tuple[str, ...]:
    """What to do, most urgent first: rotation by status, then the method."""
    out = []
    for f in found:
        if f.age is None and (f.status is Status.EXPIRED or f.source == KEPT_SOURCE):
            out.append(f"{f.path}: {f.message(address=False).split(': ', 1)[1]}")
        elif f.status is Status.EXPIRED:
            out.append(
                f"rotate {f.path} now: {format_duration(f.age or f.policy.max_age)} old,"
                f" past maxAge {format_duration(f.policy.max_age)}"
            )
        elif f.status is Status.WARN and f.expires_at is not None:
            out.append(
                f"rotate {f.path} before {f.expires_at.date().isoformat()} (maxAge "
                f"{format_duration(f.policy.max_age)})"
            )
        elif f.status is Status.UNKNOWN:
            out.append(f"apply to record when {f.path} is set (its age is unknown)")
    out.append(_method_advice(provider, metadata))
    return tuple(out)


def _method_advice(provider: Provider, metadata: Metadata | None) -> str:
    if provider.auth_method == "private_key_jwt":
        return "none for the method: private_key_jwt shares no secret"
    if provider.kind == "appleManagedIdentityProvider":
        return (
            "keep rotating: the Sign in with Apple key is the only method Graph offers "
            "(make a new key at Apple, put it in the source, apply)"
        )
    if provider.kind != OIDC_KIND or provider.auth_method not in SECRET_METHODS:
        what = provider.key if provider.kind == "socialIdentityProvider" else provider.kind
        return f"keep rotating: Graph offers {what} only a shared client secret"
    if metadata is None or not metadata.checked:
        why = f" ({metadata.note})" if metadata is not None and metadata.note else ""
        return (
            f"consider private_key_jwt; IdP metadata not checked{why}, so whether the "
            "IdP supports it is unknown"
        )
    if metadata.error:
        return (
            f"consider private_key_jwt; IdP metadata unreadable ({metadata.error}), so "
            "whether the IdP supports it is unknown"
        )
    if "private_key_jwt" in metadata.methods:
        return (
            "move to private_key_jwt: the IdP lists it in "
            "token_endpoint_auth_methods_supported, and it needs no shared secret"
        )
    return "keep rotating: the IdP's metadata does not list private_key_jwt"


def build(
    desired: Sequence[Provider],
    state: State,
    *,
    now: datetime,
    default_policy: SecretPolicy = DEFAULT_POLICY,
    metadata: Mapping[str, Metadata] | None = None,
    tenant: str | None = None,
) -> Report:
    """The report over every desired (not absent) provider, by address."""
    metadata = metadata or {}
    found = findings(desired, state, now=now, default_policy=default_policy)
    rows = []
    for provider in sorted(desired, key=lambda p: p.address):
        if provider.absent:
            continue
        mine = tuple(f for f in found if f.address == provider.address)
        meta = (
            metadata.get(provider.address, NOT_CHECKED)
            if provider.kind == OIDC_KIND and provider.auth_method in SECRET_METHODS
            else None
        )
        rows.append(
            ProviderReport(
                address=provider.address,
                kind=provider.kind,
                method=method_of(provider),
                secrets=mine,
                policy=policy_for(provider, default_policy),
                metadata=meta,
                recommendations=recommend(provider, mine, meta),
            )
        )
    return Report(tenant=tenant, generated_at=now, policy=default_policy, providers=tuple(rows))


# -- renderings ------------------------------------------------------------------------------


def _when(f: GovernanceFinding) -> str:
    if f.set_at is None or f.age is None:
        return "never set by idpctl"
    return (
        f"{f.set_at.isoformat(timespec='seconds').replace('+00:00', 'Z')} "
        f"({format_duration(f.age)} ago)"
    )


def _status(f: GovernanceFinding) -> str:
    if f.status is Status.WARN and f.expires_at is not None:
        return (
            f"warn: past warnAt {format_duration(f.policy.warn_at)}, expires "
            f"{f.expires_at.date().isoformat()}"
        )
    if f.status is Status.EXPIRED:
        return f"expired: past maxAge {format_duration(f.policy.max_age)}"
    return f.status.value


def text(report: Report) -> str:
    head = "Secrets report" + (f" for tenant {report.tenant}" if report.tenant else "")
    lines = [f"{head} (default policy: {report.policy.describe()})", ""]
    for row in report.providers:
        lines.append(row.address)
        lines.append(f"  method          {row.method}")
        if row.policy != report.policy:
            lines.append(f"  policy          {row.policy.describe()} (set in the provider file)")
        for f in row.secrets:
            lines.append(f"  secret          {f.path} from {f.source}")
            lines.append(f"    version       {f.version or '-'}")
            lines.append(f"    set           {_when(f)}")
            lines.append(f"    status        {_status(f)}")
        if not row.secrets:
            lines.append("  secret          none")
        if row.metadata is not None:
            lines.append(f"  idp metadata    {row.metadata.describe()}")
        for i, advice in enumerate(row.recommendations):
            label = "recommendation" if i == 0 else ""
            lines.append(f"  {label:<16}{advice}")
        lines.append("")
    if not report.providers:
        lines += ["No providers in the configuration.", ""]
    lines.append(report.summary() + ".")
    return "\n".join(lines) + "\n"


def to_data(report: Report) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tenant": report.tenant,
        "generatedAt": report.generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "policy": report.policy.to_data(),
        "summary": report.counts(),
        "providers": [
            {
                "address": row.address,
                "kind": row.kind,
                "method": row.method,
                "policy": row.policy.to_data(),
                "secrets": [f.to_data() for f in row.secrets],
                "metadata": row.metadata.to_data() if row.metadata is not None else None,
                "recommendations": list(row.recommendations),
            }
            for row in report.providers
        ],
    }


def json(report: Report) -> str:
    return json_text(to_data(report))


def markdown(report: Report) -> str:
    head = "## idpctl secrets report" + (f" for {span(report.tenant)}" if report.tenant else "")
    lines = [
        head,
        "",
        f"**{report.summary()}** (default policy: {report.policy.describe()})",
        "",
        "| Provider | Method | Secret | Source | Version | Age | Status | Recommendation |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.providers:
        advice = "<br>".join(_cell(a) for a in row.recommendations)
        for f in row.secrets or (None,):
            cells = [
                span(row.address),
                span(row.method),
                span(f.path) if f else "-",
                span(f.source) if f else "-",
                _cell(f.version or "-") if f else "-",
                format_duration(f.age) if f and f.age is not None else "-",
                _badge(f) if f else "-",
                advice,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines) + "\n"


def _badge(f: GovernanceFinding) -> str:
    icon = {Status.OK: "✅", Status.WARN: "⚠️", Status.EXPIRED: "❌", Status.UNKNOWN: "❔"}
    return f"{icon[f.status]} {_status(f)}"  # idpctl's own words: no outside text


def _cell(value: str) -> str:
    """Text from outside in a cell: a code span (see render_markdown.span)."""
    return span(value)
