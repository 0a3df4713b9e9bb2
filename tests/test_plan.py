"""The planner's rules, as plain calls on values (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from idpctl.errors import PlanError, SafetyError
from idpctl.model import (
    UNKNOWN,
    Action,
    Change,
    Kind,
    LiveProvider,
    ManagedRecord,
    Plan,
    Provider,
    Reason,
    Secret,
    SecretRecord,
    SecretRef,
    State,
)
from idpctl.plan import build as planner
from idpctl.plan.secretfields import SECRET_METHODS, secret_paths
from idpctl.secrets.fingerprint import fingerprint

G = "#microsoft.graph."
SECRET_AUTH = G + "oidcClientSecretAuthentication"
JWT_AUTH = G + "oidcPrivateJwtKeyClientAuthentication"
KEY = b"k" * 32

KINDS: dict[str, Kind] = {
    "socialIdentityProvider": Kind(
        "socialIdentityProvider",
        G + "socialIdentityProvider",
        "identityProviderType",
        None,
        ("displayName", "identityProviderType", "clientId", "clientSecret"),
        write_only=frozenset({"clientSecret"}),
    ),
    "appleManagedIdentityProvider": Kind(
        "appleManagedIdentityProvider",
        G + "appleManagedIdentityProvider",
        None,
        "Apple",
        ("displayName", "developerId", "serviceId", "keyId", "certificateData"),
        write_only=frozenset({"certificateData"}),
    ),
    "openIdConnectIdentityProvider": Kind(
        "openIdConnectIdentityProvider",
        G + "openIdConnectIdentityProvider",
        "displayName",
        None,
        (
            "displayName",
            "clientId",
            "clientSecret",
            "claimsMapping",
            "domainHint",
            "metadataUrl",
            "responseMode",
            "responseType",
            "scope",
        ),
        write_only=frozenset({"clientSecret"}),
        immutable=frozenset({"metadataUrl"}),
    ),
    "oidcIdentityProvider": Kind(
        "oidcIdentityProvider",
        G + "oidcIdentityProvider",
        "displayName",
        None,
        (
            "displayName",
            "clientId",
            "issuer",
            "wellKnownEndpoint",
            "responseType",
            "scope",
            "clientAuthentication",
            "inboundClaimMapping",
        ),
        write_only=frozenset({"clientAuthentication.clientSecret"}),
    ),
    "builtInIdentityProvider": Kind(
        "builtInIdentityProvider",
        G + "builtInIdentityProvider",
        "displayName",
        None,
        ("displayName", "identityProviderType", "state"),
        managed=False,
    ),
}


def secret(value: str, name: str = "SECRET", version: str | None = None) -> Secret:
    source = f"vault:secret/idp#{name}@{version}" if version else f"env:{name}"
    return Secret(value, source=source, version=version)


def oidc_fields(name: str, value: Secret | None = None, **extra: Any) -> dict[str, Any]:
    auth: dict[str, Any] = {"@odata.type": SECRET_AUTH}
    if value is not None:
        auth["clientSecret"] = value
    else:
        auth = {"@odata.type": JWT_AUTH}
    fields = {
        "displayName": name,
        "clientId": f"client-{name}",
        "issuer": f"https://{name}.test/",
        "wellKnownEndpoint": f"https://{name}.test/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid profile email",
        "clientAuthentication": auth,
        "inboundClaimMapping": {"sub": "sub", "email": "email"},
    }
    fields.update(extra)
    return fields


def oidc(
    name: str, value: Secret | None = None, *, method: str = "client_secret_post", **extra: Any
) -> Provider:
    if value is None:
        method = "private_key_jwt"
    return Provider(
        "oidcIdentityProvider", name, oidc_fields(name, value, **extra), auth_method=method
    )


def live_of(provider: Provider, graph_id: str, **changes: Any) -> LiveProvider:
    """The live read-back of a provider as Graph would return it: secrets masked."""
    fields = {k: _mask(v) for k, v in provider.fields.items()}
    fields.update(changes)
    kind = KINDS[provider.kind]
    return LiveProvider(
        graph_id,
        kind.odata_type,
        provider.kind,
        provider.key,
        fields,
        raw={"id": graph_id, "@odata.type": kind.odata_type, **fields},
    )


def _mask(value: Any) -> Any:
    if isinstance(value, Secret):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {k: _mask(v) for k, v in value.items()}
    return value


def record_of(
    provider: Provider,
    graph_id: str,
    *,
    version: str | None = None,
    fp: str | None = None,
    auth_method: str | None = None,
) -> ManagedRecord:
    secrets = {}
    for path, leaf in secret_paths(provider.fields):
        secrets[path] = SecretRecord(
            fp or fingerprint(KEY, leaf),
            "2026-01-01T00:00:00Z",
            leaf.source,
            version or leaf.version,
        )
    return ManagedRecord(
        provider.kind,
        provider.key,
        graph_id,
        auth_method=auth_method or provider.auth_method,
        secrets=secrets,
    )


def state_of(*records: ManagedRecord, serial: int = 3) -> State:
    return State(serial, "lineage-1", KEY, {r.address: r for r in records})


def plan_of(
    desired: list[Provider], live: list[LiveProvider], state: State | None = None, **options: Any
) -> Plan:
    return planner.build(tuple(desired), tuple(live), state or state_of(), kinds=KINDS, **options)


def managed(
    provider: Provider, graph_id: str, **live_changes: Any
) -> tuple[LiveProvider, ManagedRecord]:
    return live_of(provider, graph_id, **live_changes), record_of(provider, graph_id)


def only(plan: Plan) -> Change:
    assert len(plan.changes) == 1, plan.changes
    return plan.changes[0]


def walk(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [x for v in value.values() for x in walk(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in walk(v)]
    return [value]


# ---- create, update, unchanged ---------------------------------------------------------------


def test_create_sends_the_full_body_with_type_and_secret_objects() -> None:
    s = secret("CANARY-create")
    change = only(plan_of([oidc("Contoso", s)], []))
    assert change.action is Action.CREATE and change.graph_id is None
    assert change.body is not None
    assert change.body["@odata.type"] == G + "oidcIdentityProvider"
    assert change.body["clientAuthentication"]["clientSecret"] is s
    assert change.body["displayName"] == "Contoso"


def test_apply_then_plan_is_empty() -> None:
    p = oidc("Contoso", secret("CANARY-same"))
    lp, rec = managed(p, "id-1")
    result = plan_of([p], [lp], state_of(rec))
    assert result.changes == () and result.unchanged == ("oidcIdentityProvider/Contoso",)
    assert result.summary() == "No changes."


def test_update_only_fields_the_user_set_and_changed() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(p, "id-1", scope="openid", supportedTenantTypes="x")
    change = only(plan_of([p], [lp], state_of(rec)))
    assert change.action is Action.UPDATE and change.graph_id == "id-1"
    assert [f.name for f in change.fields] == ["scope"]
    assert change.fields[0].before == "openid"
    assert change.body == {
        "@odata.type": G + "oidcIdentityProvider",
        "scope": "openid profile email",
    }


def test_member_added_in_the_portal_is_shown_and_removed_by_the_patch() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    portal = {"sub": "sub", "email": "email", "name": "name"}
    lp, rec = managed(p, "id-1", inboundClaimMapping=portal)
    change = only(plan_of([p], [lp], state_of(rec)))
    field = change.fields[0]
    assert field.name == "inboundClaimMapping" and field.before == portal
    assert change.body is not None
    # an explicit null for the dropped member: it goes under either PATCH reading (replace
    # whole or merge), docs/emulator-graph.md "Assumptions and their switches"
    assert change.body["inboundClaimMapping"] == {"sub": "sub", "email": "email", "name": None}


def test_dropped_nested_member_gets_an_explicit_null_and_nothing_else_does() -> None:
    p = oidc(
        "Contoso",
        secret("CANARY-x"),
        inboundClaimMapping={"sub": "sub", "email": "email", "address": {"country": "country"}},
    )
    lp, rec = managed(
        p,
        "id-1",
        inboundClaimMapping={
            "sub": "sub",
            "email": "email",
            "given_name": None,
            "phone_number": UNKNOWN,
            "address": {"country": "country", "locality": "city", "region": None},
            "@odata.type": G + "oidcInboundClaimMappingOverride",
        },
    )
    change = only(plan_of([p], [lp], state_of(rec)))
    assert change.body is not None
    assert change.body["inboundClaimMapping"] == {
        "sub": "sub",
        "email": "email",
        "address": {"country": "country", "locality": None},
    }


def test_null_members_and_nested_type_spelling_are_not_differences() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(
        p,
        "id-1",
        inboundClaimMapping={
            "sub": "sub",
            "email": "email",
            "name": None,
            "@odata.type": G + "oidcInboundClaimMappingOverride",
        },
        clientAuthentication={
            "@odata.type": "#Microsoft.Graph.OIDCClientSecretAuthentication",
            "clientSecret": UNKNOWN,
        },
    )
    assert plan_of([p], [lp], state_of(rec)).changes == ()


def test_masked_secret_is_never_a_difference_by_itself() -> None:
    social = Provider(
        "socialIdentityProvider",
        "Google",
        {
            "displayName": "Google",
            "identityProviderType": "Google",
            "clientId": "g",
            "clientSecret": secret("CANARY-g"),
        },
    )
    lp, rec = managed(social, "Google-OAUTH")
    assert lp.fields["clientSecret"] is UNKNOWN
    assert plan_of([social], [lp], state_of(rec)).changes == ()
    # a read-back with the secret missing or as a mask string is not one either
    lp2 = live_of(social, "Google-OAUTH", clientSecret=UNKNOWN)
    assert plan_of([social], [lp2], state_of(rec)).changes == ()


# ---- secrets -----------------------------------------------------------------------------


def test_rotation_by_fingerprint_sends_the_whole_complex_value() -> None:
    old, new = oidc("Contoso", secret("CANARY-old")), oidc("Contoso", secret("CANARY-new"))
    lp, rec = managed(old, "id-1")
    change = only(plan_of([new], [lp], state_of(rec)))
    assert change.action is Action.UPDATE
    [field] = change.fields
    assert field.name == "clientAuthentication.clientSecret" and field.sensitive
    assert field.note == "rotate" and field.before is None and field.after is None
    assert change.body is not None
    assert change.body["clientAuthentication"] == new.fields["clientAuthentication"]
    assert (
        change.body["clientAuthentication"]["clientSecret"]
        is new.fields["clientAuthentication"]["clientSecret"]
    )


def test_version_aware_rotation_note() -> None:
    def apple(value: str, version: str) -> Provider:
        return Provider(
            "appleManagedIdentityProvider",
            "Apple",
            {
                "displayName": "Sign in with Apple",
                "developerId": "D",
                "serviceId": "S",
                "keyId": "K",
                "certificateData": secret(value, "apple", version),
            },
        )

    lp, rec = managed(apple("CANARY-7", "7"), "Apple-Managed-OIDC")
    change = only(plan_of([apple("CANARY-8", "8")], [lp], state_of(rec)))
    assert change.fields[0].note == "rotate (vault version 7 -> 8)"
    assert change.body is not None and set(change.body) == {"@odata.type", "certificateData"}


def test_no_fingerprint_known_means_will_be_set() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp = live_of(p, "id-1")
    rec = ManagedRecord(p.kind, p.key, "id-1", auth_method=p.auth_method)
    change = only(plan_of([p], [lp], state_of(rec)))
    assert change.fields[0].note == "will be set"
    assert change.body is not None and "clientAuthentication" in change.body


def test_rotate_requested_resends_an_unchanged_secret() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(p, "id-1")
    change = only(plan_of([p], [lp], state_of(rec), rotate=(p.address,)))
    assert change.fields[0].note == "rotate (requested)"
    assert change.body is not None and "clientAuthentication" in change.body


def test_rotate_of_something_without_secrets_warns() -> None:
    p = oidc("Contoso")
    lp, rec = managed(p, "id-1")
    result = plan_of([p], [lp], state_of(rec), rotate=(p.address, "oidcIdentityProvider/X"))
    assert result.changes == ()
    assert len(result.warnings) == 2


@pytest.mark.parametrize("field", ["issuer", "wellKnownEndpoint", "clientId"])
def test_rebinding_guard_carries_the_secret(field: str) -> None:
    s = secret("CANARY-x")
    p = oidc("Contoso", s)
    lp, rec = managed(p, "id-1", **{field: "https://old.test/"})
    change = only(plan_of([p], [lp], state_of(rec)))
    assert change.body is not None and change.body[field] == p.fields[field]
    assert change.body["clientAuthentication"]["clientSecret"] is s
    notes = {f.name: f.note for f in change.fields}
    assert notes["clientAuthentication.clientSecret"] == f"re-sent ({field} changed)"


def test_rebinding_guard_on_b2c_metadata_clientid_top_level_secret() -> None:
    s = secret("CANARY-b2c")
    p = b2c("Partner", s)
    lp, rec = managed(p, "OIDC-1", clientId="old")
    change = only(plan_of([p], [lp], state_of(rec)))
    assert change.body is not None and change.body["clientSecret"] is s


def b2c(name: str, value: Secret | None = None, **extra: Any) -> Provider:
    fields: dict[str, Any] = {
        "displayName": name,
        "clientId": "b2c-client",
        "claimsMapping": {"userId": "sub", "displayName": "name"},
        "metadataUrl": f"https://{name}.test/.well-known/openid-configuration",
        "responseMode": "form_post",
        "responseType": "code",
        "scope": "openid",
    }
    if value is not None:
        fields["clientSecret"] = value
    fields.update(extra)
    return Provider("openIdConnectIdentityProvider", name, fields)


def test_no_unknown_in_any_body_even_when_live_is_masked() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(p, "id-1", issuer="https://other.test/", inboundClaimMapping={"sub": UNKNOWN})
    for result in (plan_of([p], [lp], state_of(rec)), plan_of([p], [lp])):
        for change in result.changes:
            assert UNKNOWN not in walk(change.body or {})


def test_unresolved_reference_is_refused() -> None:
    p = Provider(
        "socialIdentityProvider",
        "Google",
        {
            "displayName": "G",
            "identityProviderType": "Google",
            "clientId": "g",
            "clientSecret": SecretRef("env", "G"),
        },
    )
    with pytest.raises(PlanError, match="env:G was not resolved"):
        plan_of([p], [])


# ---- auth method, replace ----------------------------------------------------------------


def test_post_to_jwt_is_state_only() -> None:
    s = secret("CANARY-x")
    before = oidc("Contoso", s)
    after = oidc("Contoso", s, method="client_secret_jwt")
    lp, rec = managed(before, "id-1")
    change = only(plan_of([after], [lp], state_of(rec)))
    assert change.action is Action.UPDATE and change.body is None and change.state_only
    [field] = change.fields
    assert field.name == "clientAuthentication.method" and field.state_only
    assert (field.before, field.after) == ("client_secret_post", "client_secret_jwt")


def test_method_change_with_a_patch_carries_the_secret() -> None:
    s = secret("CANARY-x")
    after = oidc("Contoso", s, method="client_secret_jwt")
    lp, rec = managed(oidc("Contoso", s), "id-1", scope="openid")
    change = only(plan_of([after], [lp], state_of(rec)))
    assert change.body is not None and change.body["clientAuthentication"]["clientSecret"] is s


def test_secret_to_private_key_jwt_is_replace() -> None:
    before = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(before, "id-1")
    change = only(plan_of([oidc("Contoso")], [lp], state_of(rec)))
    assert change.action is Action.REPLACE and change.graph_id == "id-1"
    assert change.body is not None
    assert change.body["clientAuthentication"] == {"@odata.type": JWT_AUTH}
    assert change.body["displayName"] == "Contoso"
    assert any("subtype" in note for note in change.notes)
    assert change.reasons == (Reason.REPLACE_SUBTYPE_CHANGED,)


def test_b2c_metadata_url_change_is_replace_with_full_body() -> None:
    s = secret("CANARY-b2c")
    p = b2c("Partner", s)
    lp, rec = managed(p, "OIDC-1", metadataUrl="https://old.test/.well-known/openid-configuration")
    change = only(plan_of([p], [lp], state_of(rec)))
    assert change.action is Action.REPLACE
    assert change.body is not None and change.body["clientSecret"] is s
    assert change.body["@odata.type"] == G + "openIdConnectIdentityProvider"
    assert set(change.body) == {"@odata.type", *p.fields}
    assert "metadataUrl cannot change in place" in change.notes
    assert change.reasons == (Reason.REPLACE_IMMUTABLE_FIELD,)


def test_social_rename_is_an_update() -> None:
    def google(name: str) -> Provider:
        return Provider(
            "socialIdentityProvider",
            "Google",
            {
                "displayName": name,
                "identityProviderType": "Google",
                "clientId": "g",
                "clientSecret": secret("CANARY-g"),
            },
        )

    lp, rec = managed(google("Google"), "Google-OAUTH")
    change = only(plan_of([google("Sign in with Google")], [lp], state_of(rec)))
    assert change.action is Action.UPDATE and change.address == "socialIdentityProvider/Google"
    assert change.body == {
        "@odata.type": G + "socialIdentityProvider",
        "displayName": "Sign in with Google",
    }


# ---- adopt, delete, unmanaged --------------------------------------------------------------


def test_adopt_a_live_provider_with_the_same_key_never_a_twin() -> None:
    s = secret("CANARY-x")
    p = oidc("Contoso", s)
    lp = live_of(p, "id-9", scope="openid")
    change = only(plan_of([p], [lp]))
    assert change.action is Action.ADOPT and change.graph_id == "id-9"
    assert {f.name: f.note for f in change.fields} == {
        "scope": None,
        "clientAuthentication.clientSecret": "will be set",
    }
    assert change.body is not None and change.body["clientAuthentication"]["clientSecret"] is s


def test_adopt_without_differences_or_secrets_is_state_only() -> None:
    p = oidc("Contoso")
    change = only(plan_of([p], [live_of(p, "id-9")]))
    assert change.action is Action.ADOPT and change.body is None and change.state_only


def test_state_id_wins_over_key_after_a_portal_rename() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(p, "id-1", displayName="Renamed")
    lp = LiveProvider(lp.id, lp.odata_type, lp.kind, "Renamed", lp.fields)
    change = only(plan_of([p], [lp], state_of(rec)))
    assert change.action is Action.UPDATE and change.graph_id == "id-1"
    assert change.body == {"@odata.type": G + "oidcIdentityProvider", "displayName": "Contoso"}


def test_managed_provider_deleted_outside_is_created_again() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    change = only(plan_of([p], [], state_of(record_of(p, "gone"))))
    assert change.action is Action.CREATE and change.reasons == (Reason.CREATE_DELETED_OUTSIDE,)
    assert change.notes == ()


def test_delete_only_what_left_the_config_and_is_managed() -> None:
    gone = oidc("Old", secret("CANARY-old"))
    stray = oidc("Stray")
    lp, rec = managed(gone, "id-old")
    result = plan_of([], [lp, live_of(stray, "id-stray")], state_of(rec))
    change = only(result)
    assert change.action is Action.DELETE and change.graph_id == "id-old"
    assert change.body is None and change.reasons == (Reason.DELETE_REMOVED_FROM_CONFIG,)
    assert [(u.id, u.reason) for u in result.unmanaged] == [("id-stray", "not in config")]


def test_ensure_absent_managed_and_not_yet_managed() -> None:
    a, b = oidc("A"), oidc("B")
    la, ra = managed(a, "id-a")
    absent = [Provider(p.kind, p.key, p.fields, absent=True) for p in (a, b)]
    result = plan_of(absent, [la, live_of(b, "id-b")], state_of(ra))
    assert [(c.action, c.graph_id, c.reasons) for c in result.changes] == [
        (Action.DELETE, "id-a", (Reason.DELETE_ENSURE_ABSENT,)),
        (Action.DELETE, "id-b", (Reason.DELETE_ENSURE_ABSENT_UNMANAGED,)),
    ]
    assert plan_of(absent[1:], []).unchanged == ("oidcIdentityProvider/B",)


def test_record_whose_provider_is_gone_is_forgotten_without_destroying() -> None:
    p = oidc("Old")
    result = plan_of([], [], state_of(record_of(p, "id-gone")))
    change = only(result)
    assert change.action is Action.DELETE and change.graph_id is None
    planner.check_safety(result, allow_destroy=False)


def test_unmanaged_built_in_and_unknown_types_are_listed_and_untouched() -> None:
    live = [
        LiveProvider(
            "MSASignup-OAUTH",
            G + "builtInIdentityProvider",
            "builtInIdentityProvider",
            "MicrosoftAccount",
            {"displayName": "MicrosoftAccount"},
        ),
        LiveProvider(
            "fed-1", G + "samlOrWsFedExternalDomainFederation", None, None, {"displayName": "Fed"}
        ),
        live_of(oidc("Portal"), "id-portal"),
    ]
    result = plan_of([], live)
    assert result.changes == ()
    assert sorted((u.id, u.reason) for u in result.unmanaged) == [
        ("MSASignup-OAUTH", "built-in"),
        ("fed-1", "unsupported type"),
        ("id-portal", "not in config"),
    ]


def test_desired_built_in_or_unknown_kind_or_twice_is_refused() -> None:
    builtin = Provider("builtInIdentityProvider", "X", {"displayName": "X"})
    with pytest.raises(PlanError, match="never creates"):
        plan_of([builtin], [])
    with pytest.raises(PlanError, match="unknown provider kind"):
        plan_of([Provider("samlThing", "X", {})], [])
    with pytest.raises(PlanError, match="declared twice"):
        plan_of([oidc("A"), oidc("A")], [])


def test_twin_live_providers_warn_and_match_one() -> None:
    p = oidc("A")
    result = plan_of([p], [live_of(p, "id-2"), live_of(p, "id-1")])
    assert only(result).graph_id == "id-1"
    assert "two live providers share the address" in result.warnings[0]
    assert [u.id for u in result.unmanaged] == ["id-2"]


# ---- safety, order, targets --------------------------------------------------------------


def test_destructive_changes_need_allow_destroy() -> None:
    gone = oidc("Old")
    lp, rec = managed(gone, "id-old")
    result = plan_of([], [lp], state_of(rec))
    with pytest.raises(SafetyError, match="need --allow-destroy: oidcIdentityProvider/Old"):
        planner.check_safety(result, allow_destroy=False)
    planner.check_safety(result, allow_destroy=True)


def test_protected_is_refused_even_with_allow_destroy() -> None:
    p = b2c("Partner", secret("CANARY-x"))
    lp, rec = managed(p, "OIDC-1", metadataUrl="https://old.test/")
    guarded = Provider(p.kind, p.key, p.fields, protected=True)
    result = plan_of([guarded], [lp], state_of(rec))
    with pytest.raises(SafetyError, match="protected"):
        planner.check_safety(result, allow_destroy=True)
    planner.check_safety(plan_of([guarded], [], state_of()), allow_destroy=False)


def test_order_is_adopt_update_create_replace_delete_then_kind_and_key() -> None:
    result = rich_plan()
    order = [(c.action.name, c.address) for c in result.changes]
    assert order == sorted(
        order,
        key=lambda item: (
            ["ADOPT", "UPDATE", "CREATE", "REPLACE", "DELETE"].index(item[0]),
            item[1],
        ),
    )
    assert planner.to_data(rich_plan()) == planner.to_data(result)


def test_targets_limit_the_plan_and_say_so() -> None:
    a, b = oidc("A", secret("CANARY-a")), oidc("B", secret("CANARY-b"))
    result = plan_of([a, b], [], targets=("oidcIdentityProvider/B",))
    assert [c.address for c in result.changes] == ["oidcIdentityProvider/B"]
    assert "1 other(s) left out" in result.warnings[0]
    with pytest.raises(PlanError, match="KIND/KEY"):
        plan_of([a], [], targets=("nokey",))


def test_split_address_at_first_slash() -> None:
    assert planner.split_address("oidcIdentityProvider/A/B") == ("oidcIdentityProvider", "A/B")
    with pytest.raises(PlanError):
        planner.split_address("/x")


def test_basis_names_what_moved() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(p, "id-1")
    first = plan_of([p], [lp], state_of(rec))
    lp2 = live_of(p, "id-1", scope="openid")
    p2 = oidc("Contoso", secret("CANARY-y"))
    second = plan_of([p2], [lp2], state_of(rec, serial=4))
    assert first.basis is not None and second.basis is not None
    assert planner.basis_differences(first.basis, first.basis) == []
    assert planner.basis_differences(first.basis, second.basis) == [
        "state changed (serial 3 -> 4)",
        "a secret's value changed",
        "live provider oidcIdentityProvider/Contoso changed",
    ]
    assert "CANARY" not in repr(first.basis)


def test_build_is_pure_and_deterministic() -> None:
    # Secret objects compare by identity, so compare the value-free plan data
    assert planner.to_data(rich_plan()) == planner.to_data(rich_plan())
    assert rich_plan().basis == rich_plan().basis


# ---- the rich plan the renderings' golden files use ----------------------------------------


def rich_plan(kinds: Mapping[str, Kind] = KINDS) -> Plan:
    """One plan with every action, note and listing, for the renderings' golden files."""
    s_old = secret("CANARY-old", "FABRIKAM")
    fabrikam_old = oidc("Fabrikam", s_old)
    fabrikam = oidc("Fabrikam", s_old, issuer="https://login.fabrikam.test/")
    northwind = oidc("Northwind", secret("CANARY-nw", "NW"), method="client_secret_jwt")
    woodgrove_old = oidc("Woodgrove", secret("CANARY-wg", "WG"))
    partner_old = b2c("Partner", secret("CANARY-b2c", "B2C"))
    partner = b2c(
        "Partner",
        secret("CANARY-b2c", "B2C"),
        metadataUrl="https://new.test/.well-known/openid-configuration",
    )
    google_old = social("Google", "Google", "CANARY-g1")
    google = social("Google", "Sign in with Google", "CANARY-g2")
    facebook = social("Facebook", "Facebook", "CANARY-fb")
    apple_old, apple = apple_of("CANARY-a7", "7"), apple_of("CANARY-a8", "8")
    old = oidc("Old", secret("CANARY-gone"))
    desired = [
        oidc("Contoso", secret("CANARY-create", "CONTOSO")),
        fabrikam,
        northwind,
        oidc("Woodgrove"),
        partner,
        google,
        facebook,
        apple,
        Provider("oidcIdentityProvider", "Stray", oidc_fields("Stray"), absent=True),
    ]
    pairs = [
        managed(
            fabrikam_old,
            "id-fabrikam",
            inboundClaimMapping={"sub": "sub", "email": "email", "name": "name"},
        ),
        managed(oidc("Northwind", secret("CANARY-nw", "NW")), "id-northwind"),
        managed(woodgrove_old, "id-woodgrove"),
        managed(partner_old, "OIDC-partner"),
        managed(google_old, "Google-OAUTH"),
        managed(apple_old, "Apple-Managed-OIDC"),
        managed(old, "id-old"),
    ]
    live = [lp for lp, _ in pairs] + [
        live_of(facebook, "Facebook-OAUTH", clientId="old-client"),
        live_of(oidc("Stray"), "id-stray"),
        live_of(oidc("Portal"), "id-portal"),
        LiveProvider(
            "MSASignup-OAUTH",
            G + "builtInIdentityProvider",
            "builtInIdentityProvider",
            "MicrosoftAccount",
            {"displayName": "MicrosoftAccount"},
        ),
        LiveProvider(
            "fed-1",
            G + "samlOrWsFedExternalDomainFederation",
            None,
            None,
            {"displayName": "Federation"},
        ),
    ]
    state = state_of(*(rec for _, rec in pairs))
    return planner.build(
        tuple(desired), tuple(live), state, kinds=kinds, tenant="contoso.onmicrosoft.com"
    )


