"""The GitOps verbs on shared state in a real Azurite: drift takes no lease and writes
nothing; import and the state repairs take the lease, and are refused while another run
holds it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from azurite import Azurite, running_azurite
from idpctl.graph.storage_auth import parse_connection_string
from idpctl.state.azureblob import AzureBlobStateStore
from workspace import Workspace

GOOGLE = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {env: GOOGLE_SECRET}
"""
ENV = {"GOOGLE_SECRET": "CANARY-g1"}


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as server:
        yield server


@pytest.fixture
def shared(workspace: Workspace, azurite: Azurite) -> tuple[Workspace, str]:
    blob = f"state-{uuid.uuid4().hex[:8]}.json"
    folder = workspace.root / "environments"
    folder.mkdir()
    (folder / "shared.yaml").write_text(
        "state: {backend: azureblob, connectionString: {env: IDPCTL_TEST_STATE_CS}, "
        f"container: idpctl, blob: {blob}}}\n",
        encoding="utf-8",
    )
    workspace.env.update(
        {"IDPCTL_ENV": "shared", "IDPCTL_TEST_STATE_CS": azurite.connection_string}
    )
    workspace.write("google.yaml", GOOGLE)
    workspace.apply(env=ENV)
    assert not workspace.state_path.exists()
    return workspace, blob


def blob_properties(azurite: Azurite, blob: str) -> httpx.Headers:
    url = f"{azurite.account_url}/idpctl/{blob}?{azurite.account_sas()}"
    response = httpx.head(url, headers={"x-ms-version": "2021-08-06"})
    response.raise_for_status()
    return response.headers


def test_drift_takes_no_lease_and_writes_nothing(shared, azurite) -> None:
    ws, blob = shared
    before = blob_properties(azurite, blob)
    ws.emulator.admin.drift("Google-OAUTH", {"clientId": "portal-edit"})
    result = ws.run("drift", "--format", "json")
    assert result.code == 2, result.text
    assert json.loads(result.out)["findings"][0]["kind"] == "changed"
    after = blob_properties(azurite, blob)
    assert after["etag"] == before["etag"]
    assert after.get("x-ms-lease-state") == "available"


def test_repairs_take_the_lease_and_are_refused_while_it_is_held(shared, azurite) -> None:
    ws, blob = shared
    pulled = ws.run("state", "pull")
    assert (
        pulled.code == 0 and "socialIdentityProvider/Google" in json.loads(pulled.out)["providers"]
    )
    url, auth = parse_connection_string(azurite.connection_string)
    holder = AzureBlobStateStore(account_url=url, container="idpctl", blob=blob, auth=auth)
    with holder.lock(operation="apply") as info:
        for argv in (
            ("state", "rm", "socialIdentityProvider/Google"),
            ("state", "pull"),
            ("import", "--all"),
        ):
            refused = ws.run(*argv)
            assert refused.code == 1 and info.lock_id in refused.err, (argv, refused.text)
    removed = ws.run("state", "rm", "socialIdentityProvider/Google")
    assert removed.code == 0, removed.text
    imported = ws.run("import", "socialIdentityProvider/Google")
    assert imported.code == 0, imported.text
    assert blob_properties(azurite, blob).get("x-ms-lease-state") == "available"
    plan = ws.plan(env=ENV)
    assert [c["action"] for c in plan["changes"]] == ["update"]
