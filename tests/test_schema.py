"""Schema validation with locations, and the semantic rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from counting import Counted, strings
from idpctl.config.schema import did_you_mean, semantic_problems, validate_document
from idpctl.config.yamlload import load_file, load_text
from idpctl.kinds import load_kinds
from idpctl.model import Location, Provider

KINDS = load_kinds()
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class _Settings:
    tenant_kind: str = "external"
    secret_policy: Mapping[str, str] | None = None


def _messages(text: str, schema: str = "socialIdentityProvider") -> list[str]:
    doc = load_text(text, file="p.yaml")
    return [str(p) for p in validate_document(doc, schema, kinds=KINDS, label=schema)]


def test_valid_document_has_no_problems() -> None:
    assert (
        _messages(
            "kind: socialIdentityProvider\nidentityProviderType: Google\n"
            "displayName: G\nclientId: c\nclientSecret: {env: G}\n"
        )
        == []
    )


def test_every_problem_is_located() -> None:
    assert _messages(
        "kind: socialIdentityProvider\nidentityProviderType: Gooogle\n"
        "displayNme: G\nclientId: 3\nclientSecret: {env: G}\n"
    ) == [
        "p.yaml:1:1: missing required field 'displayName' for socialIdentityProvider",
        "p.yaml:2:23: identityProviderType: must be one of Microsoft, Google, Amazon, "
        "LinkedIn, Facebook, GitHub, Twitter, Weibo, QQ, WeChat; did you mean 'Google'?",
        "p.yaml:3:1: unknown field 'displayNme' in socialIdentityProvider; did you mean "
        "'displayName'?",
        "p.yaml:4:11: clientId: expected a string, got an integer",
    ]


def test_literal_secret_is_refused_without_echoing_it() -> None:
    (message,) = _messages(
        "kind: socialIdentityProvider\nidentityProviderType: Google\n"
        "displayName: G\nclientId: c\nclientSecret: CANARY-pasted\n"
    )
    assert message.startswith("p.yaml:5:15: clientSecret: a literal secret is not allowed")
    assert "clientSecret: {env: NAME}" in message and "CANARY" not in message


def test_ensure_absent_needs_only_the_key() -> None:
    assert (
        _messages("kind: socialIdentityProvider\nidentityProviderType: Google\nensure: absent\n")
        == []
    )
    assert _messages("kind: socialIdentityProvider\nensure: absent\n") == [
        "p.yaml:1:1: missing required field 'identityProviderType' for socialIdentityProvider"
    ]


def test_settings_schema() -> None:
    doc = load_text(
        "tenant: t\ntenantKind: b2c\ngraph: {rateLimit: 120}\n"
        "auth: {clientId: {env: ID}, federatedToken: {github: true}}\n"
        "secretPolicy: {maxAge: 90d, warnAt: 75d}\n"
    )
    assert validate_document(doc, "idpctl", kinds=KINDS) == []
    doc = load_text("tenant: t\ntenantKind: b2c\nsecretPolicy: {maxAge: 90 days}\n", file="i")
    assert [str(p) for p in validate_document(doc, "idpctl", kinds=KINDS)] == [
        "i:3:24: secretPolicy.maxAge: does not have the expected form: a duration such as 90d "
        "(s, m, h, d or w)"
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("clientID", "clientId"), ("issuer", "issuer"), ("environment", "env"), ("zzz", None)],
)
def test_did_you_mean(name: str, expected: str | None) -> None:
    assert did_you_mean(name, ["clientId", "issuer", "env", "file"]) == expected


def _oidc(**changes: object) -> Provider:
    fields = {
        "displayName": "C",
        "issuer": "https://login.contoso.com/",
        "wellKnownEndpoint": "https://login.contoso.com/.well-known/openid-configuration",
        "responseType": "code",
        "scope": "openid email",
    }
    fields.update({k: v for k, v in changes.items() if k in fields or k == "extra"})
    return Provider(
        "oidcIdentityProvider",
        str(fields["displayName"]),
        fields,
        protected=bool(changes.get("protected")),
        absent=bool(changes.get("absent")),
        location=Location("p.yaml", 1, 1),
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"issuer": "https://login.microsoftonline.com/t/v2.0"}, "Entra sign-in host is refused"),
        ({"issuer": "https://login.contoso.com/?x=1"}, "query or fragment"),
        ({"issuer": "http://login.contoso.com/"}, "issuer must be an https URL"),
        ({"wellKnownEndpoint": "https://x/.well-known/openid-configuration?p=B2C_1A"}, None),
        ({"wellKnownEndpoint": "https://x/metadata"}, "must end in .well-known"),
        ({"scope": "email"}, "scope must contain openid"),
        ({"responseType": "id_token"}, "only code works"),
        ({"protected": True, "absent": True}, "contradicts protected"),
    ],
)
def test_oidc_rules(changes: dict[str, object], expected: str | None) -> None:
    problems = semantic_problems([_oidc(**changes)], _Settings(), KINDS)
    if expected is None:
        assert problems == []
    else:
        assert [expected in p.message for p in problems] == [True]


def test_absent_providers_skip_field_rules() -> None:
    assert semantic_problems([_oidc(scope="email", absent=True)], _Settings(), KINDS) == []


def test_cross_provider_and_tenant_rules() -> None:
    apple = Provider("appleManagedIdentityProvider", "Apple", {}, location=Location("a", 3, 1))
    twin = Provider("appleManagedIdentityProvider", "Apple", {}, location=Location("b", 1, 1))
    amazon = Provider(
        "socialIdentityProvider",
        "Amazon",
        {"identityProviderType": "Amazon"},
        location=Location("c", 1, 1),
    )
    problems = semantic_problems([apple, twin, amazon], _Settings("workforce"), KINDS)
    assert [str(p) for p in problems] == [
        "a:3:1: appleManagedIdentityProvider is not available in a workforce tenant "
        "(only b2c, external)",
        "b:1:1: appleManagedIdentityProvider is not available in a workforce tenant "
        "(only b2c, external)",
        "b:1:1: duplicate provider appleManagedIdentityProvider/Apple (also at a:3:1)",
        "c:1:1: identityProviderType Amazon is not available in a workforce tenant "
        "(only Facebook, Google)",
    ]
    assert semantic_problems([amazon], _Settings("b2c"), KINDS) == []


def test_editor_schema_accepts_the_examples() -> None:
    import jsonschema
    import referencing
    from referencing.jsonschema import DRAFT202012

    registry = referencing.Registry().with_resources(
        (s["$id"], DRAFT202012.create_resource(s)) for s in KINDS.schemas.values()
    )
    validator = jsonschema.Draft202012Validator(KINDS.schema("providers"), registry=registry)
    files = [*(REPO / "providers").glob("*.yaml"), *(REPO / "examples/b2c/providers").glob("*")]
    assert len(files) >= 6
    for path in files:
        assert list(validator.iter_errors(load_file(path).data)) == [], path
    assert list(validator.iter_errors({"kind": "socialIdentityProvider", "bogus": 1}))


@pytest.mark.parametrize(
    "issuer",
    [
        "https://login.microsoftonline.com./t/v2.0",
        "https://LOGIN.MicrosoftOnline.COM/t/v2.0",
        "https://login.microsoftonline.us/t/v2.0",
        "https://login.chinacloudapi.cn/t/v2.0",
        "https://login.partner.microsoftonline.cn/t/v2.0",
        "https://sts.windows.net/t/",
        "https://STS.windows.net./t/",
        "https://login.windows.net/t/",
        "https://login.microsoft.com/t/v2.0",
        "https://contoso.ciamlogin.com/t/v2.0",
        "https://ciamlogin.com/t/v2.0",
        "https://user@login.microsoftonline.com:443/t/v2.0",
        "https://"
        + "".join(chr(ord(c) + 0xFEE0) for c in "login.microsoftonline.com")
        + "/t/v2.0",  # written in full-width letters: IDNA maps them
        "https://login.microsoftonline%2Ecom/t/v2.0",
    ],
)
def test_entra_issuers_are_refused_in_any_spelling(issuer: str) -> None:
    problems = semantic_problems([_oidc(issuer=issuer)], _Settings(), KINDS)
    assert len(problems) == 1 and "another Entra tenant" in problems[0].message, problems


@pytest.mark.parametrize(
    "issuer",
    [
        "https://contoso.b2clogin.com/tid/v2.0/",  # B2C as an IdP of External ID is documented
        "https://microsoftonline.com.contoso.test/",
        "https://notmicrosoftonline.com/",
        "https://login.contoso.com/",
    ],
)
def test_lookalike_issuers_that_are_not_entra_pass(issuer: str) -> None:
    assert semantic_problems([_oidc(issuer=issuer)], _Settings(), KINDS) == []


def test_issuer_with_a_backslash_or_a_bad_host_is_not_a_url() -> None:
    for issuer in (
        "https://login.contoso.com\\@login.microsoftonline.com/",
        "https://xn--/t/",
        "https://a..b/",
    ):
        problems = semantic_problems([_oidc(issuer=issuer)], _Settings(), KINDS)
        assert [p.message for p in problems] == [
            "issuer must be an https URL (https://host[:port][/path])"
        ], issuer


def test_display_names_that_differ_only_in_case_are_one_provider() -> None:
    one = Provider(
        "oidcIdentityProvider",
        "Contoso",
        {"displayName": "Contoso"},
        location=Location("providers/a.yaml", 2, 1),
    )
    two = Provider(
        "oidcIdentityProvider",
        "CONTOSO",
        {"displayName": "CONTOSO"},
        location=Location("providers/b.yaml", 2, 1),
    )
    problems = [
        str(p) for p in semantic_problems([one, two], _Settings(), KINDS) if "case" in p.message
    ]
    assert problems == [
        "providers/a.yaml:2:1: displayName Contoso differs from CONTOSO "
        "(providers/b.yaml:2:1) only in case: Graph takes them for one provider",
        "providers/b.yaml:2:1: displayName CONTOSO differs from Contoso "
        "(providers/a.yaml:2:1) only in case: Graph takes them for one provider",
    ]


def test_case_folding_is_full_casefold_not_lower() -> None:
    one = Provider("oidcIdentityProvider", "Straße", {}, location=Location("a", 1, 1))
    two = Provider("oidcIdentityProvider", "STRASSE", {}, location=Location("b", 1, 1))
    other_kind = Provider(
        "openIdConnectIdentityProvider", "straße", {}, location=Location("c", 1, 1)
    )
    problems = semantic_problems([one, two, other_kind], _Settings("external"), KINDS)
    assert sum("only in case" in p.message for p in problems) == 2


def test_inbound_claim_mapping_requires_only_what_the_docs_require() -> None:
    """MGD api-reference/beta/resources/oidcinboundclaimmappingoverride.md and
    oidcaddressinboundclaims.md mark no member required; the Entra page
    (entra-docs .../reference-oidc-claims-mapping-customers.md) marks `email (required)`.
    So the schema requires `email` and nothing else, in the mapping and in its address."""
    import json

    from idpctl.kinds import default_schema_dir

    path = default_schema_dir() / "oidcIdentityProvider.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    mapping = schema["properties"]["inboundClaimMapping"]
    assert mapping["required"] == ["email"]
    assert "required" not in mapping["properties"]["address"]
    assert "inboundClaimMapping" not in schema["required"]
    base = """kind: oidcIdentityProvider
