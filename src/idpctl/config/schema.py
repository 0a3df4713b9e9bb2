"""Validation against `schemas/` with a location for every problem, then the semantic rules a
JSON Schema cannot say (unique natural keys, tenant capabilities, names, secret policies; the
issuer and discovery URL rules of OIDC providers are in `config.oidcrules`).

Messages never quote a value the user wrote, except a `kind` name: a value might be a secret
that was pasted in the wrong place.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from idpctl.config import schemafast
from idpctl.config.document import Document, KeyPath, problem_at, unique_problems, value_at
from idpctl.config.moves import move_problems
from idpctl.config.oidcrules import oidc_rules
from idpctl.errors import Problem
from idpctl.kinds import Kinds, load_kinds
from idpctl.model import Location, Provider

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "REFERENCE_HINT",
    "did_you_mean",
    "semantic_problems",
    "validate_document",
]

REFERENCE_HINT = "{env: NAME}, {file: PATH}, {vault: {path: P, key: K}} or {keyVault: URL}"
_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_FIELD_HINTS = {
    "id": "YAML never holds Graph ids: idpctl finds a provider by its natural key",
    "@odata.type": "the kind: field names the Graph type",
}


class _Settings(Protocol):
    """What the semantic rules read of the settings (`config.settings.Settings`)."""

    @property
    def tenant_kind(self) -> str: ...  # "" when unknown: no tenant-kind rule runs

    @property
    def secret_policy(self) -> Mapping[str, str] | None: ...


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate the user most likely meant, or None."""
    candidates = list(candidates)
    folded = {c.casefold(): c for c in candidates}
    if name.casefold() in folded:
        return folded[name.casefold()]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixed = [c for c in candidates if len(c) >= 3 and name.casefold().startswith(c.casefold())]
    return max(prefixed, key=len) if prefixed else None


@functools.lru_cache(maxsize=8)
def _validator(kinds: Kinds, schema_name: str) -> jsonschema.protocols.Validator:
    # imported here: valid files never need jsonschema (schemafast answers), and importing
    # it costs more than checking 1,000 files
    import jsonschema
    import referencing
    from referencing.jsonschema import DRAFT202012

    resources = [(s["$id"], DRAFT202012.create_resource(s)) for s in kinds.schemas.values()]
    registry: referencing.Registry = referencing.Registry().with_resources(resources)
    schema = kinds.schema(schema_name)
    # jsonschema's uniqueItems compares every pair when the items do not sort (e.g. a list
    # of strings and numbers): the same linear check as the fast path instead
    validator = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, {"uniqueItems": _unique_items}
    )
    return validator(schema, registry=registry)


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    import jsonschema

    if unique and validator.is_type(instance, "array") and schemafast.has_duplicates(instance):
        yield jsonschema.ValidationError("has non-unique elements")


def validate_document(
    doc: Document,
    schema_name: str,
    *,
    kinds: Kinds | None = None,
    at: KeyPath = (),
    label: str | None = None,
) -> list[Problem]:
    """Every schema problem in the value at `at` of `doc`, each located. `label` names the
    value in messages about its top level (e.g. the kind)."""
    kinds = kinds or load_kinds()
    value = value_at(doc.data, at)
    check = schemafast.checker(kinds, schema_name)
    if check is not None and check(value):  # valid: jsonschema would find nothing either
        return []
    validator = _validator(kinds, schema_name)
    problems: list[Problem] = []
    for error in validator.iter_errors(value):
        problems.extend(_convert(error, doc, at, label or schema_name))
    return unique_problems(problems)