def social(kind_key: str, name: str, value: str) -> Provider:
    return Provider(
        "socialIdentityProvider",
        kind_key,
        {
            "displayName": name,
            "identityProviderType": kind_key,
            "clientId": f"{kind_key}-id",
            "clientSecret": secret(value, kind_key.upper()),
        },
    )


def apple_of(value: str, version: str) -> Provider:
    return Provider(
        "appleManagedIdentityProvider",
        "Apple",
        {
            "displayName": "Sign in with Apple",
            "developerId": "DEV",
            "serviceId": "svc",
            "keyId": "KEY1",
            "certificateData": secret(value, "apple", version),
        },
    )


def test_rich_plan_covers_every_action() -> None:
    result = rich_plan()
    assert {c.action for c in result.changes} == set(Action)
    assert any(c.state_only for c in result.changes)
    assert {u.reason for u in result.unmanaged} == {"built-in", "unsupported type", "not in config"}
    assert result.unchanged == ()


def test_the_schema_kinds_plan_the_same_as_the_fixture() -> None:
    from idpctl.kinds import load_kinds

    real = load_kinds()
    for name, kind in KINDS.items():
        have = real[name]
        assert (have.odata_type, have.singleton_key, have.managed, have.write_only) == (
            kind.odata_type,
            kind.singleton_key,
            kind.managed,
            kind.write_only,
        ), name
        assert have.immutable - {have.key_field} == kind.immutable, name
        if kind.managed:
            assert (have.key_field, have.fields) == (kind.key_field, kind.fields), name
    assert planner.to_data(rich_plan(real)) == planner.to_data(rich_plan())