displayName: Contoso
clientId: c
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: openid
clientAuthentication: {method: private_key_jwt}
"""
    assert _messages(base + "inboundClaimMapping: {email: mail}\n", "oidcIdentityProvider") == []
    assert (
        _messages(
            base + "inboundClaimMapping: {email: mail, address: {country: c}}\n",
            "oidcIdentityProvider",
        )
        == []
    )
    assert any(
        "email" in m
        for m in _messages(base + "inboundClaimMapping: {sub: sub}\n", "oidcIdentityProvider")
    )


# -- every check over user input is linear or n log n (docs/security.md, control 6) ----------

N = 2000  # a pairwise check makes ~2,000,000 comparisons here; a linear one ~0
LINEAR = 20 * N  # room for a sort (n log n), none for n * n


@pytest.mark.parametrize("tail", [[], [1], ["s7"]], ids=["unique", "mixed-types", "duplicate"])
def test_unique_items_is_not_pairwise(tail: list[object]) -> None:
    """userFlows' uniqueItems, on the fast path (all strings) and on jsonschema's (a number
    among strings does not sort: jsonschema's own check then compares every pair)."""
    doc = load_text(
        "kind: socialIdentityProvider\nidentityProviderType: Google\n"
        "displayName: G\nclientId: c\nclientSecret: {env: G}\nuserFlows: []\n",
        file="p.yaml",
    )
    doc.data["userFlows"] = [*strings(N), *tail]
    problems = validate_document(doc, "socialIdentityProvider", kinds=KINDS)
    assert Counted.calls < LINEAR
    duplicate = [p for p in problems if "lists the same value twice" in p.message]
    assert bool(duplicate) == (tail == ["s7"])
