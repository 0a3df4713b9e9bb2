"""The emulator's user-flow endpoints over HTTPS, per tenant kind: list, link, unlink, the
documented errors, the permission check and the provider delete guard (docs/userflows.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import reset_emulator
from idpctl_emulator.harness import EmulatorHandle

PROVIDERS = "/beta/identity/identityProviders"
EVENTS = (
    "microsoft.graph.externalUsersSelfServiceSignUpEventsFlow/"
    "onAuthenticationMethodLoadStart/"
    "microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp/"
    "identityProviders"
)
GOOGLE = {
    "@odata.type": "#microsoft.graph.socialIdentityProvider",
    "displayName": "Google",
    "identityProviderType": "Google",
    "clientId": "g",
    "clientSecret": "CANARY-g",
}
# tenant kind -> (flow collection, link segment, seed body)
KINDS = {
    "b2c": ("b2cUserFlows", "userFlowIdentityProviders", {"id": "SignUpSignIn"}),
    "workforce": ("b2xUserFlows", "userFlowIdentityProviders", {"id": "Partners"}),
    "external": ("authenticationEventsFlows", EVENTS, {"displayName": "Customers"}),
}


@pytest.fixture(params=sorted(KINDS))
def emu(request: pytest.FixtureRequest) -> EmulatorHandle:
    return reset_emulator(request.getfixturevalue(f"emulator_{request.param}"))


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["innerError"]["request-id"]
    if code:
        assert error["code"] == code
    return error


def _ref(emu: EmulatorHandle, provider_id: str) -> dict[str, str]:
    """The reference names the service the request goes to (docs/userflows.md 2)."""
    return {"@odata.id": f"{emu.base_url}/beta/identity/identityProviders/{provider_id}"}


def _setup(emu: EmulatorHandle) -> tuple[str, str]:
    """A Google provider and one seeded flow: (flow collection URL, flow's links URL)."""
    coll, links, seed = KINDS[emu.kind]
    with emu.graph() as graph:
        assert graph.post(PROVIDERS, json=GOOGLE).status_code == 201
    flow = emu.admin.call("POST", "/userflows", seed)
    base = f"/beta/identity/{coll}"
    return base, f"{base}/{flow['id']}/{links}"


def _linked(graph: httpx.Client, links: str) -> list[str]:
    response = graph.get(links)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["value"]]


