"""Secret governance as plain calls on values: policy parsing and override, each status with
an injected clock, plan warnings, and the secrets report in its three renderings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from idpctl.config.governance import (
    Status,
    annotate_plan,
    drift_findings,
    findings,
    plan_warnings,
)
from idpctl.config.secretpolicy import (
    DEFAULT_POLICY,
    SecretPolicy,
    format_duration,
    parse_duration,
    parse_policy,
)
from idpctl.errors import ConfigError
from idpctl.model import (
    Action,
    Change,
    FieldChange,
    Location,
    ManagedRecord,
    Plan,
    Provider,
    Secret,
    SecretRecord,
    SecretRef,
    State,
)
from idpctl.reports import governance as report_module
from idpctl.reports.governance import Metadata, build

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FP = "hmac-sha256:" + "0" * 64
GOOGLE = "socialIdentityProvider/Google"
CONTOSO = "oidcIdentityProvider/Contoso"


def _days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _google(policy: dict[str, str] | None = None, *, leaf: object = None) -> Provider:
    leaf = leaf if leaf is not None else SecretRef("env", "GOOGLE_SECRET")
    return Provider(
        kind="socialIdentityProvider",
        key="Google",
        fields={"displayName": "Google", "clientSecret": leaf},
        secret_policy=policy,
        location=Location("providers/google.yaml", 3, 1),
    )


def _contoso(method: str = "client_secret_post") -> Provider:
    auth: dict[str, object] = {
        "@odata.type": "#microsoft.graph.oidcClientSecretAuthentication",
        "clientSecret": SecretRef("vault", {"path": "idp/contoso", "key": "client_secret"}),
    }
    if method == "private_key_jwt":
        auth = {"@odata.type": "#microsoft.graph.oidcPrivateJwtKeyClientAuthentication"}
    return Provider(
        kind="oidcIdentityProvider",
        key="Contoso",
        auth_method=method,
        fields={
            "displayName": "Contoso",
            "clientAuthentication": auth,
            "wellKnownEndpoint": "https://idp.example/.well-known/x",
        },
    )


def _state(**ages: float | None) -> State:
    """A state where each named provider's secret was set `age` days ago (None: never)."""
    records = {}
    for name, age in ages.items():
        address = {"google": GOOGLE, "contoso": CONTOSO}[name]
        path = "clientSecret" if name == "google" else "clientAuthentication.clientSecret"
        kind, key = address.split("/")
        secrets = (
            {}
            if age is None
            else {path: SecretRecord(FP, _days_ago(age), "env:GOOGLE_SECRET", "7")}
        )
        records[address] = ManagedRecord(kind=kind, key=key, id=f"id-{name}", secrets=secrets)
    return State(serial=1, lineage="l", fingerprint_key=b"k" * 32, providers=records)


# -- policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90d", 90 * 86400), ("12h", 43200), ("2w", 14 * 86400), ("30m", 1800), ("45s", 45)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["90", "d", "90 days", "1.5d", "-3d", "3y"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_format_duration_rounds_down_to_the_largest_unit() -> None:
    assert [
        format_duration(timedelta(seconds=s)) for s in (0, 59, 61, 3 * 3600 + 5, 80 * 86400 + 7000)
    ] == ["0s", "59s", "1m", "3h", "80d"]


def test_default_policy_and_partial_overrides() -> None:
    assert (
        parse_policy(None) == DEFAULT_POLICY == SecretPolicy(timedelta(days=90), timedelta(days=75))
    )
    assert parse_policy({"warnAt": "60d"}) == SecretPolicy(timedelta(days=90), timedelta(days=60))
    # a maxAge alone brings its warnAt at five sixths of it
    assert parse_policy({"maxAge": "30d"}) == SecretPolicy(timedelta(days=30), timedelta(days=25))
    assert parse_policy({"maxAge": "2w", "warnAt": "12h"}).describe() == "maxAge 14d, warnAt 12h"


def test_bad_policies_are_located_errors() -> None:
    where = Location("providers/google.yaml", 3, 1)
    with pytest.raises(ConfigError) as caught:
        parse_policy({"maxAge": "30d", "warnAt": "40d"}, where=where)
    assert str(caught.value) == (
        "providers/google.yaml:3:1: secretPolicy.warnAt 40d is past maxAge 30d"
    )
    with pytest.raises(ConfigError, match="maxAge must be longer than 0"):
        parse_policy({"maxAge": "0d"})
    with pytest.raises(ConfigError, match="is not a duration"):
        parse_policy({"maxAge": "soon"})


def test_provider_policy_overrides_the_default_field_by_field() -> None:
    default = parse_policy({"maxAge": "60d", "warnAt": "50d"})
    strict = _google({"warnAt": "10d"})
    (finding,) = findings([strict], _state(google=20), now=NOW, default_policy=default)
    assert finding.policy == SecretPolicy(timedelta(days=60), timedelta(days=10))
    assert finding.status is Status.WARN
    (finding,) = findings([_google()], _state(google=20), now=NOW, default_policy=default)
    assert finding.status is Status.OK


