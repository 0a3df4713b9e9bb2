"""The plan file: round trip, rejection of edited or truncated files, no secret values."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import hypothesis
import pytest

from idpctl.errors import PlanError
from idpctl.model import UNKNOWN, Action, State
from idpctl.plan import build as planner
from idpctl.plan.basis import compute_basis
from idpctl.plan.planfile import FORMAT_VERSION, SecretPlaceholder
from idpctl.render import markdown as render_markdown
from idpctl.render import plans as render
from test_plan import managed, oidc, plan_of, rich_plan, secret, state_of


def test_round_trip_keeps_everything_show_and_staleness_need() -> None:
    original = rich_plan()
    data = planner.to_data(original)
    restored = planner.from_data(json.loads(json.dumps(data)))
    assert planner.to_data(restored) == data
    assert restored.basis == original.basis
    assert [c.address for c in restored.changes] == [c.address for c in original.changes]
    assert render.text(restored) == render.text(original)
    assert render_markdown.markdown(restored) == render_markdown.markdown(original)


def test_secret_leaves_are_references_only() -> None:
    data = planner.to_data(rich_plan())
    create = next(c for c in data["changes"] if c["action"] == "create")
    leaf = create["body"]["clientAuthentication"]["clientSecret"]
    assert leaf == {"sensitive": True, "source": "env:CONTOSO", "version": None}
    restored = planner.from_data(data)
    body = next(c for c in restored.changes if c.action is Action.CREATE).body
    assert body is not None
    placeholder = body["clientAuthentication"]["clientSecret"]
    assert isinstance(placeholder, SecretPlaceholder)
    assert str(placeholder) == "(sensitive)" and placeholder.source == "env:CONTOSO"


def test_no_secret_value_anywhere_in_the_file() -> None:
    text = json.dumps(planner.to_data(rich_plan()))
    assert "CANARY" not in text
    assert f'"format_version": {FORMAT_VERSION}' in text and FORMAT_VERSION == 3


def test_a_version_1_plan_file_is_refused() -> None:
    data = planner.to_data(rich_plan())
    data["format_version"] = 1
    with pytest.raises(PlanError, match="format_version 1 is not supported"):
        planner.from_data(data)


def format_2(data: dict[str, Any]) -> dict[str, Any]:
    """A format-2 plan file as idpctl before typed reasons wrote it: no `reasons`, resealed."""
    from idpctl.plan.planfile import digest

    old = copy.deepcopy(data)
    old["format_version"] = 2
    for change in old["changes"]:
        change.pop("reasons")
    old.pop("checksum")
    old["checksum"] = digest(old)
    return old


def test_a_version_2_plan_file_is_refused_with_one_line_naming_the_fix() -> None:
    """Plan files are short-lived: a format-2 file (reasons as English in `notes`) is refused
    rather than read by guessing reasons from the English."""
    with pytest.raises(PlanError) as caught:
        planner.from_data(format_2(planner.to_data(rich_plan())))
    assert str(caught.value) == (
        "plan file format_version 2 is not supported (this idpctl "
        "reads 3): make a new one with idpctl plan --out"
    )


def test_masked_values_round_trip_as_unknown() -> None:
    p = oidc("Contoso", secret("CANARY-x"))
    lp, rec = managed(p, "id-1", inboundClaimMapping={"sub": UNKNOWN, "x": "y"})
    result = plan_of([p], [lp], state_of(rec))
    restored = planner.from_data(planner.to_data(result))
    assert restored.changes[0].fields[0].before == {"sub": UNKNOWN, "x": "y"}


def test_stable_key_order_and_version_first() -> None:
    data = planner.to_data(rich_plan())
    assert next(iter(data)) == "format_version" and data["format_version"] == FORMAT_VERSION
    assert list(data)[-1] == "checksum"


def test_truncated_file_is_rejected() -> None:
    text = json.dumps(planner.to_data(rich_plan()))
    with pytest.raises(json.JSONDecodeError):
        json.loads(text[: len(text) // 2])
    data = planner.to_data(rich_plan())
    del data["changes"]
    with pytest.raises(PlanError, match=r"plan\.changes is missing"):
        planner.from_data(data)


def _edited(edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(planner.to_data(rich_plan()))
    edit(data)
    return data


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["changes"][0].__setitem__("graph_id", "someone-else"),
        lambda d: d["changes"].pop(),
        lambda d: d["basis"]["desired"].clear(),
        lambda d: d["unchanged"].append("oidcIdentityProvider/Extra"),
    ],
)
def test_edited_file_is_rejected_by_checksum(edit: Any) -> None:
    with pytest.raises(PlanError, match="edited or is corrupt"):
        planner.from_data(_edited(edit))


def _resealed(edit: Any) -> dict[str, Any]:
    """An edit that also recomputes the checksum: structure checks must still catch it."""
    from idpctl.plan.planfile import digest

    data = _edited(edit)
    data.pop("checksum")
    data["checksum"] = digest(data)
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["changes"][0].__setitem__("action", "explode"), r"changes\[0\]\.action"),
        (lambda d: d["changes"][0].__setitem__("address", "x/y"), "does not match"),
        (lambda d: d["changes"][0].__setitem__("fields", {}), r"changes\[0\]\.fields"),
        (lambda d: d["basis"].__setitem__("state_serial", "3"), "state_serial"),
        (lambda d: d["basis"]["live"].__setitem__("x", 1), r"basis\.live"),
        (lambda d: d["unmanaged"].append(3), r"unmanaged\[3\]"),
        (lambda d: d.__setitem__("format_version", 4), "format_version 4"),
    ],
)
def test_structurally_wrong_file_is_rejected_with_its_path(edit: Any, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        planner.from_data(_resealed(edit))


@pytest.mark.parametrize("data", [None, [], "plan", {"format_version": 1}])
def test_not_a_plan_at_all(data: Any) -> None:
    with pytest.raises(PlanError):
        planner.from_data(data)


def test_basis_moves_with_a_secret_value_through_the_one_keyed_digest() -> None:
    p = oidc("Contoso", secret("CANARY-1"))
    lp, rec = managed(p, "id-1")
    one = compute_basis([p], [lp], state_of(rec))
    two = compute_basis([oidc("Contoso", secret("CANARY-2"))], [lp], state_of(rec))
    same = compute_basis([oidc("Contoso", secret("CANARY-1"))], [lp], state_of(rec))
    assert one == same
    assert one.desired == two.desired  # per-provider digests hold no secret value
    assert planner.basis_differences(one, two) == ["a secret's value changed"]


def test_a_never_saved_state_gives_no_secret_digest() -> None:
    p = oidc("Contoso", secret("CANARY-1"))
    fresh = state_of(serial=0)
    assert compute_basis([p], [], fresh).secrets is None


WORDS = [
    "password",
    "Password1",
    "letmein!",
    "hunter22",
    "CANARY-1",
    "correcthorse",
    "Summer2024",
    "qwertyuiop",
    "CANARY-weak-guess",
    "changeme",
]


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_a_word_list_attack_on_a_saved_plan_confirms_nothing() -> None:
    """An attacker with a saved plan (an artifact, a log) and the provider files (the pull
    request) tries each word of a list as the secret: as a keyed or plain digest under every
    string the file holds (where a salt would be), as the basis digest of the provider, and as
    the basis digest over secrets under every such key. No guess may be confirmed."""
    weak = "CANARY-weak-guess"
    lp, rec = managed(oidc("Contoso", secret(weak)), "id-1")
    plan = plan_of([oidc("Contoso", secret(weak), scope="openid email")], [lp], state_of(rec))
    data = json.loads(json.dumps(planner.to_data(plan)))
    assert weak not in json.dumps(data)
    held = set(_strings(data))
    keys = [k.encode() for k in held] + [b""]
    confirmed = set()
    for word in WORDS:
        value = word.encode()
        for key in keys:
            tried = {
                "hmac-sha256:" + hmac.new(key, value, hashlib.sha256).hexdigest(),
                "sha256:" + hashlib.sha256(key + value).hexdigest(),
            }
            if tried & held:
                confirmed.add(word)
        guess = [oidc("Contoso", secret(word), scope="openid email")]
        for key in keys[:50]:
            state = State(3, "lineage-1", key or b"k", {rec.address: rec})
            if compute_basis(guess, [lp], state).secrets in held:
                confirmed.add(word)
    assert confirmed == set()
    # the per-provider digests are the same whatever the guess: they test nothing
    assert {
        compute_basis(
            [oidc("Contoso", secret(w), scope="openid email")], [lp], state_of(rec)
        ).desired["oidcIdentityProvider/Contoso"]
        for w in WORDS
    } == {data["basis"]["desired"]["oidcIdentityProvider/Contoso"]}


def test_basis_names_added_removed_and_replaced_lineage() -> None:
    a, b = oidc("A"), oidc("B")
    la, lb = managed(a, "id-a")[0], managed(b, "id-b")[0]
    old = compute_basis([a], [la], state_of())
    other = state_of()
    other = type(other)(other.serial, "lineage-2", other.fingerprint_key, {})
    new = compute_basis([b], [lb], other)
    assert planner.basis_differences(old, new) == [
        "state replaced (lineage lineage-1 -> lineage-2)",
        "desired oidcIdentityProvider/A removed",
        "desired oidcIdentityProvider/B added",
        "live provider oidcIdentityProvider/A disappeared",
        "live provider oidcIdentityProvider/B appeared",
    ]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _paths(inner, (*prefix, i))
    return out


RICH_DATA = planner.to_data(rich_plan())
RICH_PATHS = [p for p in _paths(RICH_DATA) if p and p[0] != "checksum"]
json_values = hypothesis.strategies.recursive(
    hypothesis.strategies.none()
    | hypothesis.strategies.booleans()
    | hypothesis.strategies.integers()
    | hypothesis.strategies.text(max_size=5),
    lambda inner: (
        hypothesis.strategies.lists(inner, max_size=3)
        | hypothesis.strategies.dictionaries(
            hypothesis.strategies.text(max_size=5), inner, max_size=3
        )
    ),
    max_leaves=6,
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    hypothesis.strategies.sampled_from(RICH_PATHS), json_values, hypothesis.strategies.booleans()
)
def test_any_resealed_edit_gives_a_plan_or_a_plan_error(
    path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    from idpctl.plan.planfile import digest

    data = copy.deepcopy(RICH_DATA)
    data.pop("checksum")
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    data["checksum"] = digest(data)
    try:
        restored = planner.from_data(data)
    except PlanError as error:
        assert str(error).startswith("plan file")
    else:
        render.text(restored)
        render_markdown.markdown(restored)
