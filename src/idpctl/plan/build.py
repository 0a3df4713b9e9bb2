"""The planner: a pure diff of desired providers against live Graph and the state, into a Plan.

`build` does no I/O, reads no clock and draws no randomness, so
every rule is testable as a plain call on values. Rules, in brief (docs/plan-format.md has
the long form):

- desired and live meet by natural key `KIND/KEY`; a provider is managed when the state has
  it (matched to live by the state's Graph id first, then by key);
- only top-level fields the user set are compared; a complex value is compared whole, members
  the user left out counting as absent; a masked read-back (`UNKNOWN`) is never a difference;
- secrets are compared by keyed fingerprint against the state, never by read-back;
- an immutable field or a `clientAuthentication` subtype change means replace (`-/+`);
- `moved: {from: KIND/OLD}` whose old address the state still has: the record is read under
  the new address, so the rename is an in-place update of the same Graph object (a
  state-only `address` field tells apply to move the record); applied, it is a no-op;
- a secret written `{keep: live}` is never sent nor compared: a create, a replace or a
  change of a rebinding field (which re-sends the secret) is refused, naming what to write;
- every change carries typed `reasons` (model.Reason) saying why; `notes` only add what a
  reason cannot say (which field, which ids, which flows);
- changes are ordered adopt, update, create, replace, delete; within each by kind then key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from idpctl.config.moves import move_problems
from idpctl.errors import PlanError, SafetyError
from idpctl.model import (
    UNKNOWN,
    Action,
    Change,
    FieldChange,
    KeepLive,
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
    Unmanaged,
    in_apply_order,
)
from idpctl.plan import planfile
from idpctl.plan.planfile import basis_differences, from_data, to_data
from idpctl.secrets.fingerprint import fingerprint

__all__ = ["MOVED_FIELD", "basis_differences", "build", "check_safety", "from_data", "kept_paths",
           "moved_from", "pending_moves", "split_address", "to_data"]

log = logging.getLogger(__name__)

SECRET_AUTH = "#microsoft.graph.oidcClientSecretAuthentication"
SECRET_METHODS = frozenset({"client_secret_post", "client_secret_jwt"})
# a change to one of these re-binds the provider: its secret is re-sent with the PATCH
REBINDING_FIELDS = ("issuer", "wellKnownEndpoint", "metadataUrl", "clientId")
# complex properties whose nested @odata.type is a subtype: changing it means replace
SUBTYPED_FIELDS = frozenset({"clientAuthentication"})
METHOD_FIELD = "clientAuthentication.method"
# seconds after creation during which a provider missing from the list is taken as replicating
REPLICATION_GRACE = 300.0


def split_address(address: str) -> tuple[str, str]:
    """`KIND/KEY` split at the first `/`; the key may itself hold `/`."""
    kind, sep, key = address.partition("/")
    if not sep or not kind or not key:
        raise PlanError(f"{address!r} is not an address: write KIND/KEY")
    return kind, key


def build(
    desired: Sequence[Provider],
    live: Sequence[LiveProvider],
    state: State,
    *,
    kinds: Mapping[str, Kind],
    targets: Sequence[str] = (),
    rotate: Sequence[str] = (),
    tenant: str | None = None,
    now: datetime | None = None,
    replication_grace: float = REPLICATION_GRACE,
) -> Plan:
    """Compute the plan. Pure: the same inputs always give the same Plan.

    `now` (the caller's clock) enables the replication guard: a managed provider missing from
    the live list less than `replication_grace` seconds after idpctl created it is taken as
    not yet replicated, not as lost, so it is neither created twice nor forgotten."""
    wanted = _index_desired(desired, kinds)
    for address in (*targets, *rotate):
        split_address(address)
    moves = pending_moves(wanted, state, live, kinds)
    planned = _moved_state(state, moves)
    matcher = _Matcher(live, planned, kinds)
    addresses = sorted(set(wanted) | set(planned.providers))
    matched = {a: matcher.match(a, a in planned.providers) for a in addresses}
    targeted = set(targets)
    chosen = [a for a in addresses if not targeted or a in targeted]
    ctx = _Context(kinds=kinds, state=planned, rotate=frozenset(rotate), now=now,
                   grace=timedelta(seconds=replication_grace), moves=moves)
    changes, unchanged, waiting = _plan_all(chosen, wanted, matched, ctx)
    warnings = [*matcher.warnings, *waiting, *_rotate_warnings(rotate, wanted)]
    if targets:
        warnings.append(f"--target: planned {len(chosen)} address(es) only; "
                        f"{len(addresses) - len(chosen)} other(s) left out of this plan")
    log.debug("planned %s change(s), %s unchanged", len(changes), len(unchanged))
    return Plan(
        changes=tuple(changes),
        unchanged=tuple(unchanged),
        unmanaged=matcher.unmanaged(kinds),
        warnings=tuple(warnings),
        basis=planfile.compute_basis(desired, live, state),
        tenant=tenant,
    )


def _plan_all(addresses: Sequence[str], wanted: Mapping[str, Provider],
              matched: Mapping[str, LiveProvider | None], ctx: _Context
              ) -> tuple[list[Change], list[str], list[str]]:
    changes: list[Change] = []
    unchanged: list[str] = []
    waiting: list[str] = []
    for address in addresses:
        record, lp = ctx.state.providers.get(address), matched[address]
        if record is not None and lp is None and _replicating(record, ctx):
            waiting.append(f"{address} (id {record.id}) was created at {record.created_at} and "
                           "is not listed yet: Graph replicates new providers with a delay; "
                           "left as it is, plan again shortly")
            unchanged.append(address)
            continue
        change = _plan_one(wanted.get(address), record, lp, ctx)
        if address in ctx.moves and record is not None:
            change = _with_move(change, wanted[address], ctx.moves[address], record, lp)
        if change is not None and change.desired is not None:
            change = _kept(change)
        moved = (record is not None and lp is not None and record.id != lp.id
                 and f"matched by key: its Graph id changed outside idpctl "
                 f"({record.id} -> {lp.id})")
        provider = wanted.get(address)
        if change is None and moved and provider and record and lp:
            change = _rebind(provider, record.id, lp)  # else the state keeps a dead id
        if change is None:
            unchanged.append(address)
            continue
        if moved:
            change = change.because(Reason.STATE_ONLY_GRAPH_ID_CHANGED, notes=(moved,))
        changes.append(change)
    return in_apply_order(changes), unchanged, waiting


MOVED_FIELD = "address"  # the state-only field of a rename: before the old address, after new


def moved_from(change: Change) -> str | None:
    """The old address a change renames from (apply moves the state record), or None."""
    for f in change.fields:
        if f.name == MOVED_FIELD and f.state_only and isinstance(f.before, str):
            return f.before
    return None


def pending_moves(wanted: Mapping[str, Provider], state: State, live: Sequence[LiveProvider],
                  kinds: Mapping[str, Kind]) -> dict[str, str]:
    """New address -> old address of each `moved: {from: ...}` not applied yet (the state
    still has the old address, not the new one). An applied move, or one from an address
    idpctl never managed, is a no-op. Conflicts are PlanErrors located at the file."""
    problems: list[str] = []
    for provider, problem in move_problems(wanted, kinds):
        where = f"{provider.location}: " if provider.location else ""
        problems.append(f"{where}{provider.address} moved.from {provider.moved_from}: {problem}")
    claims = {p.moved_from: p for p in wanted.values() if p.moved_from} if not problems else {}
    moves = {}
    for old, provider in sorted(claims.items()):
        record = state.providers.get(old)
        if provider.address in state.providers or record is None:
            continue
        taken = [lp for lp in live if lp.address == provider.address and lp.id != record.id
                 and (kinds.get(lp.kind or "") is not None)]
        if taken:
            where = f"{provider.location}: " if provider.location else ""
            problems.append(f"{where}{provider.address} moved.from {old}: the tenant already "
                            f"has a provider {provider.address} (id {taken[0].id}); a rename "
                            "cannot land on a live key: rename or remove that one first")
            continue
        moves[provider.address] = old
    if problems:
        error = PlanError(problems[0] if len(problems) == 1
                          else f"{problems[0]} (and {len(problems) - 1} more)")
        error.problems = tuple(problems)  # type: ignore[attr-defined]
        raise error
    return moves


def _moved_state(state: State, moves: Mapping[str, str]) -> State:
    """The state as the planner reads it: each pending move's record under its new address."""
    if not moves:
        return state
    providers = {a: r for a, r in state.providers.items() if a not in moves.values()}
    for new, old in moves.items():
        providers[new] = replace(state.providers[old], key=split_address(new)[1])
    return replace(state, providers=providers)


def _with_move(change: Change | None, provider: Provider, old: str, record: ManagedRecord,
               lp: LiveProvider | None) -> Change:
    """The change that renames `old` to the provider's address, in place."""
    moved = FieldChange(MOVED_FIELD, before=old, after=provider.address, state_only=True,
                        note=f"moved from {old}: the same Graph object, renamed in place")
    if change is None:
        graph_id = lp.id if lp is not None else record.id
        return Change(action=Action.UPDATE, kind=provider.kind, key=provider.key,
                      graph_id=graph_id, fields=(moved,), body=None, desired=provider,
                      reasons=(Reason.STATE_ONLY_MOVED,))
    if change.action is Action.DELETE:
        return change
    return replace(change, fields=(moved, *change.fields)).because(Reason.STATE_ONLY_MOVED)


def kept_paths(fields: Mapping[str, Any], prefix: str = "") -> list[tuple[str, KeepLive]]:
    """Dotted paths of the `{keep: live}` secrets in a provider's fields."""
    out: list[tuple[str, KeepLive]] = []
    for key in sorted(fields):
        value, path = fields[key], f"{prefix}.{key}" if prefix else key
        if isinstance(value, KeepLive):
            out.append((path, value))
        elif isinstance(value, Mapping):
            out.extend(kept_paths(value, path))
    return out


def _kept(change: Change) -> Change:
    """Refuse a change that would need a `{keep: live}` secret sent; note the kept ones."""
    assert change.desired is not None
    kept = kept_paths(change.desired.fields)
    if not kept or change.action is Action.DELETE:
        return change
    path, keep = kept[0]
    if change.action in (Action.CREATE, Action.REPLACE):
        why = ("is not in the tenant, so there is no live secret to keep"
               if change.action is Action.CREATE else
               "must be replaced (" + "; ".join(change.notes[-1:]) + "), which sends the secret")
        raise _keep_error(change.address, path, keep, why)
    if change.body is not None and kept_paths(change.body):
        raise _keep_error(change.address, path, keep, "changes in a way that sends the secret")
    notes = tuple(f"{p}: kept as set outside idpctl ({{keep: live}}), of unknown age"
                  for p, _ in kept)
    return change.because(notes=notes)


def _keep_error(address: str, path: str, keep: KeepLive, why: str) -> PlanError:
    where = f"{keep.location}: " if keep.location else ""
    leaf = path.rsplit(".", 1)[-1]
    return PlanError(f"{where}{address} {why}, but {path} says {{keep: live}}: write the "
                     f"secret's reference in its place ({leaf}: {{env: NAME}} or another "
                     "source) so idpctl sends it")


def _rebind(provider: Provider, old_id: str, lp: LiveProvider) -> Change:
    """A state-only update: the live object matches the files but the state names another id
    (say, a replace killed after Graph ran it); nothing is sent, the new id is recorded."""
    return Change(action=Action.UPDATE, kind=provider.kind, key=provider.key, graph_id=lp.id,
                  fields=(FieldChange("id", before=old_id, after=lp.id, state_only=True,
                                      note="state only: record the id Graph lists now"),),
                  body=None, desired=provider, reasons=(Reason.STATE_ONLY_GRAPH_ID_CHANGED,))


def _replicating(record: ManagedRecord, ctx: _Context) -> bool:
    if ctx.now is None or not record.created_at:
        return False
    try:
        created = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
        return timedelta(0) <= ctx.now - created < ctx.grace
    except (ValueError, TypeError):  # unparsable, or naive vs aware: not recent
        return False


def check_safety(plan: Plan, *, allow_destroy: bool) -> None:
    """Refuse a protected provider's delete or replace (always), and any other destructive
    change unless `allow_destroy`. A delete that only forgets a provider already gone from
    Graph (`graph_id` None) destroys nothing and passes."""
    destructive = [c for c in plan.changes
                   if c.action.destructive and (c.action is Action.REPLACE or c.graph_id)]
    protected = [c for c in destructive
                 if c.protected or (c.desired is not None and c.desired.protected)]
    if protected:
        names = ", ".join(f"{c.address} ({c.action.name.lower()})" for c in protected)
        raise SafetyError(f"refusing to delete or replace protected provider(s): {names}; "
                          "remove `protected: true` first if this is intended")
    if destructive and not allow_destroy:
        names = ", ".join(f"{c.address} ({c.action.name.lower()})" for c in destructive)
        raise SafetyError(f"{len(destructive)} destructive change(s) need --allow-destroy: "
                          f"{names}")


@dataclass(frozen=True)
class _Context:
    kinds: Mapping[str, Kind]
    state: State  # with each pending move's record already under its new address
    rotate: frozenset[str]
    now: datetime | None = None
    grace: timedelta = timedelta(0)
    moves: Mapping[str, str] = field(default_factory=dict)  # new address -> old address


def _index_desired(desired: Iterable[Provider], kinds: Mapping[str, Kind]) -> dict[str, Provider]:
    out: dict[str, Provider] = {}
    for provider in desired:
        kind = kinds.get(provider.kind)
        if kind is None:
            raise PlanError(f"{provider.address}: unknown provider kind {provider.kind!r}")
        if not kind.managed:
            raise PlanError(f"{provider.address}: idpctl never creates, changes or deletes "
                            f"a {provider.kind}")
        if provider.address in out:
            raise PlanError(f"{provider.address}: declared twice")
        out[provider.address] = provider
    return out


def _rotate_warnings(rotate: Sequence[str], wanted: Mapping[str, Provider]) -> list[str]:
    out = []
    for address in rotate:
        provider = wanted.get(address)
        if provider is None or provider.absent:
            out.append(f"--rotate {address}: not in the configuration; nothing to rotate")
        elif kept_paths(provider.fields):
            out.append(f"--rotate {address}: its secret says {{keep: live}}; write a reference "
                       "in its place to rotate it")
        elif not _secret_paths(provider.fields):
            out.append(f"--rotate {address}: has no secret to re-send")
    return out


class _Matcher:
    """Pairs addresses with live providers: state ids first, then natural keys."""

    def __init__(self, live: Sequence[LiveProvider], state: State,
                 kinds: Mapping[str, Kind]) -> None:
        self.warnings: list[str] = []
        self.live = sorted(live, key=lambda lp: lp.id)
        self.by_id = {lp.id: lp for lp in self.live}
        self.by_address: dict[str, LiveProvider] = {}
        for lp in self.live:
            kind = kinds.get(lp.kind) if lp.kind else None
            if lp.address is None or kind is None or not kind.managed:
                continue
            first = self.by_address.setdefault(lp.address, lp)
            if first is not lp:
                self.warnings.append(f"two live providers share the address {lp.address} "
                                     f"(ids {first.id}, {lp.id}); matched {first.id}")
        self.claimed: set[str] = set()
        self.records = state.providers
        for record in sorted(state.providers.values(), key=lambda r: r.address):
            if record.id in self.by_id:
                self.claimed.add(record.id)

    def match(self, address: str, managed: bool) -> LiveProvider | None:
        record = self.records.get(address) if managed else None
        if record is not None and record.id in self.by_id:
            return self.by_id[record.id]
        candidate = self.by_address.get(address)
        if candidate is None or candidate.id in self.claimed:
            return None
        self.claimed.add(candidate.id)
        return candidate

    def unmanaged(self, kinds: Mapping[str, Kind]) -> tuple[Unmanaged, ...]:
        out = []
        for lp in self.live:
            if lp.id in self.claimed:
                continue
            kind = kinds.get(lp.kind) if lp.kind else None
            reason = ("unsupported type" if kind is None
                      else "built-in" if not kind.managed else "not in config")
            name = lp.fields.get("displayName")
            out.append(Unmanaged(id=lp.id, odata_type=lp.odata_type,
                                 display_name=name if isinstance(name, str) else None,
                                 reason=reason, address=lp.address))
        return tuple(out)


def _plan_one(provider: Provider | None, record: ManagedRecord | None,
              lp: LiveProvider | None, ctx: _Context) -> Change | None:
    if provider is None or provider.absent:
        return _plan_delete(provider, record, lp)
    kind = ctx.kinds[provider.kind]
    if lp is None:
        why = (Reason.CREATE_NEW if record is None else Reason.CREATE_REPLACE_UNFINISHED
               if record.relink else Reason.CREATE_DELETED_OUTSIDE)
        return _create(provider, kind, Action.CREATE, None, (why,))
    return _plan_existing(provider, record, lp, kind, ctx)


def _plan_delete(provider: Provider | None, record: ManagedRecord | None,
                 lp: LiveProvider | None) -> Change | None:
    if record is None and lp is None:
        return None
    assert record is not None or provider is not None
    kind, key = (provider.kind, provider.key) if provider else (record.kind, record.key)
    if lp is None:
        why = Reason.FORGET_DELETED_OUTSIDE
    elif record is None:
        why = Reason.DELETE_ENSURE_ABSENT_UNMANAGED
    else:
        why = Reason.DELETE_ENSURE_ABSENT if provider else Reason.DELETE_REMOVED_FROM_CONFIG
    protected = provider.protected if provider else bool(record and record.protected)
    return Change(action=Action.DELETE, kind=kind, key=key, graph_id=lp.id if lp else None,
                  desired=provider, reasons=(why,), protected=protected)


def _create(provider: Provider, kind: Kind, action: Action, lp: LiveProvider | None,
            reasons: tuple[Reason, ...], notes: tuple[str, ...] = ()) -> Change:
    body: dict[str, Any] = {"@odata.type": kind.odata_type}
    fields = []
    for name in _ordered(provider.fields, kind):
        value = provider.fields[name]
        body[name] = _copy(value)
        before = lp.fields.get(name) if lp is not None else None
        if isinstance(value, Secret | SecretRef):
            fields.append(FieldChange(name, sensitive=True, note="will be set"))
        else:
            fields.append(FieldChange(name, before=_copy(before), after=_copy(value)))
    _refuse_unresolved(provider)
    return Change(action=action, kind=provider.kind, key=provider.key,
                  graph_id=lp.id if lp is not None else None, fields=tuple(fields),
                  body=body, desired=provider, reasons=reasons, notes=notes)


def _plan_existing(provider: Provider, record: ManagedRecord | None, lp: LiveProvider,
                   kind: Kind, ctx: _Context) -> Change | None:
    _refuse_unresolved(provider)
    diffs = [name for name in _ordered(provider.fields, kind)
             if not _equal(provider.fields[name], lp.fields.get(name))]
    adopt = () if record else (Reason.ADOPT_SAME_KEY,)
    forcing = [name for name in diffs
               if name in kind.immutable or _subtype_changed(name, provider, lp)]
    if forcing:
        return _plan_replace(provider, lp, kind, diffs, forcing, adopt)
    method = _method_change(provider, record)
    rebind = [name for name in REBINDING_FIELDS if name in diffs]
    if method is not None and diffs:
        rebind.append("auth method")  # alone it is state-only: nothing goes to Graph
    kept = kept_paths(provider.fields)
    if rebind and kept:
        raise _keep_error(provider.address, kept[0][0], kept[0][1],
                          f"changes {', '.join(rebind)}, which needs the secret re-sent")
    secrets = _secret_changes(provider, record, ctx, rebind)
    fields = [FieldChange(name, before=_copy(lp.fields.get(name)),
                          after=_copy(provider.fields[name])) for name in diffs]
    fields += [change for _, change, _ in secrets]
    recorded = _recorded_changes(provider, record, {path for path, _, _ in secrets})
    reasons = [*adopt, *([Reason.UPDATE_FIELDS_DIFFER] if diffs else []),
               *(why for _, _, why in secrets if why is not None),
               *([Reason.STATE_ONLY_AUTH_METHOD] if method is not None else []),
               *(why for why, _ in recorded)]
    if method is not None:
        fields.append(method)
    fields += [change for _, change in recorded]
    if not fields and record is not None:
        return None
    send = set(diffs) | {path.split(".")[0] for path, _, _ in secrets}
    body = None
    if send:
        body = {"@odata.type": kind.odata_type,
                **{name: _with_dropped(provider.fields[name], lp.fields.get(name))
                   for name in _ordered(send, kind)}}
    return Change(action=Action.UPDATE if record else Action.ADOPT, kind=provider.kind,
                  key=provider.key, graph_id=lp.id, fields=tuple(fields), body=body,
                  desired=provider, reasons=tuple(dict.fromkeys(reasons)),
                  notes=_supply_notes(provider, secrets) if record else ())


def _supply_notes(provider: Provider,
                  secrets: Sequence[tuple[str, FieldChange, Reason | None]]
                  ) -> tuple[str, ...]:
    """Where each secret idpctl has never set comes from (e.g. after `idpctl import`)."""
    sources = dict(_secret_paths(provider.fields))
    return tuple(f"{path} will be set from {sources[path].source}: supply that value"
                 for path, _, why in secrets
                 if why is Reason.UPDATE_SECRET_NOT_RECORDED
                 and isinstance(sources.get(path), Secret))


def _plan_replace(provider: Provider, lp: LiveProvider, kind: Kind, diffs: Sequence[str],
                  forcing: Sequence[str], adopt: tuple[Reason, ...]) -> Change:
    reasons = [Reason.REPLACE_IMMUTABLE_FIELD if name in kind.immutable
               else Reason.REPLACE_SUBTYPE_CHANGED for name in forcing]
    notes = tuple(f"{name} cannot change in place" if name in kind.immutable
                  else f"{name} changes subtype, which Graph cannot switch in place"
                  for name in forcing)
    change = _create(provider, kind, Action.REPLACE, lp,
                     tuple(dict.fromkeys((*adopt, *reasons))), notes)
    keep = [replace(f, note="forces replacement") if f.name in forcing else f
            for f in change.fields if f.sensitive or f.name in diffs]
    return replace(change, fields=tuple(keep))


def _method_change(provider: Provider, record: ManagedRecord | None) -> FieldChange | None:
    if record is None or provider.auth_method not in SECRET_METHODS:
        return None
    if record.auth_method == provider.auth_method:
        return None
    if record.auth_method is not None and record.auth_method not in SECRET_METHODS:
        return None  # a subtype change: planned as replace from the live value
    return FieldChange(METHOD_FIELD, before=record.auth_method, after=provider.auth_method,
                       state_only=True, note="state only: Graph holds both methods alike")


def _recorded_changes(provider: Provider, record: ManagedRecord | None,
                      sent: set[str]) -> list[tuple[Reason, FieldChange]]:
    """State-only changes of what the state records beside Graph's fields: `protected`, and
    where a secret that is not re-sent comes from (same value, new source or version)."""
    if record is None:
        return []  # an adopt records both
    out = []
    if record.protected != provider.protected:
        out.append((Reason.STATE_ONLY_PROTECTED,
                    FieldChange("protected", before=record.protected, after=provider.protected,
                                state_only=True, note="state only: guards delete and replace")))
    for path, secret in _secret_paths(provider.fields):
        known = record.secrets.get(path)
        if path in sent or known is None or not isinstance(secret, Secret):
            continue  # a value that differs is sent (a rotation) and recorded with its source
        if (known.source, known.version) != (secret.source, secret.version):
            # like clientAuthentication.method, an idpctl field beside the Graph path; the
            # sources are value-free descriptions (SecretRef.describe), never the value
            out.append((Reason.STATE_ONLY_SECRET_SOURCE,
                         FieldChange(f"{path}.source", before=_origin(known),
                                     after=_origin(secret), state_only=True,
                                     note="state only: the same value, from a new source")))
    return out


def _origin(secret: Secret | SecretRecord) -> str:
    version = secret.version
    if not version or secret.source.endswith(f"@{version}"):
        return secret.source
    return f"{secret.source} (version {version})"


def _secret_changes(provider: Provider, record: ManagedRecord | None, ctx: _Context,
                    rebind: Sequence[str]) -> list[tuple[str, FieldChange, Reason | None]]:
    """Each secret that is sent, its field change, and why (None: a rebinding field re-sends
    it, and that field's own difference is the reason)."""
    out = []
    for path, secret in _secret_paths(provider.fields):
        known = record.secrets.get(path) if record is not None else None
        sent = _secret_note(provider.address in ctx.rotate, secret, known, ctx.state, rebind)
        if sent is not None:
            note, why = sent
            out.append((path, FieldChange(path, sensitive=True, note=note), why))
    return out


def _secret_note(requested: bool, secret: Secret, known: Any, state: State,
                 rebind: Sequence[str]) -> tuple[str, Reason | None] | None:
    if requested:
        return "rotate (requested)", Reason.UPDATE_ROTATE_REQUESTED
    if known is None:
        return "will be set", Reason.UPDATE_SECRET_NOT_RECORDED
    if fingerprint(state.fingerprint_key, secret) != known.fingerprint:
        if known.version and secret.version and known.version != secret.version:
            scheme = secret.source.split(":", 1)[0]
            label = {"vault": "vault version", "keyVault": "key vault version"}.get(
                scheme, "version")
            return (f"rotate ({label} {known.version} -> {secret.version})",
                    Reason.UPDATE_SECRET_CHANGED)
        return "rotate", Reason.UPDATE_SECRET_CHANGED
    if rebind:
        return f"re-sent ({', '.join(rebind)} changed)", None
    return None


def _secret_paths(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted paths of the secret leaves (`Secret` or unresolved `SecretRef`) in a value."""
    if isinstance(value, Secret | SecretRef):
        return [(prefix, value)]
    if isinstance(value, Mapping):
        out = []
        for key in sorted(value):
            out.extend(_secret_paths(value[key], f"{prefix}.{key}" if prefix else key))
        return out
    return []


def _refuse_unresolved(provider: Provider) -> None:
    for path, leaf in _secret_paths(provider.fields):
        if isinstance(leaf, SecretRef):
            raise PlanError(f"{provider.address}: {path}: secret reference "
                            f"{leaf.describe()} was not resolved before planning")


def _subtype_changed(name: str, provider: Provider, lp: LiveProvider) -> bool:
    if name not in SUBTYPED_FIELDS:
        return False
    want, have = provider.fields.get(name), lp.fields.get(name)
    if not isinstance(want, Mapping) or not isinstance(have, Mapping):
        return want is not None and have is not None
    a, b = want.get("@odata.type"), have.get("@odata.type")
    return a is not None and b is not None and _odata(a) != _odata(b)


def _odata(value: Any) -> str:
    return str(value).lstrip("#").casefold()


def _equal(want: Any, have: Any) -> bool:
    """Desired vs live. Secret leaves and masked read-backs are left out (fingerprints and
    the state decide those); a None member counts as absent; a nested @odata.type is compared
    case-insensitively, and only when both sides carry one."""
    if isinstance(want, Secret | SecretRef | KeepLive) or have is UNKNOWN:
        return True
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        a, b = _members(want), _members(have)
        ta, tb = a.pop("@odata.type", None), b.pop("@odata.type", None)
        if ta is not None and tb is not None and _odata(ta) != _odata(tb):
            return False
        for key in set(a) | set(b):
            if (key not in a and b[key] is UNKNOWN) or isinstance(a.get(key), KeepLive):
                continue
            if key not in a or key not in b or not _equal(a[key], b[key]):
                return False
        return True
    if isinstance(want, list | tuple) and isinstance(have, list | tuple):
        return len(want) == len(have) and all(map(_equal, want, have))
    if isinstance(want, Mapping | list | tuple) or isinstance(have, Mapping | list | tuple):
        return False
    return bool(want == have)


def _members(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def _with_dropped(want: Any, have: Any) -> Any:
    """The PATCH value of a property: `want`, plus an explicit null for each member live has
    and `want` drops (nested objects too). Graph's pages do not say whether PATCH replaces a
    complex property whole or merges it (docs/emulator-graph.md, reading `patch`); a null
    removes the member under either reading."""
    out = _copy(want)
    if not isinstance(want, Mapping) or not isinstance(have, Mapping):
        return out
    for key, value in have.items():
        if key == "@odata.type" or value is None or value is UNKNOWN:
            continue
        if key not in want or want[key] is None:
            out[key] = None
        elif isinstance(want[key], Mapping):
            out[key] = _with_dropped(want[key], value)
    return out


def _copy(value: Any) -> Any:
    """A plain deep copy that keeps `Secret` leaves as they are."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value


def _ordered(fields: Iterable[str], kind: Kind) -> list[str]:
    rank = {name: i for i, name in enumerate(kind.fields)}
    return sorted(fields, key=lambda name: (rank.get(name, len(rank)), name))