def test_attach_list_detach(emu: EmulatorHandle) -> None:
    base, links = _setup(emu)
    with emu.graph() as graph:
        before = _linked(graph, links)
        assert graph.post(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")).status_code == 204
        assert _linked(graph, links) == [*before, "Google-OAUTH"]
        flows = graph.get(
            base, params={"$expand": "identityProviders"} if emu.kind != "external" else None
        ).json()["value"]
        inline = (
            flows[0]["onAuthenticationMethodLoadStart"]["identityProviders"]
            if emu.kind == "external"
            else flows[0]["identityProviders"]
        )
        assert [p["id"] for p in inline] == [*before, "Google-OAUTH"]
        assert all(p.get("clientSecret") != "CANARY-g" for p in inline)
        assert graph.delete(f"{links}/Google-OAUTH/$ref").status_code == 204
        assert _linked(graph, links) == before


def test_documented_errors(emu: EmulatorHandle) -> None:
    base, links = _setup(emu)
    emu.admin.set_readings(errors="detailed")  # "already exist" is the emulator's own text
    with emu.graph() as graph:
        _error(graph.post(f"{links}/$ref", json=_ref(emu, "Nope-OAUTH")), 404, "itemNotFound")
        _error(graph.post(f"{links}/$ref", json={"id": "Google-OAUTH"}), 400, "BadRequest")
        assert graph.post(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")).status_code == 204
        error = _error(graph.post(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")), 400)
        assert "already exist" in error["message"]
        wrong = _error(
            graph.put(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")), 400, "BadRequest"
        )
        assert wrong["message"] == (
            "The request is currently not supported on the targeted entity set"
        )
        _error(graph.get(f"{base}/NoSuchFlow"), 404, "itemNotFound")
        missing = links.replace(links.split("/")[4], "NoSuchFlow")
        _error(graph.post(f"{missing}/$ref", json=_ref(emu, "Google-OAUTH")), 404, "itemNotFound")
        _error(graph.delete(f"{links}/Facebook-OAUTH/$ref"), 404, "itemNotFound")
        _error(graph.get(base, params={"$filter": "id eq 'x'"}), 400, "BadRequest")


def test_patch_on_a_ref_is_405_as_graph_answers(emu: EmulatorHandle) -> None:
    """docs issue microsoft-graph-docs-contrib#9069: 'Only GET, POST, PUT, DELETE are allowed
    for $ref requests', status 405."""
    _, links = _setup(emu)
    emu.admin.set_readings(errors="detailed")  # the message is the emulator's own text
    with emu.graph() as graph:
        before = _linked(graph, links)
        for url in (f"{links}/$ref", f"{links}/Google-OAUTH/$ref"):
            error = _error(
                graph.patch(url, json=_ref(emu, "Google-OAUTH")), 405, "MethodNotAllowed"
            )
            assert "PATCH" in error["message"]
        assert _linked(graph, links) == before  # still readable, unchanged


def test_only_documented_query_options(emu: EmulatorHandle) -> None:
    """The flow list takes only `$expand=identityProviders` (B2C, B2X: the list pages'
    example 2); the undocumented `$expand=userFlowIdentityProviders`, `$filter` and `$top`
    are refused, on the list, a flow and a flow's provider list."""
    base, links = _setup(emu)
    flow = links.rsplit("/", 1)[0] if emu.kind != "external" else links.split("/microsoft")[0]
    with emu.graph() as graph:
        expanded = graph.get(base, params={"$expand": "identityProviders"})
        assert expanded.status_code == (400 if emu.kind == "external" else 200)
        for params in (
            {"$expand": "userFlowIdentityProviders"},
            {"$filter": "id eq 'x'"},
            {"$top": "1"},
            {"$expand": "*"},
        ):
            for url in (base, flow, links):
                _error(graph.get(url, params=params), 400, "BadRequest")


def test_a_reference_must_name_this_service(emu: EmulatorHandle) -> None:
    """The `@odata.id` names the Graph host the request goes to (a national cloud's, here
    the emulator's): a graph.microsoft.com reference sent elsewhere is refused."""
    _, links = _setup(emu)
    with emu.graph() as graph:
        foreign = {
            "@odata.id": "https://graph.microsoft.com/beta/identity/identityProviders/Google-OAUTH"
        }
        _error(graph.post(f"{links}/$ref", json=foreign), 400, "BadRequest")
        assert "Google-OAUTH" not in _linked(graph, links)


def test_a_provider_in_a_flow_is_not_deleted(emu: EmulatorHandle) -> None:
    _, links = _setup(emu)
    emu.admin.set_readings(errors="detailed")  # the flow's name is in the emulator's own text
    with emu.graph() as graph:
        assert graph.post(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")).status_code == 204
        error = _error(graph.delete(f"{PROVIDERS}/Google-OAUTH"), 409, "Conflict")
        assert KINDS[emu.kind][2].get("displayName", "") in error["message"]
        assert graph.delete(f"{links}/Google-OAUTH/$ref").status_code == 204
        assert graph.delete(f"{PROVIDERS}/Google-OAUTH").status_code == 204


def test_permissions(emu: EmulatorHandle) -> None:
    _, links = _setup(emu)
    family = "EventListener" if emu.kind == "external" else "IdentityUserFlow"
    clients = {
        "idp-only": ["IdentityProvider.ReadWrite.All"],
        "flow-reader": ["IdentityProvider.Read.All", f"{family}.Read.All"],
        "flow-writer": [f"{family}.ReadWrite.All"],
    }
    tokens = {}
    for name, roles in clients.items():
        emu.admin.register_client({"clientId": name, "secret": "CANARY-c", "roles": roles})
        tokens[name] = emu.token(client_id=name, client_secret="CANARY-c")
    coll = links.split("/")[3]
    with emu.graph(token=tokens["idp-only"]) as graph:
        _error(graph.get(f"/beta/identity/{coll}"), 403, "accessDenied")
        _error(graph.post(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")), 403, "accessDenied")
    with emu.graph(token=tokens["flow-reader"]) as graph:
        assert graph.get(f"/beta/identity/{coll}").status_code == 200
        _error(graph.post(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")), 403, "accessDenied")
    with emu.graph(token=tokens["flow-writer"]) as graph:
        assert graph.post(f"{links}/$ref", json=_ref(emu, "Google-OAUTH")).status_code == 204


def test_links_in_a_batch(emu: EmulatorHandle) -> None:
    _, links = _setup(emu)
    rel = links[len("/beta") :]
    body = {
        "requests": [
            {
                "id": "1",
                "method": "POST",
                "url": f"{rel}/$ref",
                "body": _ref(emu, "Google-OAUTH"),
                "headers": {"Content-Type": "application/json"},
            },
            {"id": "2", "method": "DELETE", "url": f"{rel}/Google-OAUTH/$ref", "dependsOn": ["1"]},
            {
                "id": "3",
                "method": "DELETE",
                "url": "/identity/identityProviders/Google-OAUTH",
                "dependsOn": ["2"],
            },
        ]
    }
    with emu.graph() as graph:
        answers = {
            r["id"]: r["status"] for r in graph.post("/beta/$batch", json=body).json()["responses"]
        }
    assert answers == {"1": 204, "2": 204, "3": 204}


def test_admin_seed_links_and_reset(emu: EmulatorHandle) -> None:
    _, links = _setup(emu)
    flows = emu.admin.call("GET", "/userflows")["userFlows"]
    assert len(flows) == 1
    flow = flows[0]
    if emu.kind == "b2c":
        assert flow["id"] == "B2C_1_SignUpSignIn"
    patched = emu.admin.call(
        "PATCH", f"/userflows/{flow['id']}", {"identityProviders": ["Google-OAUTH"]}
    )
    assert patched["identityProviders"] == ["Google-OAUTH"]
    with emu.graph() as graph:
        assert _linked(graph, links) == ["Google-OAUTH"]
    emu.admin.reset()
    assert emu.admin.call("GET", "/userflows") == {"userFlows": []}


def test_wrong_tenant_kind_collection(emu: EmulatorHandle) -> None:
    other = "authenticationEventsFlows" if emu.kind != "external" else "b2cUserFlows"
    with emu.graph() as graph:
        _error(graph.get(f"/beta/identity/{other}"), 400, "BadRequest")


def test_versions(emulator_b2c: EmulatorHandle, emulator: EmulatorHandle) -> None:
    reset_emulator(emulator_b2c)
    with emulator_b2c.graph() as graph:
        _error(graph.get("/v1.0/identity/b2cUserFlows"), 400, "BadRequest")
    flow = emulator.admin.call("POST", "/userflows", {"displayName": "V1"})
    with emulator.graph() as graph:
        response = graph.get(f"/v1.0/identity/authenticationEventsFlows/{flow['id']}/{EVENTS}")
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["value"]] == ["EmailPassword-OAUTH"]
        last = f"/v1.0/identity/authenticationEventsFlows/{flow['id']}/{EVENTS}/EmailPassword-OAUTH"
        _error(graph.delete(f"{last}/$ref"), 400, "BadRequest")  # at least one must stay