# ---- property: apply the plan to a model of Graph and the state, then plan again -----------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


def _key_of(kind: str, fields: Mapping[str, Any]) -> str:
    k = KINDS[kind]
    return k.singleton_key or str(fields[k.key_field])


def simulate_apply(
    result: Plan, live: list[LiveProvider], state: State
) -> tuple[list[LiveProvider], State]:
    """What a faithful apply does to Graph (masked on read); the state is recorded by the
    applier's own bookkeeping (`apply.records.record`), so a change there is tested here too."""
    from idpctl.apply import records

    by_id = {lp.id: lp for lp in live}
    current = replace_state(state, serial=state.serial + 1)
    for n, change in enumerate(result.changes):
        if change.action in (Action.DELETE, Action.REPLACE) and change.graph_id:
            by_id.pop(change.graph_id, None)
        if change.action is Action.DELETE:
            current = records.forget(current, change.address)
            continue
        body = {k: _mask(v) for k, v in (change.body or {}).items() if k != "@odata.type"}
        if change.action in (Action.CREATE, Action.REPLACE):
            graph_id, fields = f"new-{n}", body
        else:
            assert change.graph_id is not None
            graph_id, fields = change.graph_id, {**by_id[change.graph_id].fields, **body}
        by_id[graph_id] = LiveProvider(
            graph_id,
            KINDS[change.kind].odata_type,
            change.kind,
            _key_of(change.kind, fields),
            fields,
        )
        assert change.desired is not None
        current = records.record(current, change, graph_id=graph_id, now=lambda: "t")
    return list(by_id.values()), current