# -- statuses with an injected clock ---------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (0, Status.OK),
        (74.9, Status.OK),
        (75, Status.WARN),
        (89.9, Status.WARN),
        (90, Status.EXPIRED),
        (400, Status.EXPIRED),
        (None, Status.UNKNOWN),
    ],
)
def test_status_by_age(age: float | None, status: Status) -> None:
    (finding,) = findings([_google()], _state(google=age), now=NOW, default_policy=DEFAULT_POLICY)
    assert finding.status is status
    assert finding.code == f"secret-{status.value}"
    assert finding.source == "env:GOOGLE_SECRET"
    if age is not None:
        assert finding.age == timedelta(days=age)
        assert finding.version == "7"


def test_not_in_state_at_all_is_unknown_and_future_set_at_is_fresh() -> None:
    (finding,) = findings([_google()], _state(), now=NOW)
    assert finding.status is Status.UNKNOWN and finding.age is None
    (finding,) = findings([_google()], _state(google=-1), now=NOW)
    assert finding.status is Status.OK and finding.age == timedelta(0)


def test_unparsable_set_at_is_unknown() -> None:
    state = _state(google=1)
    record = state.providers[GOOGLE]
    broken = ManagedRecord(
        kind=record.kind,
        key=record.key,
        id=record.id,
        secrets={"clientSecret": SecretRecord(FP, "yesterday", "env:X")},
    )
    state = State(serial=1, lineage="l", fingerprint_key=b"k" * 32, providers={GOOGLE: broken})
    (finding,) = findings([_google()], state, now=NOW)
    assert finding.status is Status.UNKNOWN


def test_resolved_secrets_give_their_source_never_their_value() -> None:
    leaf = Secret("CANARY-value", source="vault:secret/idp/google#client_secret", version="8")
    (finding,) = findings([_google(leaf=leaf)], _state(google=95), now=NOW)
    assert finding.source == "vault:secret/idp/google#client_secret"
    assert "CANARY" not in repr(finding) + json.dumps(finding.to_data()) + finding.message()


def test_nested_secret_paths_absent_and_secretless_providers() -> None:
    absent = Provider(
        kind="socialIdentityProvider",
        key="Facebook",
        absent=True,
        fields={"clientSecret": SecretRef("env", "FB")},
    )
    found = findings([_contoso(), _contoso("private_key_jwt"), absent], _state(contoso=80), now=NOW)
    assert [(f.address, f.path, f.status) for f in found] == [
        (CONTOSO, "clientAuthentication.clientSecret", Status.WARN)
    ]


def test_drift_findings_are_the_expired_ones() -> None:
    found = findings([_google(), _contoso()], _state(google=91, contoso=80), now=NOW)
    assert [f.address for f in drift_findings(found)] == [GOOGLE]


# -- plan warnings ---------------------------------------------------------------------------


def test_plan_warning_text() -> None:
    found = findings([_google(), _contoso()], _state(google=95, contoso=80), now=NOW)
    assert plan_warnings(found) == [
        f"{CONTOSO} clientAuthentication.clientSecret: secret due for rotation (set 2026-09-03, "
        "80d ago; past warnAt 75d, expires 2026-12-02 at maxAge 90d): put a new value in "
        "vault:secret/idp/contoso#client_secret and apply",
        f"{GOOGLE} clientSecret: secret expired (set 2026-08-19, 95d ago; past maxAge 90d by "
        "5d): put a new value in env:GOOGLE_SECRET and apply",
    ]


def test_no_warning_for_a_secret_the_plan_sends() -> None:
    rotating = Change(
        Action.UPDATE,
        "socialIdentityProvider",
        "Google",
        graph_id="g",
        fields=(FieldChange("clientSecret", sensitive=True, note="rotate"),),
        body={"clientSecret": "x"},
    )
    replacing = Change(Action.REPLACE, "oidcIdentityProvider", "Contoso", graph_id="c")
    found = findings([_google(), _contoso()], _state(google=95, contoso=80), now=NOW)
    assert plan_warnings(found, Plan(changes=(rotating, replacing))) == []
    other = Change(
        Action.UPDATE,
        "socialIdentityProvider",
        "Google",
        graph_id="g",
        fields=(FieldChange("displayName", before="a", after="b"),),
        body={"displayName": "b"},
    )
    assert len(plan_warnings(found, Plan(changes=(other,)))) == 2


def test_annotate_plan_adds_warnings_for_targets_only() -> None:
    plan = Plan(changes=(), warnings=("earlier",))
    state = _state(google=95, contoso=80)
    out = annotate_plan(plan, [_google(), _contoso()], state, now=NOW)
    assert out.warnings[0] == "earlier" and len(out.warnings) == 3
    out = annotate_plan(plan, [_google(), _contoso()], state, now=NOW, targets=(CONTOSO,))
    assert len(out.warnings) == 2 and CONTOSO in out.warnings[1]
    assert annotate_plan(plan, [_google()], _state(google=1), now=NOW) is plan


