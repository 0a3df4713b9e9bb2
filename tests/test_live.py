"""live.normalise / live.fetch: type spelling, masks, keys, unknown types, hostile items."""

from __future__ import annotations

import pytest

from idpctl.errors import GraphError
from idpctl.graph.live import canonical_type, fetch, is_masked, normalise
from idpctl.model import UNKNOWN, Kind

SOCIAL = "#microsoft.graph.socialIdentityProvider"
KINDS = {
    "oidcIdentityProvider": Kind(
        name="oidcIdentityProvider",
        odata_type="#microsoft.graph.oidcIdentityProvider",
        key_field="displayName",
        singleton_key=None,
        fields=("displayName", "clientId", "issuer", "clientAuthentication"),
        write_only=frozenset({"clientAuthentication.clientSecret"}),
    ),
    "socialIdentityProvider": Kind(
        name="socialIdentityProvider",
        odata_type="#microsoft.graph.socialIdentityProvider",
        key_field="identityProviderType",
        singleton_key=None,
        fields=("displayName", "identityProviderType", "clientId", "clientSecret"),
        write_only=frozenset({"clientSecret"}),
    ),
    "appleManagedIdentityProvider": Kind(
        name="appleManagedIdentityProvider",
        odata_type="#microsoft.graph.appleManagedIdentityProvider",
        key_field=None,
        singleton_key="Apple",
        fields=("displayName", "certificateData"),
        write_only=frozenset({"certificateData"}),
    ),
}


@pytest.mark.parametrize(
    "spelling",
    [
        "#microsoft.graph.oidcIdentityProvider",
        "microsoft.graph.oidcIdentityProvider",
        "#Microsoft.Graph.OidcIdentityProvider",
        "MICROSOFT.GRAPH.OIDCIDENTITYPROVIDER",
    ],
)
def test_type_spellings_map_to_one_kind(spelling: str) -> None:
    item = {
        "id": "g1",
        "@odata.type": spelling,
        "displayName": "Contoso",
        "clientAuthentication": {
            "@odata.type": "microsoft.graph.OIDCClientSecretAuthentication",
            "clientSecret": "*****",
        },
    }
    live = normalise(item, KINDS)
    assert live.kind == "oidcIdentityProvider"
    assert live.odata_type == "#microsoft.graph.oidcIdentityProvider"
    assert live.key == "Contoso"
    assert live.fields["clientAuthentication"] == {
        "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
        "clientSecret": UNKNOWN,
    }
    assert "@odata.type" not in live.fields and "id" not in live.fields
    assert live.raw == item


@pytest.mark.parametrize("mask", ["*", "****", "*****", "***********"])
def test_masks_are_unknown(mask: str) -> None:
    live = normalise(
        {
            "id": "Amazon-OAUTH",
            "@odata.type": SOCIAL,
            "identityProviderType": "Amazon",
            "clientSecret": mask,
        },
        KINDS,
    )
    assert live.fields["clientSecret"] is UNKNOWN
    assert live.key == "Amazon"


def test_missing_write_only_is_unknown_not_absent() -> None:
    live = normalise(
        {
            "id": "Apple-Managed-OIDC",
            "@odata.type": "#microsoft.graph.appleManagedIdentityProvider",
            "displayName": "Sign in with Apple",
        },
        KINDS,
    )
    assert live.key == "Apple"
    assert live.fields["certificateData"] is UNKNOWN
    oidc = normalise(
        {
            "id": "g2",
            "@odata.type": "#microsoft.graph.oidcIdentityProvider",
            "displayName": "X",
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication"
            },
        },
        KINDS,
    )
    assert oidc.fields["clientAuthentication"]["clientSecret"] is UNKNOWN


def test_private_jwt_has_no_secret_to_be_unknown() -> None:
    live = normalise(
        {
            "id": "g3",
            "@odata.type": "#microsoft.graph.oidcIdentityProvider",
            "displayName": "X",
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
            },
        },
        KINDS,
    )
    assert live.fields["clientAuthentication"] == {
        "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
    }


