"""The per-resource way, as a baseline: what Terraform's msgraph provider and Graph SDK
scripts do, with the cheapest local work we could write.

    python -m benchmarks.baseline apply|plan|update WORKSPACE

- local work: each file parsed with PyYAML's C loader, no schema checks;
- `apply`: one POST per provider not yet in its state file, 10 in flight (Terraform's
  default `-parallelism=10`), the state written once at the end;
- `plan`: one GET per provider in its state (Terraform's refresh), 10 in flight, then a
  field-by-field diff of what the files set;
- `update`: the same refresh and diff, then one PATCH per provider that differs, 10 in
  flight.

Like a plain SDK script it gives up (raises) at its first error, a 429 included.

It signs in with one client-credentials request to the emulator's token endpoint. Settings
come from WORKSPACE/baseline.json, the client secret from $IDPCTL_BENCH_CLIENT_SECRET.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = ["graph_body", "main"]

PARALLELISM = 10
COLLECTION = "/beta/identity/identityProviders"
OIDC = "#microsoft.graph.oidcIdentityProvider"
SECRET_AUTH = "#microsoft.graph.oidcClientSecretAuthentication"


def graph_body(doc: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """A provider file (the benchmark's OIDC shape) as the Graph create body."""
    body = {k: v for k, v in doc.items() if k not in ("kind", "clientAuthentication")}
    body["@odata.type"] = OIDC
    body["clientAuthentication"] = {"@odata.type": SECRET_AUTH, "clientSecret": secret}
    return body


def _desired(root: Path) -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted((root / "providers").glob("*.yaml")):
        with open(path, "rb") as handle:
            doc = yaml.load(handle, Loader=yaml.CSafeLoader)
        docs[doc["displayName"]] = doc
    return docs


def _client(settings: Mapping[str, str]) -> httpx.Client:
    verify = ssl.create_default_context(cafile=settings["ca"])
    token = httpx.post(
        f"{settings['base_url']}/{settings['tenant']}/oauth2/v2.0/token",
        verify=verify,
        trust_env=False,
        timeout=60,
        data={
            "grant_type": "client_credentials",
            "client_id": settings["client_id"],
            "client_secret": os.environ["IDPCTL_BENCH_CLIENT_SECRET"],
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    token.raise_for_status()
    limits = httpx.Limits(max_connections=PARALLELISM, max_keepalive_connections=PARALLELISM)
    return httpx.Client(
        base_url=settings["base_url"],
        verify=verify,
        trust_env=False,
        timeout=60,
        limits=limits,
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )


def apply(root: Path, client: httpx.Client) -> int:
    state_path = root / "baseline-state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    secret = os.environ.get("IDPCTL_BENCH_OIDC_SECRET", "")
    todo = [doc for name, doc in _desired(root).items() if name not in state]

    def create(doc: dict[str, Any]) -> tuple[str, str]:
        response = client.post(COLLECTION, json=graph_body(doc, secret))
        response.raise_for_status()
        return doc["displayName"], response.json()["id"]

    with ThreadPoolExecutor(PARALLELISM) as pool:
        state.update(dict(pool.map(create, todo)))
    state_path.write_text(json.dumps(state))
    print(f"created {len(todo)}")
    return 0


def _refresh(root: Path, client: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every provider in the state read back, one GET each (Terraform's refresh)."""
    state_path = root / "baseline-state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}

    def refresh(item: tuple[str, str]) -> tuple[str, dict[str, Any]]:
        response = client.get(f"{COLLECTION}/{item[1]}")
        response.raise_for_status()
        return item[0], response.json()

    with ThreadPoolExecutor(PARALLELISM) as pool:
        return state, dict(pool.map(refresh, state.items()))


def _changes(root: Path, live: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: doc
        for name, doc in _desired(root).items()
        if name not in live or _differs(doc, live[name])
    }


def plan(root: Path, client: httpx.Client) -> int:
    _, live = _refresh(root, client)
    print(f"{len(_changes(root, live))} to change")
    return 0


def update(root: Path, client: httpx.Client) -> int:
    state, live = _refresh(root, client)
    todo = [(state[name], doc) for name, doc in _changes(root, live).items() if name in state]

    def patch(item: tuple[str, dict[str, Any]]) -> None:
        body = {
            k: v
            for k, v in item[1].items()
            if k not in ("kind", "clientAuthentication", "displayName")
        }
        body["@odata.type"] = OIDC
        client.patch(f"{COLLECTION}/{item[0]}", json=body).raise_for_status()

    with ThreadPoolExecutor(PARALLELISM) as pool:
        list(pool.map(patch, todo))
    print(f"updated {len(todo)}")
    return 0


def _differs(doc: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    return any(
        _set_differs(v, live.get(k))
        for k, v in doc.items()
        if k not in ("kind", "clientAuthentication")
    )


def _set_differs(want: Any, have: Any) -> bool:
    """Only what the file sets: Graph answers a mapping with every other key as null."""
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        return any(_set_differs(v, have.get(k)) for k, v in want.items())
    return bool(want != have)


def main(argv: list[str] | None = None) -> int:
    verb, root = (argv or sys.argv[1:])[:2]
    path = Path(root)
    settings = json.loads((path / "baseline.json").read_text())
    with _client(settings) as client:
        return {"apply": apply, "plan": plan, "update": update}[verb](path, client)


if __name__ == "__main__":
    raise SystemExit(main())