# -- the report ------------------------------------------------------------------------------


def test_recommendation_follows_the_idps_metadata() -> None:
    supports = Metadata(checked=True, methods=("client_secret_post", "private_key_jwt"))
    secret_only = Metadata(checked=True, methods=("client_secret_post",))
    offline = Metadata(checked=False, note="--offline")
    unreadable = Metadata(checked=True, error="timed out after 5 s")
    advice = {
        name: report_module.recommend(_contoso(), [], meta)[-1]
        for name, meta in [
            ("supports", supports),
            ("secret_only", secret_only),
            ("offline", offline),
            ("unreadable", unreadable),
        ]
    }
    assert advice["supports"].startswith("move to private_key_jwt: the IdP lists it")
    assert advice["secret_only"] == (
        "keep rotating: the IdP's metadata does not list private_key_jwt"
    )
    assert "IdP metadata not checked (--offline)" in advice["offline"]
    assert "metadata unreadable (timed out after 5 s)" in advice["unreadable"]
    assert report_module.recommend(_contoso("private_key_jwt"), [], None) == (
        "none for the method: private_key_jwt shares no secret",
    )
    assert report_module.recommend(_google(), [], None)[-1] == (
        "keep rotating: Graph offers Google only a shared client secret"
    )


def _report() -> report_module.Report:
    providers = [_google({"maxAge": "30d"}), _contoso(), _contoso("private_key_jwt")]
    providers[2] = Provider(
        kind="oidcIdentityProvider",
        key="Woodgrove",
        auth_method="private_key_jwt",
        fields=providers[2].fields,
    )
    meta = {CONTOSO: Metadata(checked=True, methods=("private_key_jwt",), url="https://x")}
    return build(
        providers,
        _state(google=40, contoso=10),
        now=NOW,
        metadata=meta,
        tenant="contoso.onmicrosoft.com",
    )


def test_report_text() -> None:
    out = report_module.text(_report())
    assert out.startswith(
        "Secrets report for tenant contoso.onmicrosoft.com (default policy: "
        "maxAge 90d, warnAt 75d)\n"
    )
    assert (
        "oidcIdentityProvider/Contoso\n  method          client_secret_post\n"
        "  secret          clientAuthentication.clientSecret from "
        "vault:secret/idp/contoso#client_secret\n    version       7\n"
        "    set           2026-11-12T12:00:00Z (10d ago)\n    status        ok\n"
        "  idp metadata    token_endpoint_auth_methods_supported: private_key_jwt\n"
        "  recommendation  move to private_key_jwt"
    ) in out
    assert "  policy          maxAge 30d, warnAt 25d (set in the provider file)\n" in out
    assert "    status        expired: past maxAge 30d\n" in out
    assert "  recommendation  rotate clientSecret now: 40d old, past maxAge 30d\n" in out
    assert (
        "oidcIdentityProvider/Woodgrove\n  method          private_key_jwt\n"
        "  secret          none\n" in out
    )
    assert out.endswith("2 secret(s) in 3 provider(s): 1 ok, 0 warn, 1 expired, 0 unknown.\n")


def test_report_json() -> None:
    data = json.loads(report_module.json(_report()))
    assert data["format_version"] == 1 and data["summary"] == {
        "ok": 1,
        "warn": 0,
        "expired": 1,
        "unknown": 0,
    }
    google = next(p for p in data["providers"] if p["address"] == GOOGLE)
    assert google["method"] == "clientSecret" and google["metadata"] is None
    (secret,) = google["secrets"]
    assert secret == {
        "address": GOOGLE,
        "path": "clientSecret",
        "status": "expired",
        "code": "secret-expired",
        "source": "env:GOOGLE_SECRET",
        "version": "7",
        "setAt": "2026-10-13T12:00:00Z",
        "ageSeconds": 40 * 86400,
        "age": "40d",
        "expiresAt": "2026-11-12T12:00:00Z",
        "policy": {"maxAge": "30d", "warnAt": "25d"},
    }
    contoso = next(p for p in data["providers"] if p["address"] == CONTOSO)
    assert contoso["metadata"]["methods"] == ["private_key_jwt"]


def test_report_markdown() -> None:
    out = report_module.markdown(_report())
    assert out.startswith(
        "## idpctl secrets report for `contoso.onmicrosoft.com`\n\n"
        "**2 secret(s) in 3 provider(s): 1 ok, 0 warn, 1 expired, 0 unknown**"
    )
    assert (
        "| `socialIdentityProvider/Google` | `clientSecret` | `clientSecret` | "
        "`env:GOOGLE_SECRET` | `7` | 40d | ❌ expired: past maxAge 30d | `rotate clientSecret "
        "now: 40d old, past maxAge 30d`<br>`keep rotating"
    ) in out
    assert "| `oidcIdentityProvider/Woodgrove` | `private_key_jwt` | - | - | - | - | - |" in out