def test_plain_strings_and_empty_strings_are_not_masks() -> None:
    assert not is_masked("") and not is_masked("a*b") and not is_masked(None)
    live = normalise(
        {
            "id": "Amazon-OAUTH",
            "@odata.type": SOCIAL,
            "identityProviderType": "Amazon",
            "clientSecret": "",
        },
        KINDS,
    )
    assert live.fields["clientSecret"] == ""


def test_unknown_type_is_listed_with_no_kind() -> None:
    item = {
        "id": "fed1",
        "@odata.type": "#microsoft.graph.samlOrWsFedExternalDomainFederation",
        "displayName": "Fabrikam",
    }
    live = normalise(item, KINDS)
    assert live.kind is None and live.key is None and live.address is None
    assert live.odata_type == "#microsoft.graph.samlOrWsFedExternalDomainFederation"
    assert normalise({"id": "x"}, KINDS).kind is None


@pytest.mark.parametrize(
    "item",
    [
        "a string",
        7,
        None,
        [],
        {"@odata.type": "#microsoft.graph.socialIdentityProvider"},
        {"id": 5},
        {"id": ""},
        {"id": "x", "@odata.type": ["list"]},
    ],
)
def test_hostile_items_are_graph_errors(item: object) -> None:
    with pytest.raises(GraphError):
        normalise(item, KINDS)


def test_canonical_nested_type() -> None:
    assert canonical_type("OidcAddressInboundClaims") == "#microsoft.graph.oidcAddressInboundClaims"
    assert canonical_type("#microsoft.graph.somethingNew") == "#microsoft.graph.somethingNew"


class _Source:
    def __init__(self, items: object) -> None:
        self.items = items

    def list_providers(self) -> object:
        return self.items


def test_fetch_normalises_all_and_refuses_twins() -> None:
    items = [
        {
            "id": "a",
            "@odata.type": "#microsoft.graph.socialIdentityProvider",
            "identityProviderType": "Google",
        },
        {"id": "b", "@odata.type": "#microsoft.graph.builtInIdentityProvider"},
    ]
    got = fetch(_Source(items), KINDS)
    assert [(p.id, p.kind) for p in got] == [("a", "socialIdentityProvider"), ("b", None)]
    with pytest.raises(GraphError, match="twice"):
        fetch(_Source(items + items[:1]), KINDS)
    with pytest.raises(GraphError):
        fetch(_Source({"value": []}), KINDS)


# -- against the emulator, with the kinds from schemas/ -----------------------------------------


def test_fetch_from_the_emulator_with_real_kinds(emulator) -> None:
    from idpctl.graph.auth import token_provider
    from idpctl.graph.client import GraphClient
    from idpctl.kinds import load_kinds
    from idpctl.model import Secret

    kinds = load_kinds()
    tokens = token_provider(
        {},
        tenant=emulator.tenant,
        authority_root=emulator.base_url,
        verify=emulator.ca_path,
        env={"AZURE_CLIENT_ID": emulator.client_id, "AZURE_CLIENT_SECRET": emulator.client_secret},
    )
    with GraphClient(emulator.base_url, token_provider=tokens, verify=emulator.ca_path) as graph:
        graph.create_provider(
            {
                "@odata.type": "#microsoft.graph.socialIdentityProvider",
                "displayName": "Google",
                "identityProviderType": "Google",
                "clientId": "g-client",
                "clientSecret": Secret("CANARY-live-google", source="env:G"),
            }
        )
        live = fetch(graph, kinds)
    by_address = {p.address: p for p in live if p.address}
    google = by_address["socialIdentityProvider/Google"]
    assert google.fields["clientSecret"] is UNKNOWN
    assert google.fields["clientId"] == "g-client"
    assert "CANARY-live-google" not in repr(live)
    builtins = [p for p in live if p.kind == "builtInIdentityProvider"]
    assert builtins and all(p.key for p in builtins)
