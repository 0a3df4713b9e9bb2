"""Schema validation with locations, and the semantic rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from idpctl.kinds import load_kinds
from idpctl.model import Location, Provider
from idpctl.schema import did_you_mean, semantic_problems, validate_document
from idpctl.yamlload import load_file, load_text

KINDS = load_kinds()
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class _Settings:
    tenant_kind: str = "external"


def _messages(text: str, schema: str = "socialIdentityProvider") -> list[str]:
    doc = load_text(text, file="p.yaml")
    return [str(p) for p in validate_document(doc, schema, kinds=KINDS, label=schema)]


def test_valid_document_has_no_problems() -> None:
    assert _messages("kind: socialIdentityProvider\nidentityProviderType: Google\n"
                     "displayName: G\nclientId: c\nclientSecret: {env: G}\n") == []


def test_every_problem_is_located() -> None:
    assert _messages("kind: socialIdentityProvider\nidentityProviderType: Gooogle\n"
                     "displayNme: G\nclientId: 3\nclientSecret: {env: G}\n") == [
        "p.yaml:1:1: missing required field 'displayName' for socialIdentityProvider",
        "p.yaml:2:23: identityProviderType: must be one of Microsoft, Google, Amazon, "
        "LinkedIn, Facebook, GitHub, Twitter, Weibo, QQ, WeChat; did you mean 'Google'?",
        "p.yaml:3:1: unknown field 'displayNme' in socialIdentityProvider; did you mean "
        "'displayName'?",
        "p.yaml:4:11: clientId: expected a string, got an integer",
    ]


def test_literal_secret_is_refused_without_echoing_it() -> None:
    (message,) = _messages("kind: socialIdentityProvider\nidentityProviderType: Google\n"
                           "displayName: G\nclientId: c\nclientSecret: CANARY-pasted\n")
    assert message.startswith("p.yaml:5:15: clientSecret: a literal secret is not allowed")
    assert "clientSecret: {env: NAME}" in message and "CANARY" not in message


def test_ensure_absent_needs_only_the_key() -> None:
    assert _messages("kind: socialIdentityProvider\nidentityProviderType: Google\n"
                     "ensure: absent\n") == []
    assert _messages("kind: socialIdentityProvider\nensure: absent\n") == [
        "p.yaml:1:1: missing required field 'identityProviderType' for socialIdentityProvider"]


def test_settings_schema() -> None:
    doc = load_text("tenant: t\ntenantKind: b2c\ngraph: {rateLimit: 120}\n"
                    "auth: {clientId: {env: ID}, federatedToken: {github: true}}\n"
                    "secretPolicy: {maxAge: 90d, warnAt: 75d}\n")
    assert validate_document(doc, "idpctl", kinds=KINDS) == []
    doc = load_text("tenant: t\ntenantKind: b2c\nsecretPolicy: {maxAge: 90 days}\n", file="i")
    assert [str(p) for p in validate_document(doc, "idpctl", kinds=KINDS)] == [
        "i:3:24: secretPolicy.maxAge: does not have the expected form: a duration such as 90d "
        "(s, m, h, d or w)"]


@pytest.mark.parametrize(("name", "expected"), [
    ("clientID", "clientId"), ("issuer", "issuer"), ("environment", "env"), ("zzz", None)])
def test_did_you_mean(name: str, expected: str | None) -> None:
    assert did_you_mean(name, ["clientId", "issuer", "env", "file"]) == expected


def _oidc(**changes: object) -> Provider:
    fields = {"displayName": "C", "issuer": "https://login.contoso.com/",
              "wellKnownEndpoint": "https://login.contoso.com/.well-known/openid-configuration",
              "responseType": "code", "scope": "openid email"}
    fields.update({k: v for k, v in changes.items() if k in fields or k == "extra"})
    return Provider("oidcIdentityProvider", str(fields["displayName"]), fields,
                    protected=bool(changes.get("protected")),
                    absent=bool(changes.get("absent")), location=Location("p.yaml", 1, 1))


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, None),
    ({"issuer": "https://login.microsoftonline.com/t/v2.0"}, "microsoftonline.com is refused"),
    ({"issuer": "https://login.contoso.com/?x=1"}, "query or fragment"),
    ({"issuer": "http://login.contoso.com/"}, "issuer must be an https URL"),
    ({"wellKnownEndpoint": "https://x/.well-known/openid-configuration?p=B2C_1A"}, None),
    ({"wellKnownEndpoint": "https://x/metadata"}, "must end in .well-known"),
    ({"scope": "email"}, "scope must contain openid"),
    ({"responseType": "id_token"}, "only code works"),
    ({"protected": True, "absent": True}, "contradicts protected"),
])
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
    amazon = Provider("socialIdentityProvider", "Amazon", {"identityProviderType": "Amazon"},
                      location=Location("c", 1, 1))
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
        (s["$id"], DRAFT202012.create_resource(s)) for s in KINDS.schemas.values())
    validator = jsonschema.Draft202012Validator(KINDS.schema("providers"), registry=registry)
    files = [*(REPO / "providers").glob("*.yaml"), *(REPO / "examples/b2c/providers").glob("*")]
    assert len(files) >= 6
    for path in files:
        assert list(validator.iter_errors(load_file(path).data)) == [], path
    assert list(validator.iter_errors({"kind": "socialIdentityProvider", "bogus": 1}))
