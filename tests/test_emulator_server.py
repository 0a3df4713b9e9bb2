"""The emulator's Graph surface over real HTTPS: routing, paging, $select, errors, request-id."""

from __future__ import annotations

from idpctl.emulator.harness import EmulatorHandle

PROVIDERS = "/beta/identity/identityProviders"


def test_list_has_context_and_request_id(emulator: EmulatorHandle) -> None:
    with emulator.graph() as graph:
        response = graph.get(PROVIDERS)
    assert response.status_code == 200
    assert response.headers["request-id"]
    body = response.json()
    assert body["@odata.context"].endswith("/beta/$metadata#identity/identityProviders")
    assert all("@odata.type" in item for item in body["value"])
