"""The emulator's identity-provider store: Graph semantics as plain calls (GRAPH.md)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idpctl_emulator.graphvalues import GraphFault
from idpctl_emulator.readings import Readings
from idpctl_emulator.records import retired_api
from idpctl_emulator.redaction import redact
from idpctl_emulator.store import Store

SECRET = "CANARY-store-secret-1"
SECRET2 = "CANARY-store-secret-2"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def sha(value: str) -> dict[str, str]:
    return {"sha256": hashlib.sha256(value.encode()).hexdigest()}


def social(kind: str = "Google", **extra) -> dict:
    return {
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "displayName": f"{kind} login",
        "identityProviderType": kind,
        "clientId": "social-client",
        "clientSecret": SECRET,
        **extra,
    }


def apple(**extra) -> dict:
    return {
        "@odata.type": "microsoft.graph.appleManagedIdentityProvider",
        "displayName": "Sign in with Apple",
        "developerId": "TEAM123",
        "serviceId": "com.contoso.app",
        "keyId": "KEY123",
        "certificateData": SECRET,
        **extra,
    }


def b2c_oidc(**extra) -> dict:
    return {
        "@odata.type": "microsoft.graph.openIdConnectIdentityProvider",
        "displayName": "Contoso IdP",
        "clientId": "b2c-client",
        "clientSecret": SECRET,
        "claimsMapping": {"userId": "sub", "displayName": "name", "email": "email"},
        "metadataUrl": "https://idp.contoso.com/.well-known/openid-configuration",
        "responseMode": "form_post",
        "responseType": "code",
        "scope": "openid profile",
        **extra,
    }


def oidc(**extra) -> dict:
    return {
        "@odata.type": "#microsoft.graph.oidcIdentityProvider",
        "displayName": "Contoso",
        "clientId": "ext-client",
        "issuer": "https://idp.contoso.com/t/v2.0/",
        "wellKnownEndpoint": "https://idp.contoso.com/t/v2.0/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid profile email",
        "clientAuthentication": {
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": SECRET,
        },
        "inboundClaimMapping": {"sub": "sub", "email": "email", "name": "name"},
        **extra,
    }


def without(body: dict, name: str) -> dict:
    return {k: v for k, v in body.items() if k != name}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store(kind: str = "external", **options) -> Store:
    return Store(tenant_kind=kind, tenant_id="tenant-1", **options)


def fault(call, *args, **kwargs) -> GraphFault:
    with pytest.raises(GraphFault) as info:
        call(*args, **kwargs)
    err = info.value
    assert SECRET not in err.message and SECRET2 not in err.message
    return err


def expect(status: int, code: str, call, *args, **kwargs) -> GraphFault:
    err = fault(call, *args, **kwargs)
    assert (err.status, err.code) == (status, code), err.message
    return err


# ---- types, tenant kinds, versions ---------------------------------------------------------


@pytest.mark.parametrize(
    "odata",
    [
        "#microsoft.graph.socialIdentityProvider",
        "microsoft.graph.socialIdentityProvider",
        "#Microsoft.Graph.SOCIALIDENTITYPROVIDER",
        "microsoft.graph.socialidentityprovider",
    ],
)
def test_odata_type_matched_case_insensitively_with_or_without_hash(odata):
    s = store()
    created = s.create("beta", social(**{"@odata.type": odata}))
    assert created["@odata.type"] == "#microsoft.graph.socialIdentityProvider"
    assert s.get("beta", "Google-OAUTH")["@odata.type"] == "#microsoft.graph.socialIdentityProvider"


@pytest.mark.parametrize(
    "odata",
    [
        None,
        "socialIdentityProvider",
        "#microsoft.graph.nope",
        "#microsoft.graph.identityProviderBase",
        7,
    ],
)
def test_missing_or_unknown_odata_type_is_invalid_request(odata):
    body = social() if odata is None else social(**{"@odata.type": odata})
    if odata is None:
        del body["@odata.type"]
    expect(400, "invalidRequest", store().create, "beta", body)


MATRIX = {  # GRAPH.md 2.1
    "workforce": {"social"},
    "b2c": {"social", "apple", "b2c_oidc"},
    "external": {"social", "apple", "oidc"},
}
BODIES = {"social": social, "apple": apple, "b2c_oidc": b2c_oidc, "oidc": oidc}


@pytest.mark.parametrize("kind", ["workforce", "b2c", "external"])
@pytest.mark.parametrize("name", ["social", "apple", "b2c_oidc", "oidc"])
def test_type_matrix_per_tenant_kind(kind, name):
    s = store(kind)
    body = BODIES[name]()
    if name == "social" and kind == "b2c":
        body = social("Amazon")
    if name in MATRIX[kind]:
        created = s.create("beta", body)
        assert s.get("beta", created["id"])["@odata.type"] == created["@odata.type"]
    else:
        expect(400, "notSupported", s.create, "beta", body)


def test_b2c_custom_oidc_is_beta_only():
    """openIdConnectIdentityProvider is not in the v1.0 metadata (msgraph-metadata
    clean_v10_metadata/cleanMetadata.xml)."""
    s = store("b2c")
    expect(400, "notSupported", s.create, "v1.0", BODIES["b2c_oidc"]())
    pid = s.create("beta", BODIES["b2c_oidc"]())["id"]
    expect(400, "notSupported", s.get, "v1.0", pid)
    expect(400, "notSupported", s.update, "v1.0", pid, {"displayName": "x"})
    expect(400, "notSupported", s.delete, "v1.0", pid)
    assert pid not in [item["id"] for item in s.list("v1.0")]
    assert pid in [item["id"] for item in s.list("beta")]
    assert s.get("beta", pid)["id"] == pid


def test_external_oidc_is_served_on_v1():
    """oidcIdentityProvider is in the v1.0 metadata: created on one version, it is read and
    written on either."""
    s = store("external")
    pid = s.create("v1.0", BODIES["oidc"]())["id"]
    assert s.get("beta", pid)["id"] == s.get("v1.0", pid)["id"] == pid
    s.update("v1.0", pid, {"displayName": "x"})
    assert pid in [item["id"] for item in s.list("v1.0")]
    s.delete("v1.0", pid)
    assert pid not in [item["id"] for item in s.list("beta")]


@pytest.mark.parametrize("kind", ["workforce", "b2c", "external"])
def test_social_and_apple_work_on_v1(kind):
    s = store(kind)
    body = social("Facebook")
    created = s.create("v1.0", body)
    assert created["id"] == "Facebook-OAUTH"
    s.update("v1.0", "Facebook-OAUTH", {"clientId": "new"})
    assert s.get("v1.0", "Facebook-OAUTH")["clientId"] == "new"
    if kind != "workforce":
        assert s.create("v1.0", apple())["id"] == "Apple-Managed-OIDC"
    s.delete("v1.0", "Facebook-OAUTH")
    expect(404, "itemNotFound", s.get, "v1.0", "Facebook-OAUTH")


@pytest.mark.parametrize(
    ("kind", "version", "expected"),
    [
        ("workforce", "beta", ["MicrosoftAccount", "EmailOTP", "Facebook", "Google"]),
        (
            "b2c",
            "beta",
            [
                "Microsoft",
                "Google",
                "Facebook",
                "Amazon",
                "LinkedIn",
                "Weibo",
                "QQ",
                "WeChat",
                "Twitter",
                "GitHub",
                "AppleManaged",
                "OpenIdConnect",
            ],
        ),
        (
            "external",
            "v1.0",
            ["EmailPassword", "EmailOTP", "Facebook", "Google", "AppleManaged", "OpenIdConnect"],
        ),
        (
            "b2c",
            "v1.0",
            [
                "Microsoft",
                "Google",
                "Facebook",
                "Amazon",
                "LinkedIn",
                "Weibo",
                "QQ",
                "WeChat",
                "Twitter",
                "GitHub",
                "AppleManaged",
                "OpenIdConnect",
            ],
        ),
        (
            "external",
            "beta",
            ["EmailPassword", "EmailOTP", "Facebook", "Google", "AppleManaged", "OpenIdConnect"],
        ),
    ],
)
def test_available_provider_types(kind, version, expected):
    assert store(kind).available_provider_types(version) == expected


def test_unknown_version_is_a_programming_error():
    with pytest.raises(ValueError):
        store().list("v2.0")


# ---- built-ins -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "ids"),
    [
        ("workforce", ["AADSignup-OAUTH", "MSASignup-OAUTH", "EmailOtpSignup-OAUTH"]),
        ("b2c", []),
        ("external", ["AADSignup-OAUTH", "EmailOtpSignup-OAUTH", "EmailPassword-OAUTH"]),
    ],
)
def test_builtins_seeded_per_tenant_kind(kind, ids):
    s = store(kind)
    assert [item["id"] for item in s.list("beta")] == ids
    for item in s.list("beta"):
        assert item["@odata.type"] == "#microsoft.graph.builtInIdentityProvider"
        assert item["state"] is None and item["identityProviderType"]
    assert all("state" not in item for item in s.list("v1.0"))


def test_builtins_are_read_only():
    s = store("workforce")
    expect(
        400,
        "notSupported",
        s.create,
        "beta",
        {
            "@odata.type": "#microsoft.graph.builtInIdentityProvider",
            "displayName": "x",
            "identityProviderType": "EmailOTP",
        },
    )
    expect(400, "notSupported", s.update, "beta", "MSASignup-OAUTH", {"displayName": "x"})
    expect(400, "notSupported", s.delete, "beta", "MSASignup-OAUTH")
    assert s.get("v1.0", "MSASignup-OAUTH")["displayName"] == "MicrosoftAccount"


# ---- social ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "ok", "refused"),
    [
        ("workforce", ["Google", "Facebook"], ["Amazon", "Microsoft", "GitHub"]),
        ("external", ["Google", "Facebook"], ["LinkedIn", "Twitter"]),
        (
            "b2c",
            [
                "Microsoft",
                "Google",
                "Amazon",
                "LinkedIn",
                "Facebook",
                "GitHub",
                "Twitter",
                "Weibo",
                "QQ",
                "WeChat",
            ],
            [],
        ),
    ],
)
def test_social_types_per_tenant_kind_and_ids(kind, ok, refused):
    s = store(kind)
    for name in ok:
        assert s.create("beta", social(name))["id"] == f"{name}-OAUTH"
    for name in refused:
        expect(400, "notSupported", s.create, "beta", social(name))


@pytest.mark.parametrize("value", ["google", "Okta", ""])
def test_social_unknown_type_value_is_invalid(value):
    expect(400, "invalidRequest", store().create, "beta", social(value))


def test_one_provider_per_social_type():
    s = store("b2c")
    s.create("beta", social("Google"))
    err = expect(409, "nameAlreadyExists", s.create, "beta", social("Google", displayName="2nd"))
    assert "Google-OAUTH" in err.message
    s.create("beta", social("Facebook"))


@pytest.mark.parametrize(
    "name", ["displayName", "identityProviderType", "clientId", "clientSecret"]
)
def test_social_required_properties(name):
    expect(400, "invalidRequest", store().create, "beta", without(social(), name))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("clientId", 5),
        ("clientSecret", ["x"]),
        ("displayName", None),
        ("clientSecret", None),
        ("displayName", {"a": 1}),
        ("clientId", "  "),
    ],
)
def test_social_type_errors(name, value):
    err = expect(400, "invalidRequest", store().create, "beta", social(**{name: value}))
    assert name in err.message


def test_unknown_property_and_client_chosen_id_are_refused():
    s = store()
    err = expect(400, "invalidRequest", s.create, "beta", social(scope="openid"))
    assert "'scope'" in err.message
    expect(400, "invalidRequest", s.create, "beta", social(id="Google-OAUTH"))
    expect(400, "invalidRequest", s.create, "beta", [social()])


def test_social_create_echoes_secret_and_reads_mask():
    s = store()
    assert s.create("beta", social())["clientSecret"] == SECRET  # GRAPH.md 4.1
    assert s.get("beta", "Google-OAUTH")["clientSecret"] == "******"
    assert [i["clientSecret"] for i in s.list("beta") if i["id"] == "Google-OAUTH"] == ["******"]


# ---- Apple -----------------------------------------------------------------------------------


def test_apple_singleton_id_and_mask():
    s = store("b2c")
    created = s.create("beta", apple())
    assert created["id"] == "Apple-Managed-OIDC"
    assert created["certificateData"] == "******"  # GRAPH.md 4.2
    assert s.get("beta", "Apple-Managed-OIDC")["certificateData"] == "******"
    expect(409, "nameAlreadyExists", s.create, "beta", apple(displayName="Apple 2"))


@pytest.mark.parametrize(
    "name", ["displayName", "developerId", "serviceId", "keyId", "certificateData"]
)
def test_apple_required_properties(name):
    expect(400, "invalidRequest", store("external").create, "beta", without(apple(), name))


# ---- B2C custom OIDC -------------------------------------------------------------------------


def test_b2c_oidc_id_defaults_and_masks():
    s = store("b2c")
    created = s.create("beta", b2c_oidc())
    assert created["id"] == "ContosoIdP-OIDC-b2c-client"
    assert created["clientSecret"] == "******"
    assert created["domainHint"] == ""
    got = s.get("beta", created["id"])
    assert got["clientSecret"] == "******"
    assert got["claimsMapping"] == {
        "userId": "sub",
        "displayName": "name",
        "givenName": None,
        "surname": None,
        "email": "email",
    }
    expect(409, "nameAlreadyExists", s.create, "beta", b2c_oidc())
    assert s.create("beta", b2c_oidc(clientId="other"))["id"] == "ContosoIdP-OIDC-other"


@pytest.mark.parametrize(
    "name",
    [
        "displayName",
        "clientId",
        "claimsMapping",
        "metadataUrl",
        "responseMode",
        "responseType",
        "scope",
    ],
)
def test_b2c_oidc_required_properties(name):
    expect(400, "invalidRequest", store("b2c").create, "beta", without(b2c_oidc(), name))


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"responseType": "token"}, "notSupported"),
        ({"responseType": "code id_token"}, "invalidRequest"),
        ({"responseMode": "fragment"}, "invalidRequest"),
        ({"scope": "profile email"}, "invalidRequest"),
        ({"scope": "openidx"}, "invalidRequest"),
        ({"metadataUrl": "https://idp.contoso.com/metadata"}, "invalidRequest"),
        (
            {"metadataUrl": "http://idp.contoso.com/.well-known/openid-configuration"},
            "invalidRequest",
        ),
        (
            {"metadataUrl": "https://idp.contoso.com/.well-known/openid-configuration?x=1"},
            "invalidRequest",
        ),
        ({"claimsMapping": {"userId": "sub"}}, "invalidRequest"),
        (
            {"claimsMapping": {"userId": "sub", "displayName": "name", "phone": "p"}},
            "invalidRequest",
        ),
        ({"claimsMapping": "sub"}, "invalidRequest"),
        ({"domainHint": 3}, "invalidRequest"),
    ],
)
def test_b2c_oidc_value_rules(extra, code):
    expect(400, code, store("b2c").create, "beta", b2c_oidc(**extra))


def test_b2c_oidc_secret_required_only_for_code():
    s = store("b2c")
    expect(400, "invalidRequest", s.create, "beta", without(b2c_oidc(), "clientSecret"))
    created = s.create("beta", without(b2c_oidc(responseType="id_token"), "clientSecret"))
    assert created["clientSecret"] is None
    err = expect(400, "invalidRequest", s.update, "beta", created["id"], {"responseType": "code"})
    assert "clientSecret" in err.message
    s.update("beta", created["id"], {"responseType": "code", "clientSecret": SECRET2})
    assert s.get("beta", created["id"])["clientSecret"] == "******"


def test_b2c_claims_mapping_accepts_its_odata_type_and_drops_it():
    s = store("b2c")
    mapping = {
        "@odata.type": "#microsoft.graph.claimsMapping",
        "userId": "oid",
        "displayName": "name",
    }
    created = s.create("beta", b2c_oidc(claimsMapping=mapping))
    assert "@odata.type" not in s.get("beta", created["id"])["claimsMapping"]
    bad = dict(mapping, **{"@odata.type": "#microsoft.graph.other"})
    expect(400, "invalidRequest", s.create, "beta", b2c_oidc(clientId="2", claimsMapping=bad))


# ---- External ID custom OIDC -----------------------------------------------------------------


def test_oidc_guid_id_and_masks():
    s = store("external")
    created = s.create("beta", oidc())
    assert GUID.match(created["id"])
    assert created["clientAuthentication"] == {
        "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
        "clientSecret": "*****",
    }
    got = s.get("beta", created["id"])
    assert got["clientAuthentication"]["clientSecret"] == "***********"
    assert got["inboundClaimMapping"]["email"] == "email"
    assert got["inboundClaimMapping"]["phone_number"] is None


@pytest.mark.parametrize(
    "name",
    [
        "displayName",
        "clientId",
        "issuer",
        "wellKnownEndpoint",
        "responseType",
        "scope",
        "clientAuthentication",
        "inboundClaimMapping",
    ],
)
def test_oidc_required_properties(name):
    expect(400, "invalidRequest", store().create, "beta", without(oidc(), name))


@pytest.mark.parametrize(
    "value",
    [
        "http://idp.contoso.com/v2.0",
        "HTTPS://idp.contoso.com/v2.0",
        "https://idp.contoso.com/?a=1",
        "https://idp.contoso.com/v2.0#frag",
        "https://login.microsoftonline.com/t/v2.0",
        "https://sts.MicrosoftOnline.com/t/",
        "idp.contoso.com",
        "https://",
        "",
    ],
)
def test_oidc_issuer_rules(value):
    expect(400, "invalidRequest", store().create, "beta", oidc(issuer=value))


@pytest.mark.parametrize(
    "value",
    [
        "https://idp.contoso.com/v2.0/openid-configuration",
        "http://idp.contoso.com/.well-known/openid-configuration",
        "https://idp.contoso.com/.well-known/openid-configuration#x",
        "https://idp.contoso.com/?q=.well-known/openid-configuration",
    ],
)
def test_oidc_well_known_endpoint_rules(value):
    expect(400, "invalidRequest", store().create, "beta", oidc(wellKnownEndpoint=value))


def test_oidc_well_known_endpoint_query_allowed():
    url = "https://c.b2clogin.com/c.onmicrosoft.com/v2.0/.well-known/openid-configuration?p=X"
    assert store().create("beta", oidc(wellKnownEndpoint=url))["wellKnownEndpoint"] == url


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"responseType": "id_token"}, "notSupported"),
        ({"responseType": "token"}, "notSupported"),
        ({"responseType": "Code"}, "invalidRequest"),
        ({"responseType": ["code"]}, "invalidRequest"),
        ({"scope": "profile email"}, "invalidRequest"),
        ({"supportedTenantTypes": "String"}, "invalidRequest"),
    ],
)
def test_oidc_value_rules(extra, code):
    expect(400, code, store().create, "beta", oidc(**extra))


@pytest.mark.parametrize(
    "auth",
    [
        {"clientSecret": SECRET},
        {"@odata.type": "#microsoft.graph.oidcClientAuthentication", "clientSecret": SECRET},
        {"@odata.type": "#microsoft.graph.clientSecretBasic", "clientSecret": SECRET},
        {"@odata.type": "#microsoft.graph.oidcClientSecretAuthentication"},
        {"@odata.type": "#microsoft.graph.oidcClientSecretAuthentication", "clientSecret": ""},
        {"@odata.type": "#microsoft.graph.oidcClientSecretAuthentication", "clientSecret": 5},
        {
            "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication",
            "clientSecret": SECRET,
        },
        "client_secret_post",
    ],
)
def test_oidc_client_authentication_shapes_refused(auth):
    expect(400, "invalidRequest", store().create, "beta", oidc(clientAuthentication=auth))


def test_oidc_private_key_jwt_and_odd_casing_accepted():
    s = store()
    created = s.create(
        "beta",
        oidc(
            clientAuthentication={
                "@odata.type": "microsoft.graph.OIDCPrivateJwtKeyClientAuthentication"
            }
        ),
    )
    assert created["clientAuthentication"] == {
        "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
    }
    casing = {
        "@odata.type": "#microsoft.graph.OIDCClientSecretAuthentication",
        "clientSecret": SECRET,
    }
    assert (
        s.create("beta", oidc(clientAuthentication=casing))["clientAuthentication"]["@odata.type"]
        == "#microsoft.graph.oidcClientSecretAuthentication"
    )


@pytest.mark.parametrize(
    "mapping",
    [
        {"sub": "sub"},
        {"email": "email", "nickname": "n"},
        {"email": "email", "name": 3},
        {"email": "email", "address": {"city": "c"}},
        {"email": "email", "address": "street"},
        {"@odata.type": "#microsoft.graph.claimsMapping", "email": "email"},
        [],
    ],
)
def test_oidc_inbound_claim_mapping_shapes_refused(mapping):
    expect(400, "invalidRequest", store().create, "beta", oidc(inboundClaimMapping=mapping))


def test_oidc_inbound_claim_mapping_full_shape():
    full = {
        "@odata.type": "#microsoft.graph.oidcInboundClaimMappingOverride",
        "sub": "sub",
        "name": "name",
        "given_name": "given_name",
        "family_name": "family_name",
        "email": "email",
        "email_verified": "email_verified",
        "phone_number": "phone_number",
        "phone_number_verified": "phone_number_verified",
        "address": {
            "@odata.type": "microsoft.graph.oidcAddressInboundClaims",
            "street_address": "street_address",
            "locality": "locality",
            "region": "region",
            "postal_code": "postal_code",
            "country": "country",
        },
    }
    created = store().create("beta", oidc(inboundClaimMapping=full))
    expected = {k: v for k, v in full.items() if k != "@odata.type"}
    expected["address"] = {k: v for k, v in full["address"].items() if k != "@odata.type"}
    assert created["inboundClaimMapping"] == expected


# ---- PATCH -----------------------------------------------------------------------------------


def test_patch_is_partial_and_display_name_patchable():
    s = store()
    s.create("beta", social())
    assert s.update("beta", "Google-OAUTH", {"displayName": "New"}) is None
    got = s.get("beta", "Google-OAUTH")
    assert (got["displayName"], got["clientId"], got["identityProviderType"]) == (
        "New",
        "social-client",
        "Google",
    )
    s.update(
        "beta",
        "Google-OAUTH",
        {"@odata.type": "microsoft.graph.SocialIdentityProvider", "clientSecret": SECRET2},
    )
    assert s.dump()["providers"][-1]["clientSecret"] == sha(SECRET2)


def test_patch_complex_property_replaced_whole():
    s = store(readings=Readings(patch="replace"))
    pid = s.create("beta", oidc())["id"]
    s.update("beta", pid, {"inboundClaimMapping": {"email": "mail"}})
    mapping = s.get("beta", pid)["inboundClaimMapping"]
    assert (mapping["email"], mapping["sub"], mapping["name"]) == ("mail", None, None)
    s.update(
        "beta",
        pid,
        {
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                "clientSecret": SECRET2,
            }
        },
    )
    stored = next(p for p in s.dump()["providers"] if p["id"] == pid)
    assert stored["clientAuthentication"]["clientSecret"] == sha(SECRET2)
    b = store("b2c", readings=Readings(patch="replace"))
    bid = b.create(
        "beta",
        b2c_oidc(
            claimsMapping={
                "userId": "sub",
                "displayName": "name",
                "email": "email",
                "surname": "sn",
            }
        ),
    )["id"]
    b.update("beta", bid, {"claimsMapping": {"userId": "oid", "displayName": "name"}})
    assert b.get("beta", bid)["claimsMapping"] == {
        "userId": "oid",
        "displayName": "name",
        "givenName": None,
        "surname": None,
        "email": None,
    }


def test_patch_claim_mapping_merged_by_default():
    """Reading patch=merge (the default): members not named stay, a null removes one; the
    explicit null idpctl sends for a dropped member works under both readings."""
    s = store()
    pid = s.create(
        "beta",
        oidc(
            inboundClaimMapping={
                "sub": "sub",
                "email": "email",
                "name": "name",
                "address": {"locality": "city", "country": "country"},
            }
        ),
    )["id"]
    s.update("beta", pid, {"inboundClaimMapping": {"email": "mail", "address": {"locality": None}}})
    mapping = s.get("beta", pid)["inboundClaimMapping"]
    assert (mapping["email"], mapping["sub"], mapping["name"]) == ("mail", "sub", "name")
    assert (mapping["address"]["locality"], mapping["address"]["country"]) == (None, "country")
    for reading in ("merge", "replace"):
        r = store(readings=Readings(patch=reading))
        rid = r.create("beta", oidc())["id"]
        r.update(
            "beta", rid, {"inboundClaimMapping": {"sub": "sub", "email": "email", "name": None}}
        )
        assert r.get("beta", rid)["inboundClaimMapping"]["name"] is None, reading


@pytest.mark.parametrize(
    ("shape", "expected"), [("mask", "******"), ("null", None), ("absent", "absent")]
)
def test_secret_read_back_readings(shape, expected):
    s = store(readings=Readings(secret=shape))
    s.create("beta", social())
    got = s.get("beta", "Google-OAUTH")
    assert got.get("clientSecret", "absent") == expected
    assert s.list("beta")[-1].get("clientSecret", "absent") == expected


def test_immutable_same_value_reading():
    strict, lenient = store(), store(readings=Readings(immutable="same-ok"))
    for s in (strict, lenient):
        s.create("beta", social())
    expect(
        400,
        "notAllowed",
        strict.update,
        "beta",
        "Google-OAUTH",
        {"identityProviderType": "Google", "displayName": "G"},
    )
    lenient.update("beta", "Google-OAUTH", {"identityProviderType": "Google", "displayName": "G"})
    expect(
        400,
        "notAllowed",
        lenient.update,
        "beta",
        "Google-OAUTH",
        {"identityProviderType": "Facebook"},
    )


def test_readings_parse_and_refuse_unknown():
    assert Readings.parse(["patch=replace", "secret=absent"]) == Readings(
        patch="replace", secret="absent"
    )
    for bad in (["patch"], ["nope=1"], ["patch=sideways"]):
        with pytest.raises(ValueError):
            Readings.parse(bad)
    assert Readings().label() == "default"


@pytest.mark.parametrize(
    ("kind", "make", "body"),
    [
        ("external", social, {"id": "Other-OAUTH"}),
        ("external", social, {"identityProviderType": "Facebook"}),
        ("external", social, {"identityProviderType": "Google"}),
        (
            "b2c",
            b2c_oidc,
            {"metadataUrl": "https://other.example/.well-known/openid-configuration"},
        ),
        (
            "external",
            oidc,
            {
                "clientAuthentication": {
                    "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
                }
            },
        ),
    ],
)
def test_patch_immutable_properties_refused(kind, make, body):
    s = store(kind)
    pid = s.create("beta", make())["id"]
    before = s.dump()
    expect(400, "notAllowed", s.update, "beta", pid, body)
    assert s.dump() == before


def test_patch_client_authentication_private_to_secret_refused():
    s = store()
    pid = s.create(
        "beta",
        oidc(
            clientAuthentication={
                "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"
            }
        ),
    )["id"]
    expect(
        400,
        "notAllowed",
        s.update,
        "beta",
        pid,
        {
            "clientAuthentication": {
                "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
                "clientSecret": SECRET,
            }
        },
    )


@pytest.mark.parametrize(
    "body",
    [
        {"@odata.type": "#microsoft.graph.socialIdentityProvider", "displayName": "x"},
        {"@odata.type": "#microsoft.graph.unknown", "displayName": "x"},
        {},
        {"@odata.type": "#microsoft.graph.appleManagedIdentityProvider"},
        {"developerId": None},
        {"keyId": 5},
        {"colour": "red"},
        "displayName=x",
    ],
)
def test_patch_validation(body):
    s = store("b2c")
    s.create("beta", apple())
    expect(400, "invalidRequest", s.update, "beta", "Apple-Managed-OIDC", body)


def test_patch_runs_value_rules():
    s = store()
    pid = s.create("beta", oidc())["id"]
    expect(
        400,
        "invalidRequest",
        s.update,
        "beta",
        pid,
        {"issuer": "https://login.microsoftonline.com/x/v2.0"},
    )
    expect(400, "notSupported", s.update, "beta", pid, {"responseType": "id_token"})
    s.update("beta", pid, {"issuer": "https://other.example/v2.0", "scope": "openid"})
    assert s.get("beta", pid)["issuer"] == "https://other.example/v2.0"


def test_patch_and_delete_unknown_id_not_found():
    s = store()
    err = expect(404, "itemNotFound", s.update, "beta", "Amazon-OAUTH", {"displayName": "x"})
    assert err.message == (
        "IdentityProvider with 'id': 'Amazon-OAUTH' cannot be found in the directory 'tenant-1'."
    )
    expect(404, "itemNotFound", s.delete, "beta", "Amazon-OAUTH")
    expect(404, "itemNotFound", s.get, "beta", "Amazon-OAUTH")
    s.create("beta", social())
    expect(404, "itemNotFound", s.get, "beta", "google-oauth")


def test_delete_then_recreate():
    s = store()
    s.create("beta", social())
    assert s.delete("beta", "Google-OAUTH") is None
    expect(404, "itemNotFound", s.get, "beta", "Google-OAUTH")
    assert s.create("beta", social())["id"] == "Google-OAUTH"


# ---- replication delay -----------------------------------------------------------------------


def test_replication_delay_hides_new_item_from_get_and_list():
    clock = FakeClock()
    s = store(replication_delay=2.0, clock=clock)
    s.create("beta", social())
    expect(404, "itemNotFound", s.get, "beta", "Google-OAUTH")
    assert "Google-OAUTH" not in [i["id"] for i in s.list("beta")]
    expect(409, "nameAlreadyExists", s.create, "beta", social())
    s.update("beta", "Google-OAUTH", {"displayName": "while hidden"})
    clock.now += 1.99
    assert "Google-OAUTH" not in [i["id"] for i in s.list("v1.0")]
    clock.now += 0.02
    assert s.get("beta", "Google-OAUTH")["displayName"] == "while hidden"
    assert "Google-OAUTH" in [i["id"] for i in s.list("beta")]


def test_hide_per_id_and_delete_while_hidden():
    clock = FakeClock()
    s = store(clock=clock)
    s.create("beta", social())
    s.create("beta", social("Facebook"))
    s.hide("Google-OAUTH", 5)
    expect(404, "itemNotFound", s.get, "beta", "Google-OAUTH")
    assert s.get("beta", "Facebook-OAUTH")["id"] == "Facebook-OAUTH"
    clock.now += 5
    assert s.get("beta", "Google-OAUTH")["id"] == "Google-OAUTH"
    s.hide("Google-OAUTH", 1)
    s.delete("beta", "Google-OAUTH")
    clock.now += 2
    expect(404, "itemNotFound", s.get, "beta", "Google-OAUTH")
    s.hide("No-Such-OAUTH", 1)  # no error: a fault rule may name any id


# ---- $select ---------------------------------------------------------------------------------


def test_select_returns_named_properties_plus_id_and_type():
    s = store()
    s.create("beta", social())
    pid = s.create("beta", oidc())["id"]
    items = {i["id"]: i for i in s.list("beta", select=["displayName", "clientSecret"])}
    assert items["Google-OAUTH"] == {
        "@odata.type": "#microsoft.graph.socialIdentityProvider",
        "id": "Google-OAUTH",
        "displayName": "Google login",
        "clientSecret": "******",
    }
    assert set(items[pid]) == {"@odata.type", "id", "displayName"}
    got = s.get("beta", pid, select=["issuer", "clientAuthentication"])
    assert set(got) == {"@odata.type", "id", "issuer", "clientAuthentication"}
    assert got["clientAuthentication"]["clientSecret"] == "***********"
    assert set(s.get("beta", pid, select=["", "*"])) > {"issuer", "scope"}


def test_select_unknown_property_is_invalid():
    expect(400, "invalidRequest", store().list, "beta", select=["displayname"])
    expect(400, "invalidRequest", store().list, "beta", select=["password"])


def test_context_url():
    s = store()
    base = "https://127.0.0.1:8443/"
    assert s.context_url("beta", base) == (
        "https://127.0.0.1:8443/beta/$metadata#identity/identityProviders"
    )
    assert s.context_url("v1.0", base, select=["displayName", "id"]) == (
        "https://127.0.0.1:8443/v1.0/$metadata#identity/identityProviders(displayName,id)"
    )
    assert s.context_url("beta", base, entity=True).endswith("identityProviders/$entity")


# ---- admin support ---------------------------------------------------------------------------


def test_dump_shows_write_only_values_as_sha256():
    s = store()
    s.create("beta", social())
    pid = s.create("beta", oidc())["id"]
    s.create("beta", apple(certificateData=SECRET2))
    dumped = json.dumps(s.dump())
    assert SECRET not in dumped and SECRET2 not in dumped
    by_id = {p["id"]: p for p in s.dump()["providers"]}
    assert by_id["Google-OAUTH"]["clientSecret"] == sha(SECRET)
    assert by_id[pid]["clientAuthentication"]["clientSecret"] == sha(SECRET)
    assert by_id["Apple-Managed-OIDC"]["certificateData"] == sha(SECRET2)


def test_redact_bodies_for_the_request_log():
    batch = {
        "requests": [{"id": "1", "method": "POST", "body": social()}, {"id": "2", "body": oidc()}]
    }
    out = redact(batch)
    assert SECRET not in json.dumps(out)
    assert out["requests"][0]["body"]["clientSecret"] == sha(SECRET)
    assert out["requests"][1]["body"]["clientAuthentication"]["clientSecret"] == sha(SECRET)
    assert batch["requests"][0]["body"]["clientSecret"] == SECRET  # input untouched
    assert redact({"clientSecret": "******", "value": [1, None]}) == {
        "clientSecret": "******",
        "value": [1, None],
    }
    form = f"grant_type=client_credentials&client_id=abc&client_secret={SECRET}"
    assert redact(form) == {
        "grant_type": "client_credentials",
        "client_id": "abc",
        "client_secret": sha(SECRET),
    }
    assert redact(json.dumps(social()).encode())["clientSecret"] == sha(SECRET)
    assert redact(b"") == b"" and redact(None) is None
    assert store().redact({"certificateData": SECRET}) == {"certificateData": sha(SECRET)}


def test_seed_without_validation_and_assigned_ids():
    s = store("workforce")
    seeded = s.seed(
        {
            "@odata.type": "microsoft.graph.socialIdentityProvider",
            "displayName": "Portal Amazon",
            "identityProviderType": "Amazon",
            "clientId": "c",
            "clientSecret": SECRET,
        }
    )
    assert seeded["id"] == "Amazon-OAUTH" and seeded["clientSecret"] == "******"
    assert s.get("beta", "Amazon-OAUTH")["displayName"] == "Portal Amazon"
    assert GUID.match(
        s.seed({"@odata.type": "#microsoft.graph.oidcIdentityProvider", "displayName": "x"})["id"]
    )
    assert (
        s.seed(
            {
                "@odata.type": "#microsoft.graph.socialIdentityProvider",
                "id": "Mine",
                "identityProviderType": "Google",
            }
        )["id"]
        == "Mine"
    )
    expect(
        409,
        "nameAlreadyExists",
        s.seed,
        {"@odata.type": "#microsoft.graph.socialIdentityProvider", "id": "Mine"},
    )
    expect(400, "invalidRequest", s.seed, {"displayName": "no type"})


def test_seed_visible_despite_replication_delay():
    s = store(replication_delay=30, clock=FakeClock())
    s.seed(social())
    assert s.get("beta", "Google-OAUTH")["id"] == "Google-OAUTH"


def test_drift_changes_behind_the_tools_back():
    s = store()
    s.create("beta", social())
    out = s.drift(
        "Google-OAUTH", {"displayName": "Drifted", "clientSecret": SECRET2, "id": "ignored"}
    )
    assert out["displayName"] == "Drifted" and out["clientSecret"] == "******"
    assert s.get("beta", "Google-OAUTH")["displayName"] == "Drifted"
    assert s.dump()["providers"][-1]["clientSecret"] == sha(SECRET2)
    expect(404, "itemNotFound", s.drift, "Nope", {"displayName": "x"})


def test_reset_empties_and_reseeds_builtins():
    s = store("workforce")
    s.create("beta", social())
    s.reset()
    assert [i["id"] for i in s.list("beta")] == [
        "AADSignup-OAUTH",
        "MSASignup-OAUTH",
        "EmailOtpSignup-OAUTH",
    ]


def test_snapshot_restore_round_trip_through_json():
    s = store("b2c")
    s.create("beta", social("Amazon"))
    s.create("beta", b2c_oidc())
    s.create("beta", apple())
    data = json.loads(json.dumps(s.snapshot()))
    assert SECRET not in json.dumps(data)
    other = store("b2c")
    other.restore(data)
    assert other.dump() == s.dump()
    assert other.list("beta") == s.list("beta")
    expect(409, "nameAlreadyExists", other.create, "beta", apple())
    with pytest.raises(ValueError):
        store("external").restore(data)
    with pytest.raises(ValueError):
        other.restore({"providers": []})
    for bad in ({"displayName": "no id"}, {"id": "x", "@odata.type": "#microsoft.graph.nope"}):
        with pytest.raises(ValueError):
            other.restore({**data, "providers": [bad]})


def test_restore_seals_plain_secrets_in_a_hand_written_state():
    s = store()
    data = copy.deepcopy(s.snapshot())
    data["providers"].append(
        {
            "@odata.type": "#microsoft.graph.socialIdentityProvider",
            "id": "Google-OAUTH",
            "displayName": "G",
            "identityProviderType": "Google",
            "clientId": "c",
            "clientSecret": SECRET,
        }
    )
    s.restore(data)
    assert s.dump()["providers"][-1]["clientSecret"] == sha(SECRET)


def test_retired_api():
    assert retired_api("v1.0", "GET") == (200, {"value": []})
    status, body = retired_api("beta", "GET", with_id=True)
    assert (status, body["error"]["code"]) == (404, "itemNotFound")
    for method in ("POST", "PATCH", "DELETE"):
        status, body = retired_api("beta", method)
        assert (status, body["error"]["code"]) == (400, "notSupported")


@pytest.mark.parametrize(
    "make",
    [
        lambda: social(SECRET),
        lambda: social(clientSecret=7),
        lambda: social(clientId=SECRET * 0),
        lambda: oidc(issuer=SECRET),
        lambda: oidc(issuer=f"https://{SECRET}.example/?{SECRET}"),
        lambda: oidc(wellKnownEndpoint=f"https://x.example/{SECRET}"),
        lambda: oidc(responseType=SECRET),
        lambda: oidc(scope=SECRET),
        lambda: oidc(
            clientAuthentication={
                "@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication",
                "clientSecret": SECRET,
            }
        ),
        lambda: oidc(inboundClaimMapping={"email": SECRET, "sub": 5}),
        lambda: b2c_oidc(metadataUrl=SECRET),
    ],
)
def test_no_error_message_carries_a_value(make):
    s = store("b2c") if make()["@odata.type"].endswith("openIdConnectIdentityProvider") else store()
    err = fault(s.create, "beta", make())  # fault() asserts the secret is not in the message
    assert SECRET not in repr(err)


def test_concurrent_creates_of_one_social_type_yield_one():
    s = store("b2c")
    results: list[str] = []

    def worker() -> None:
        try:
            s.create("beta", social("GitHub"))
            results.append("ok")
        except GraphFault as err:
            results.append(err.code)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["nameAlreadyExists"] * 15 + ["ok"]


@settings(max_examples=40, deadline=None)
@given(tail=st.text(max_size=40))
def test_a_secret_never_leaves_the_store_on_read(tail):
    secret = "CANARY-" + tail
    s = store()
    body = oidc(
        clientAuthentication={
            "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
            "clientSecret": secret,
        }
    )
    body["clientId"] = "c-" + hashlib.sha256(secret.encode()).hexdigest()[:8]
    pid = s.create("beta", body)["id"]
    s.create("beta", social(clientSecret=secret))
    s.update("beta", "Google-OAUTH", {"clientSecret": secret + "2"})
    reads = [
        s.list("beta"),
        s.get("beta", pid),
        s.dump(),
        s.snapshot(),
        s.drift(pid, {"displayName": "d"}),
    ]
    for read in reads:
        for value in _strings(read):
            assert secret not in value
    assert secret not in json.dumps(redact(body), ensure_ascii=False)


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