def _dotted(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _convert(error: Any, doc: Document, at: KeyPath, label: str) -> list[Problem]:
    rel = tuple(error.absolute_path)
    loc = doc.locate((*at, *rel))
    name = _dotted(rel)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties":
        return _unknown_fields(error, doc, (*at, *rel), name or label)
    if "x-message" in schema:
        message = schema["x-message"]
        return [
            problem_at(
                loc, message if not name or message.startswith(name) else f"{name}: {message}"
            )
        ]
    if error.validator == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        where = f" in {name}" if name else f" for {label}"
        return [problem_at(loc, f"missing required field {r!r}{where}") for r in missing]
    return [problem_at(loc, f"{name or label}: {_describe(error, schema)}")]


def _describe(error: Any, schema: Mapping[str, Any]) -> str:
    kind, value = error.validator, error.validator_value
    if kind == "type" and schema.get("writeOnly"):
        field_name = next((p for p in reversed(error.absolute_path) if isinstance(p, str)), "")
        return (
            f"a literal secret is not allowed: write a reference such as {field_name}: "
            "{env: NAME} (or {file: PATH}, {vault: {path: P, key: K}}, {keyVault: URL})"
        )
    if kind == "type":
        wanted = [value] if isinstance(value, str) else list(value)
        got = _TYPES.get(_json_type(error.instance), "something else")
        return f"expected {' or '.join(_TYPES.get(w, w) for w in wanted)}, got {got}"
    if kind == "enum":
        choices = [str(v) for v in value if v is not None]
        guess = did_you_mean(error.instance, choices) if isinstance(error.instance, str) else None
        return (
            "must be one of " + ", ".join(choices) + (f"; did you mean {guess!r}?" if guess else "")
        )
    if kind == "const":
        return f"must be {value}"
    if kind in ("minProperties", "maxProperties") and schema.get("writeOnly"):
        return f"a secret reference names exactly one source: {REFERENCE_HINT}"
    if kind == "pattern":
        return f"does not have the expected form: {schema.get('description', value)}"
    simple = {
        "minLength": "must not be empty" if value == 1 else f"needs at least {value} characters",
        "maxLength": f"is longer than {value} characters",
        "minItems": "must not be empty",
        "uniqueItems": "lists the same value twice",
        "minimum": f"must be at least {value}",
        "exclusiveMinimum": f"must be greater than {value}",
        "maximum": f"must be at most {value}",
        "minProperties": f"needs at least {value} entries",
        "maxProperties": f"takes at most {value} entries",
        "propertyNames": "has a key that is not a valid name (letters, digits, _)",
    }
    return simple.get(kind, f"is not valid here ({kind})")


def _json_type(value: Any) -> str:
    for json_name, python in (
        ("boolean", bool),
        ("integer", int),
        ("number", float),
        ("string", str),
        ("array", list),
        ("object", dict),
    ):
        if isinstance(value, python):
            return json_name
    return "null" if value is None else "other"


def _unknown_fields(error: Any, doc: Document, full: KeyPath, where: str) -> list[Problem]:
    schema = error.schema
    known = list(schema.get("properties", {}))
    problems = []
    for key in error.instance:
        if key in schema.get("properties", {}):
            continue
        message = f"unknown field {key!r} in {where}"
        if key in _FIELD_HINTS:
            problems.append(
                problem_at(doc.locate((*full, key), key=True), f"{message}: {_FIELD_HINTS[key]}")
            )
            continue
        guess = _nested_guess(key, schema) or did_you_mean(key, known)
        if guess:
            message += f"; did you mean {guess!r}?"
        elif schema.get("writeOnly"):
            message += f"; a secret reference is one of {REFERENCE_HINT}"
        problems.append(problem_at(doc.locate((*full, key), key=True), message))
    return problems


def _nested_guess(key: str, schema: Mapping[str, Any]) -> str | None:
    for name, sub in schema.get("properties", {}).items():
        if isinstance(sub, Mapping) and key in sub.get("properties", {}):
            return f"{name}.{key}"
    return None


# --- semantic rules -------------------------------------------------------------------------

Locate = Callable[[Provider, KeyPath], Location]


def _default_locate(provider: Provider, path: KeyPath) -> Location:
    return provider.location or Location("<unknown>", 1, 1)


def semantic_problems(
    providers: Sequence[Provider],
    settings: _Settings,
    kinds: Kinds,
    *,
    locate: Locate | None = None,
) -> list[Problem]:
    """Rules across and within providers that the schemas cannot express."""
    where = locate or _default_locate
    problems: list[Problem] = []
    seen: dict[str, Provider] = {}
    for provider in providers:
        first = seen.setdefault(provider.address, provider)
        if first is not provider:
            also = f" (also at {first.location})" if first.location else ""
            problems.append(
                problem_at(where(provider, ()), f"duplicate provider {provider.address}{also}")
            )
        problems.extend(_provider_problems(provider, settings, kinds, where))
    problems.extend(_case_twins(providers, kinds, where))
    problems.extend(_move_problems(providers, kinds, where))
    return unique_problems(problems)


def _move_problems(providers: Sequence[Provider], kinds: Kinds, where: Locate) -> list[Problem]:
    """`moved: {from: ...}` declarations wrong whatever the state says (config.moves)."""
    wanted = {p.address: p for p in providers if kinds.get(p.kind) is not None}
    return [
        problem_at(
            where(provider, ("moved", "from")), f"moved.from {provider.moved_from}: {message}"
        )
        for provider, message in move_problems(wanted, kinds)
    ]


def _case_twins(providers: Sequence[Provider], kinds: Kinds, where: Locate) -> list[Problem]:
    """Keys of one kind that differ only in case: Graph compares display names without case,
    so two files would name one provider (and apply would send it two requests). Each file
    is told about the other."""
    by_folded: dict[tuple[str, str], list[Provider]] = {}
    for provider in providers:
        by_folded.setdefault((provider.kind, provider.key.casefold()), []).append(provider)
    problems = []
    for group in by_folded.values():
        for provider in group:
            for other in group:
                if other.key == provider.key:
                    continue
                field = kinds[provider.kind].key_field or "key"
                problems.append(
                    problem_at(
                        where(provider, (field,)),
                        f"{field} {provider.key} differs from {other.key} "
                        f"({where(other, (field,))}) only in case: Graph "
                        "takes them for one provider",
                    )
                )
    return problems


def _provider_problems(
    provider: Provider, settings: _Settings, kinds: Kinds, where: Locate
) -> list[Problem]:
    kind = kinds[provider.kind]
    found: list[tuple[KeyPath, str]] = []
    if not kind.managed:
        found.append(
            (
                ("kind",),
                f"{kind.name} is built in: idpctl never creates, changes or "
                "deletes it; remove it from the file",
            )
        )
    tenant_kind = settings.tenant_kind
    if kind.tenant_kinds and tenant_kind and tenant_kind not in kind.tenant_kinds:
        allowed = ", ".join(sorted(kind.tenant_kinds))
        found.append(
            (
                ("kind",),
                f"{kind.name} is not available in {_a(tenant_kind)} tenant (only {allowed})",
            )
        )
    if provider.protected and provider.absent:
        found.append(
            (
                ("ensure",),
                "ensure: absent contradicts protected: true (a protected "
                "provider is never deleted)",
            )
        )
    found.extend(_name_rules(provider, kind))
    found.extend(_social_rules(provider, kinds, tenant_kind))
    if not provider.absent:
        found.extend(oidc_rules(provider))
    if provider.secret_policy:
        found.extend(_policy_rules(provider, settings))
    return [problem_at(where(provider, path), message) for path, message in found]


def _policy_rules(provider: Provider, settings: _Settings) -> list[tuple[KeyPath, str]]:
    """The provider's secretPolicy over idpctl.yaml's must be coherent (docs/governance.md)."""
    from idpctl.config.secretpolicy import DEFAULT_POLICY, parse_policy
    from idpctl.errors import ConfigError

    try:
        base = parse_policy(settings.secret_policy)
    except ConfigError:
        base = DEFAULT_POLICY  # idpctl.yaml's own policy is reported where it is loaded
    try:
        parse_policy(provider.secret_policy, base=base)
    except ConfigError as error:
        return [(("secretPolicy",), str(error))]
    return []


def _name_rules(provider: Provider, kind: Any) -> list[tuple[KeyPath, str]]:
    """Natural keys and display names are shown to reviewers: no control or layout characters,
    no leading or trailing whitespace (docs/security.md, control 2)."""
    from idpctl.output import first_control

    found: list[tuple[KeyPath, str]] = []
    for name in dict.fromkeys(n for n in (kind.key_field, "displayName") if n):
        value = provider.fields.get(name)
        if not isinstance(value, str) or not value:
            continue
        control = first_control(value)
        if control:
            found.append(
                (
                    (name,),
                    f"{name} holds a control or layout character ({control}); "
                    "names are shown to reviewers and must be plain text",
                )
            )
        elif not value.strip():
            found.append(((name,), f"{name} must not be only whitespace"))
        elif value != value.strip():
            found.append(((name,), f"{name} must not start or end with whitespace"))
    return found


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _social_rules(provider: Provider, kinds: Kinds, tenant_kind: str) -> list[tuple[KeyPath, str]]:
    if provider.kind != "socialIdentityProvider":
        return []
    prop = kinds.schema(provider.kind)["properties"]["identityProviderType"]
    allowed = prop.get("x-allowedByTenantKind", {}).get(tenant_kind)
    value = provider.fields.get("identityProviderType")
    if allowed is None or value not in prop.get("enum", ()) or value in allowed:
        return []
    return [
        (
            ("identityProviderType",),
            f"identityProviderType {value} is not available in "
            f"{_a(tenant_kind)} tenant (only {', '.join(allowed)})",
        )
    ]
