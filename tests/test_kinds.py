"""Per-kind knowledge read from the schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idpctl.kinds import (
    META_FIELDS,
    default_schema_dir,
    graph_fields,
    legacy_warning,
    load_kinds,
    migrate_legacy,
    natural_key,
    to_graph_body,
)
from idpctl.model import Provider, SecretRef

KINDS = load_kinds()


def test_the_graph_kinds_and_their_marks() -> None:
    assert set(KINDS) == {
        "oidcIdentityProvider",
        "openIdConnectIdentityProvider",
        "socialIdentityProvider",
        "appleManagedIdentityProvider",
        "builtInIdentityProvider",
    }
    oidc = KINDS["oidcIdentityProvider"]
    assert oidc.odata_type == "#microsoft.graph.oidcIdentityProvider"
    assert oidc.key_field == "displayName" and oidc.singleton_key is None
    assert oidc.write_only == {"clientAuthentication.clientSecret"}
    assert oidc.tenant_kinds == {"external"} and oidc.api_versions == {"v1.0", "beta"}
    assert oidc.api_version == "beta"  # in the v1.0 metadata, on no v1.0 page
    assert "issuer" in oidc.required and "kind" not in oidc.fields
    b2c = KINDS["openIdConnectIdentityProvider"]
    assert b2c.immutable == {"metadataUrl"} and b2c.write_only == {"clientSecret"}
    assert "clientSecret" not in b2c.required  # only with responseType code
    social = KINDS["socialIdentityProvider"]
    assert social.key_field == "identityProviderType"
    assert social.tenant_kinds == {"workforce", "b2c", "external"}
    apple = KINDS["appleManagedIdentityProvider"]
    assert apple.singleton_key == "Apple" and apple.write_only == {"certificateData"}
    assert KINDS["builtInIdentityProvider"].managed is False
    assert KINDS.legacy == {"openIdConnectProvider": "openIdConnectIdentityProvider"}


def test_meta_fields_match_the_schemas() -> None:
    for kind in KINDS.values():
        props = KINDS.schema(kind.name)["properties"]
        assert {n for n, p in props.items() if p.get("x-meta")} == META_FIELDS
        assert not META_FIELDS & set(kind.fields)


@pytest.mark.parametrize(
    "spelling",
    [
        "#microsoft.graph.oidcIdentityProvider",
        "microsoft.graph.oidcIdentityProvider",
        "#microsoft.graph.OidcIdentityProvider",
        "oidcIdentityProvider",
        "#MICROSOFT.GRAPH.OIDCIDENTITYPROVIDER",
    ],
)
def test_by_odata_type_any_spelling(spelling: str) -> None:
    kind = KINDS.by_odata_type(spelling)
    assert kind is not None and kind.name == "oidcIdentityProvider"


def test_by_odata_type_unknown() -> None:
    assert KINDS.by_odata_type("#microsoft.graph.samlOrWsFedProvider") is None
    assert KINDS.by_odata_type(None) is None
    assert KINDS.by_odata_type("") is None


def test_canonical_odata() -> None:
    assert (
        KINDS.canonical_odata("#microsoft.graph.OIDCClientSecretAuthentication")
        == "#microsoft.graph.oidcClientSecretAuthentication"
    )
    assert (
        KINDS.canonical_odata("microsoft.graph.socialIdentityProvider")
        == "#microsoft.graph.socialIdentityProvider"
    )
    assert (
        KINDS.canonical_odata("oidcPrivateJwtKeyClientAuthentication")
        == "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
    )
    assert KINDS.canonical_odata("samlOrWsFedProvider") == "#microsoft.graph.samlOrWsFedProvider"


def test_natural_key() -> None:
    assert natural_key(KINDS["oidcIdentityProvider"], {"displayName": "Contoso"}) == "Contoso"
    assert (
        natural_key(
            KINDS["socialIdentityProvider"], {"identityProviderType": "Google", "displayName": "G"}
        )
        == "Google"
    )
    assert natural_key(KINDS["appleManagedIdentityProvider"], {}) == "Apple"
    with pytest.raises(ValueError):
        natural_key(KINDS["oidcIdentityProvider"], {})


def test_graph_fields_client_authentication_subtypes() -> None:
    ref = SecretRef("env", "X")
    yaml_fields = {
        "kind": "oidcIdentityProvider",
        "displayName": "C",
        "protected": True,
        "clientAuthentication": {"method": "client_secret_jwt", "clientSecret": ref},
    }
    fields, method = graph_fields(KINDS["oidcIdentityProvider"], yaml_fields, KINDS)
    assert method == "client_secret_jwt"
    assert fields == {
        "displayName": "C",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": ref,
        },
    }
    fields, method = graph_fields(
        KINDS["oidcIdentityProvider"],
        {"clientAuthentication": {"method": "private_key_jwt"}},
        KINDS,
    )
    assert method == "private_key_jwt"
    assert fields["clientAuthentication"] == {
        "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
    }


def test_to_graph_body() -> None:
    provider = Provider(
        "socialIdentityProvider", "Google", {"displayName": "G", "identityProviderType": "Google"}
    )
    assert to_graph_body(provider) == {
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": "G",
        "identityProviderType": "Google",
    }


def test_migrate_legacy() -> None:
    legacy = {
        "kind": "openIdConnectProvider",
        "name": "Litware",
        "type": "OpenIDConnect",
        "clientId": "c",
        "scope": "openid",
    }
    migrated, renames = migrate_legacy(legacy, KINDS)
    assert migrated == {
        "kind": "openIdConnectIdentityProvider",
        "displayName": "Litware",
        "clientId": "c",
        "scope": "openid",
    }
    assert renames == {"name": "displayName"}
    text = legacy_warning(legacy, KINDS)
    assert "`kind: openIdConnectIdentityProvider`" in text
    assert "`displayName: Litware` instead of `name: Litware`" in text
    assert "drop `type: OpenIDConnect`" in text


def test_schemas_are_valid_json_schema() -> None:
    import jsonschema

    for path in default_schema_dir().glob("*.schema.json"):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(path.name)


def test_load_kinds_from_another_folder(tmp_path: Path) -> None:
    for path in default_schema_dir().glob("*.schema.json"):
        if "apple" not in path.name:
            (tmp_path / path.name).write_text(path.read_text())
    kinds = load_kinds(tmp_path)
    assert "appleManagedIdentityProvider" not in kinds and "oidcIdentityProvider" in kinds