def replace_record(record: ManagedRecord, **changes: Any) -> ManagedRecord:
    from dataclasses import replace as dc_replace

    return dc_replace(record, **changes)


def replace_state(state: State, **changes: Any) -> State:
    from dataclasses import replace as dc_replace

    return dc_replace(state, **changes)


@st.composite
def worlds(draw: Any) -> tuple[list[Provider], list[LiveProvider], State]:
    values = st.sampled_from(["CANARY-1", "CANARY-2"])
    candidates = [
        lambda: oidc(
            "A", secret(draw(values)), method=draw(st.sampled_from(sorted(SECRET_METHODS)))
        ),
        lambda: oidc("A"),
        lambda: oidc("B", secret(draw(values)), scope=draw(st.sampled_from(["openid", "x"]))),
        lambda: social("Google", draw(st.sampled_from(["Google", "G2"])), draw(values)),
        lambda: b2c(
            "Partner",
            secret(draw(values)),
            metadataUrl=draw(st.sampled_from(["https://m1", "https://m2"])),
        ),
        lambda: apple_of(draw(values), draw(st.sampled_from(["7", "8"]))),
    ]
    desired, live, records = {}, [], []
    for i, make in enumerate(candidates):
        provider = make()
        if draw(st.booleans()) and provider.address not in desired:
            absent = draw(st.booleans()) and draw(st.booleans())
            desired[provider.address] = replace_provider(
                provider, absent=absent, protected=not absent and draw(st.booleans())
            )
        if draw(st.booleans()) and provider.address not in {lp.address for lp in live}:
            old = make()
            drift = draw(
                st.sampled_from(
                    [
                        {},
                        {"scope": "drifted"},
                        {"clientId": "drifted"},
                        {"displayName": "Portal"},
                        {"inboundClaimMapping": {"sub": "sub", "email": "email", "name": "name"}},
                        {"claimsMapping": {"userId": "oid"}},
                        {"metadataUrl": "https://m0"},
                    ]
                )
            )
            if "displayName" in drift and KINDS[old.kind].key_field == "displayName":
                drift = {}
            live.append(
                live_of(old, f"id-{i}", **{k: v for k, v in drift.items() if k in old.fields})
            )
            if draw(st.booleans()):
                record = record_of(old, draw(st.sampled_from([f"id-{i}", "stale"])))
                records.append(replace_record(record, protected=draw(st.booleans())))
    unique = {r.address: r for r in records}
    return list(desired.values()), live, state_of(*unique.values())


