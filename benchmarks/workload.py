"""The user's repository a benchmark run works in: idpctl.yaml and N provider files.

Every provider is an External ID custom OIDC provider in a file of its own, the shape a user
writes (see providers/contoso-partners.yaml); its secret comes from one environment variable.
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SECRET_ENV", "Workspace", "make_workspace"]

SECRET_ENV = "IDPCTL_BENCH_CLIENT_SECRET"
OIDC_SECRET_ENV = "IDPCTL_BENCH_OIDC_SECRET"
OIDC_SECRET = "CANARY-bench-oidc-secret"
SCOPE = "openid profile email"
CHANGED_SCOPE = "openid profile"


def provider_yaml(i: int, *, scope: str = SCOPE) -> str:
    host = f"idp{i:05d}.example.com"
    return textwrap.dedent(f"""\
        kind: oidcIdentityProvider
        displayName: Bench {i:05d}
        clientId: 00000000-0000-4000-8000-{i:012d}
        issuer: https://{host}/
        wellKnownEndpoint: https://{host}/.well-known/openid-configuration
        responseType: code
        scope: {scope}
        clientAuthentication:
          method: client_secret_post
          clientSecret: {{env: {OIDC_SECRET_ENV}}}
        inboundClaimMapping:
          sub: sub
          name: name
          email: email
        """)


@dataclass(frozen=True)
class Workspace:
    """A repository root with idpctl.yaml, providers/ and (after apply) state.json."""

    root: Path
    count: int

    @property
    def providers(self) -> Path:
        return self.root / "providers"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    def provider_file(self, i: int) -> Path:
        return self.providers / f"bench-{i:05d}.yaml"

    def change_one(self) -> None:
        """Make exactly one provider differ from what apply wrote (its scope)."""
        self.provider_file(0).write_text(provider_yaml(0, scope=CHANGED_SCOPE), encoding="utf-8")

    def restore_one(self) -> None:
        self.provider_file(0).write_text(provider_yaml(0), encoding="utf-8")

    def forget_state(self) -> None:
        self.state.unlink(missing_ok=True)
        shutil.rmtree(self.root / ".idpctl", ignore_errors=True)


def make_workspace(
    root: Path, count: int, *, base_url: str, tenant: str, client_id: str, ca_path: str
) -> Workspace:
    """Write idpctl.yaml (rate limit off, as the benchmark asks) and `count` provider files."""
    if root.exists():
        shutil.rmtree(root)
    (root / "providers").mkdir(parents=True)
    (root / "idpctl.yaml").write_text(
        textwrap.dedent(f"""\
        tenant: {tenant}
        tenantKind: external
        graph:
          url: {base_url}
          authority: {base_url}
          caBundle: {ca_path}
          timeout: 60
          rateLimit: "off"
        auth:
          mode: secret
          clientId: {client_id}
          clientSecret: {{env: {SECRET_ENV}}}
        state: {{backend: local, path: state.json}}
        providers: providers/
        """),
        encoding="utf-8",
    )
    workspace = Workspace(root, count)
    for i in range(count):
        workspace.provider_file(i).write_text(provider_yaml(i), encoding="utf-8")
    return workspace