def replace_provider(provider: Provider, **changes: Any) -> Provider:
    from dataclasses import replace as dc_replace

    return dc_replace(provider, **changes)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(worlds())
def test_apply_then_plan_converges(world: tuple[list[Provider], list[LiveProvider], State]) -> None:
    desired, live, state = world
    first = plan_of(desired, live, state)
    for change in first.changes:
        assert UNKNOWN not in walk(change.body or {})
    live2, state2 = simulate_apply(first, live, state)
    second = plan_of(desired, live2, state2)
    assert second.changes == (), [(c.action, c.address, c.fields) for c in second.changes]
    for provider in desired:  # what the state keeps beside Graph follows the files
        record = state2.providers.get(provider.address)
        if record is not None and not provider.absent:
            assert record.protected == provider.protected, provider.address


def test_replication_delay_is_not_a_loss_nor_a_twin() -> None:
    from dataclasses import replace as dc_replace
    from datetime import UTC, datetime

    p = oidc("Contoso", secret("CANARY-x"))
    rec = dc_replace(record_of(p, "id-new"), created_at="2026-11-22T21:00:00Z")
    soon = datetime(2026, 11, 22, 21, 1, tzinfo=UTC)
    later = datetime(2026, 11, 22, 21, 30, tzinfo=UTC)
    waiting = plan_of([p], [], state_of(rec), now=soon)
    assert waiting.changes == () and waiting.unchanged == (p.address,)
    assert "not listed yet" in waiting.warnings[0]
    assert plan_of([], [], state_of(rec), now=soon).changes == ()
    assert only(plan_of([p], [], state_of(rec), now=later)).action is Action.CREATE
    assert only(plan_of([p], [], state_of(rec))).action is Action.CREATE  # no clock given


def test_absent_and_protected_in_the_file_marks_the_delete_protected() -> None:
    """`ensure: absent` with `protected: true`: the delete is marked protected from the file
    (what the plan shows and the plan file keeps), whatever the state recorded, and refused."""
    p = oidc("Contoso")
    lp, rec = managed(p, "OIDC-1")
    gone = replace_provider(p, absent=True, protected=True)
    for state in (state_of(rec), state_of()):
        result = plan_of([gone], [lp], state)
        (change,) = result.changes
        assert (change.action, change.protected) == (Action.DELETE, True)
        with pytest.raises(SafetyError, match="protected"):
            planner.check_safety(result, allow_destroy=True)
