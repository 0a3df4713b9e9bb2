"""Attacker-side tests of what idpctl prints and writes (docs/security.md, controls 2 to 4).

The author of a pull request controls provider files, file names and every server a URL in them
points to. Every line idpctl prints in these scenarios is scanned for GitHub workflow commands,
control characters and forged `Error:` lines; every secret a scenario hands idpctl (lengths 1 to
64, unicode, JSON-special characters, quotes, backslashes, a PEM with newlines) is looked for in
every byte printed and every file written, raw and encoded. Runs are in-process (fast); the
scrubbing gate is the same one a child process goes through (`cli.main`).
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from pathlib import Path

import pytest

from hostile_echo import PAYLOAD, Echo, echo_server
from idpctl import output, redact
from idpctl.render.annotations import annotation

OIDC = """\
kind: oidcIdentityProvider
displayName: {name}
clientId: contoso-client
issuer: https://idp.contoso.test/
wellKnownEndpoint: https://idp.contoso.test/.well-known/openid-configuration
responseType: code
scope: openid profile
clientAuthentication:
  method: client_secret_post
  clientSecret: {{env: CONTOSO_SECRET}}
inboundClaimMapping: {{sub: sub, email: email}}
"""


def test_a_secret_equal_to_a_display_name_still_converges(workspace) -> None:
    """Scrubbing is for output only: data idpctl reasons on is never masked."""
    name = "Contoso Sign-in"
    workspace.write("contoso.yaml", OIDC.format(name=json.dumps(name)))
    env = {"CONTOSO_SECRET": name}
    first = workspace.run("apply", "--auto-approve", env=env)
    assert first.code == 0, first.text
    workspace.assert_converged(env=env)
    assert name in [p["displayName"] for p in workspace.live()]


def test_a_saved_plan_is_stale_when_a_secret_value_changed(workspace) -> None:
    """Control 4 keeps staleness working: the one keyed digest over secrets moves."""
    workspace.write("contoso.yaml", OIDC.format(name="Contoso"))
    env = {"CONTOSO_SECRET": "CANARY-first-value"}
    workspace.apply(env=env)
    saved = workspace.run(
        "plan", "--out", "plan.json", "--rotate", "oidcIdentityProvider/Contoso", env=env
    )
    assert saved.code == 0, saved.text
    text = (workspace.root / "plan.json").read_text(encoding="utf-8")
    assert '"format_version": 3' in text and "fingerprint" not in text and "salt" not in text
    refused = workspace.run("apply", "plan.json", env={"CONTOSO_SECRET": "CANARY-second-value"})
    assert refused.code == 1 and "a secret's value changed" in refused.err, refused.text
    assert workspace.run("apply", "plan.json", env=env).code == 0


# -- canaries --------------------------------------------------------------------------------

# JSON-special characters, quotes, backslashes, spaces, unicode, URL and Markdown specials
_POOL = "\"\\ '{}%+&<>é/ß=?#:;,@!$^*()[]|~`Ω\t"


def canary(length: int, tag: str = "") -> str:
    """A secret of exactly `length` characters that nothing else idpctl prints contains: it
    starts with a snowman (and a tag), ends with a letter, and mixes everything in between."""
    head = "\u2603" + tag
    if length <= len(head):
        return head[:length]
    middle = "".join(_POOL[(i * 7 + length) % len(_POOL)] for i in range(length - len(head) - 1))
    return head + middle + "Z"


PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\u2603pemLineOneXyZ\n"
    "bKcwggSjAgEAAoIBAQDsecondPemLine\u2603Qq\n-----END PRIVATE KEY-----\n"
)


def spellings(value: str) -> set[str]:
    """Every way a value can be spelled in output, written independently of idpctl.redact."""
    out = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        urllib.parse.quote(value),
        html.escape(value),
        repr(value)[1:-1],
        " ".join(value.split()),
    }
    out |= {line for line in value.splitlines() if len(line) >= 8 and "-----" not in line}
    return {s for s in out if s}


# -- what every printed line must not be ------------------------------------------------------

_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_OWN_COMMAND = re.compile(r"^::(error|warning|notice)( [^:]*)?::")


def assert_safe_lines(text: str) -> None:
    """No control character, no workflow command idpctl did not build, no forged Error line."""
    for line in text.split("\n"):
        assert not _CONTROLS.search(line), f"control character in {line!r}"
        stripped = line.lstrip(" \t")
        if stripped.startswith("::"):
            assert _OWN_COMMAND.match(stripped) and "FORGED" not in stripped.split("::")[1], line
        assert "##[" not in line, line
        assert not re.match(r"^\s*Error: FORGED", line), line
        if line.startswith("Error:"):  # the action's `error` output is shown in a ``` fence
            assert "```" not in line, line


WINDOW = 16  # a run this long of a longer secret is a partial leak (a cut error message)


def _pieces(value: str) -> set[str]:
    if len(value) < 2 * WINDOW:
        return set()
    return {value[i : i + WINDOW] for i in range(0, len(value) - WINDOW + 1, 4)}


def assert_nothing_of(
    secrets: list[str], texts: list[str], roots: list[Path], skip: tuple[str, ...] = ("secrets",)
) -> None:
    forms = {form for value in secrets for form in spellings(value) | _pieces(value)}
    for text in texts:
        for form in forms:
            assert form not in text, f"a secret ({form!r}) leaked into output:\n{text[:2000]}"
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or set(path.relative_to(root).parts) & set(skip):
                continue
            data = path.read_text(encoding="utf-8", errors="replace")
            for form in forms:
                assert form not in data, f"a secret ({form!r}) leaked into {path}"


# -- the gate itself ---------------------------------------------------------------------------


def test_the_gate_escapes_controls_and_defuses_workflow_commands() -> None:
    cleaned = output.clean(PAYLOAD + "\n  ::set-output name=x::y\n")
    for line in cleaned.split("\n"):  # the gate keeps line structure: lines are the writer's
        assert not _CONTROLS.search(line) and not line.lstrip().startswith("::"), line
        assert "##[" not in line, line
    assert "\\x3a:add-mask" in cleaned and "#\\x23[error]" in cleaned
    line = output.inline(PAYLOAD)
    assert "\n" not in line and "```" not in line and "Error: FORGED" in line
    assert_safe_lines(output.clean("Error: graph said: " + line))


def test_an_annotation_idpctl_builds_is_the_one_way_to_start_a_line_with_two_colons() -> None:
    import io

    raw = io.StringIO()
    gate = output.Gate(raw)
    gate.write("::error::forged by text\n")
    gate.command(annotation("warning", PAYLOAD, file="prov\n::x.yaml", line=3, title="t::\n"))
    gate.flush()
    lines = raw.getvalue().splitlines()
    assert lines[0].startswith("\\x3a:error") and lines[1].startswith("::warning file=")
    assert len(lines) == 2
    assert_safe_lines(raw.getvalue())


def test_values_shorter_than_the_minimum_are_not_registered() -> None:
    for length in range(1, redact.MIN_LENGTH):
        redact.register(canary(length, "s"))
    assert output.clean("x \u2603 y a b\n") == "x \u2603 y a b\n"


def test_every_registered_secret_is_scrubbed_in_every_spelling() -> None:
    values = [canary(length, "s") for length in range(redact.MIN_LENGTH, 65)] + [PEM]
    for value in values:
        redact.register(value)
    for value in values:
        for form in spellings(value):
            assert form not in output.clean(f"x {form} y\n"), form
            assert form not in output.inline(f"x {form} y"), form


# -- every verb, success and failure paths, with and without --debug -----------------------

SUCCESS_RUNS = (
    ("validate",),
    ("plan",),
    ("plan", "--format", "json"),
    ("plan", "--format", "markdown"),
    ("plan", "--out", "saved.json"),
    ("show", "saved.json"),
    ("show", "saved.json", "--format", "json"),
    ("show", "saved.json", "--format", "markdown"),
    ("apply", "saved.json"),
    ("plan", "--detailed-exitcode"),
    ("drift",),
    ("drift", "--format", "json"),
    ("drift", "--format", "markdown"),
    ("secrets", "report", "--offline"),
    ("secrets", "report", "--offline", "--format", "json"),
    ("secrets", "report", "--offline", "--format", "markdown"),
    ("state", "list"),
    ("state", "show", "oidcIdentityProvider/P08"),
    ("state", "pull"),
    ("whoami",),
    ("export", "--out", "exported", "--force"),
    ("import", "--all"),
    ("fmt",),
)
PEM_PROVIDER = """\
kind: socialIdentityProvider
identityProviderType: Google
displayName: Google
clientId: google-client
clientSecret: {file: ../secrets/pem.txt}
"""


def _canary_repo(workspace, lengths: range, tag: str) -> dict[str, str]:
    """One provider per canary length; returns the environment holding the canaries."""
    env = {}
    for n in lengths:
        workspace.write(
            f"p{n:02d}.yaml",
            OIDC.format(name=f"P{n:02d}").replace("CONTOSO_SECRET", f"SECRET_{n:02d}"),
        )
        env[f"SECRET_{n:02d}"] = canary(n, tag)
    secrets = workspace.root / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "pem.txt").write_text(PEM, encoding="utf-8")
    workspace.write("google.yaml", PEM_PROVIDER)
    env["GITHUB_STEP_SUMMARY"] = str(workspace.root / "summary.md")
    env["GITHUB_ACTIONS"] = "true"  # annotations on: their lines are scanned too
    return env


def _run(
    workspace,
    results: list,
    args: tuple[str, ...],
    env: dict[str, str],
    *,
    debug: bool,
    codes: tuple[int, ...] = (0, 2),
):
    argv = (*args[:1], "--debug", *args[1:]) if debug else args
    if args[0] in ("state", "secrets") and debug:
        argv = (*args[:2], "--debug", *args[2:])
    result = workspace.run(*argv, env=env)
    assert result.code in codes, (argv, result.text[-3000:])
    results.append(result)
    return result


def _scan(workspace, results: list, secrets: list[str]) -> None:
    texts = [r.out + r.err for r in results]
    for text in texts:
        assert_safe_lines(text)
    assert_nothing_of(secrets, texts, [workspace.root])


READ_RUNS = (
    ("validate",),
    ("plan",),
    ("plan", "--format", "json"),
    ("plan", "--format", "markdown"),
    ("plan", "--out", "saved.json"),
    ("show", "saved.json"),
    ("show", "saved.json", "--format", "markdown"),
    ("drift", "--format", "markdown"),
    ("secrets", "report", "--offline", "--format", "markdown"),
)
# the write side runs on a few lengths (each create is a Graph write); the read side on all
APPLIED_LENGTHS = (8, 23, 64)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_canaries_of_every_length_through_the_read_verbs(workspace, debug: bool) -> None:
    env = _canary_repo(workspace, range(redact.MIN_LENGTH, 65), "a")
    results: list = []
    for args in READ_RUNS:
        _run(workspace, results, args, env, debug=debug)
    values = [v for k, v in env.items() if k.startswith("SECRET_")]
    _scan(workspace, results, [*values, PEM, PEM.strip()])


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_canaries_through_every_verb_and_a_rotation(workspace, debug: bool) -> None:
    env = _canary_repo(workspace, APPLIED_LENGTHS, "a")
    results: list = []
    for args in SUCCESS_RUNS:
        _run(workspace, results, args, env, debug=debug)
    rotated = {**env, **{k: canary(int(k[-2:]), "b") for k in env if k.startswith("SECRET_")}}
    assert "rotate" in _run(workspace, results, ("plan",), rotated, debug=debug).out
    _run(workspace, results, ("apply", "--auto-approve"), rotated, debug=debug)
    _run(workspace, results, ("plan", "--detailed-exitcode"), rotated, debug=debug, codes=(0,))
    assert (workspace.root / "summary.md").stat().st_size > 0
    values = [v for e in (env, rotated) for k, v in e.items() if k.startswith("SECRET_")]
    _scan(workspace, results, [*values, PEM, PEM.strip()])


def test_canaries_shorter_than_the_minimum_are_refused_at_resolve(workspace) -> None:
    env = _canary_repo(workspace, range(1, redact.MIN_LENGTH), "c")
    results: list = []
    for debug in (False, True):
        refused = _run(workspace, results, ("plan",), env, debug=debug, codes=(1,))
        for n in range(1, redact.MIN_LENGTH):
            assert (
                f"oidcIdentityProvider/P{n:02d} clientAuthentication.clientSecret: the value "
                f"of env:SECRET_{n:02d} is shorter than {redact.MIN_LENGTH}" in refused.err
            )
        assert "p01.yaml:10:" in refused.err  # located
    _run(workspace, results, ("apply", "--auto-approve"), env, debug=False, codes=(1,))
    assert workspace.live() == [] or all(p["displayName"] != "P01" for p in workspace.live())
    _scan(workspace, results, [canary(n, "c") for n in range(1, redact.MIN_LENGTH)])


# -- servers that echo what they were sent, with forged lines ----------------------------------


def _point(workspace, *, graph: str | None = None, authority: str | None = None) -> None:
    text = workspace.config.read_text(encoding="utf-8")
    base = workspace.emulator.base_url
    if graph:
        text = text.replace(f"  url: {base}", f"  url: {graph}")
    if authority:
        text = text.replace(f"  authority: {base}", f"  authority: {authority}")
    workspace.config.write_text(text, encoding="utf-8")


def _echo_scan(workspace, results: list, echo: Echo, env: dict[str, str]) -> None:
    assert echo.seen, "the hostile server received no credential: the scenario tested nothing"
    values = [v for k, v in env.items() if k.startswith("SECRET_")]
    _scan(workspace, results, [*values, *echo.seen, workspace.emulator.client_secret])


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_graph_errors_echoing_the_request_body_and_authorization(workspace, debug) -> None:
    env = _canary_repo(workspace, APPLIED_LENGTHS, "g")
    echo = Echo(when=lambda method, path: method != "GET")  # reads pass, writes are echoed
    results: list = []
    with echo_server(workspace.emulator, echo) as url:
        _point(workspace, graph=url)
        _run(workspace, results, ("apply", "--auto-approve"), env, debug=debug, codes=(1,))
        assert any("$batch" in body or "clientSecret" in body for body in echo.bodies)
        echo.when = lambda method, path: True  # now every Graph request
        for args in (("plan",), ("drift",), ("export", "--out", "x"), ("import", "--all")):
            _run(workspace, results, args, env, debug=debug, codes=(1, 2))
        _run(workspace, results, ("whoami",), env, debug=debug, codes=(0, 1))
    _echo_scan(workspace, results, echo, env)


def test_sign_in_errors_echoing_the_token_request(workspace) -> None:
    env = _canary_repo(workspace, APPLIED_LENGTHS, "t")
    echo = Echo(rebase=True)
    results: list = []
    with echo_server(workspace.emulator, echo) as url:
        echo.when = lambda method, path: "oauth2" in path and method == "POST"
        _point(workspace, authority=url)
        for debug in (False, True):
            _run(workspace, results, ("plan",), env, debug=debug, codes=(1,))
    assert any("client_secret" in body for body in echo.bodies)
    values = [v for k, v in env.items() if k.startswith("SECRET_")]
    _scan(workspace, results, [*values, workspace.emulator.client_secret])


KEY_VAULT_PROVIDER = OIDC.format(name="KV").replace(
    "{env: CONTOSO_SECRET}", '{keyVault: "%s/secrets/kv"}'
)
VAULT_PROVIDER = OIDC.format(name="Vault").replace(
    "{env: CONTOSO_SECRET}", "{vault: {path: idp/vault, key: client_secret}}"
)


# a header value is ASCII: the Vault token canary is ASCII specials only
VAULT_TOKEN = 'hvs.CANARY-"\\{}%+&<>/=?#:;,@!$^*()[]|~`Zq9'


def test_key_vault_and_vault_errors_echoing_tokens_and_login_bodies(workspace) -> None:
    env = _canary_repo(workspace, APPLIED_LENGTHS, "k")
    echo = Echo()
    results: list = []
    with echo_server(workspace.emulator, echo) as url:
        echo.when = lambda method, path: "/secrets/" in path or path.startswith("/v1/")
        workspace.write("facebook.yaml", KEY_VAULT_PROVIDER % url)
        workspace.write("amazon.yaml", VAULT_PROVIDER)
        env |= {
            "VAULT_ADDR": url,
            "VAULT_CACERT": workspace.emulator.ca_path,
            "VAULT_TOKEN": VAULT_TOKEN,
        }
        for debug in (False, True):
            _run(workspace, results, ("plan",), env, debug=debug, codes=(1,))
        workspace.extra_config = (
            "vault:\n  auth: {method: approle, roleId: role-1, "
            "secretId: {env: SECRET_ID_APPROLE}}\n"
        )
        workspace.write_config()
        env["SECRET_ID_APPROLE"] = canary(36, "p")
        for debug in (False, True):
            _run(workspace, results, ("apply", "--auto-approve"), env, debug=debug, codes=(1,))
    assert any("secret_id" in body for body in echo.bodies)
    assert VAULT_TOKEN in echo.seen
    _scan(
        workspace,
        results,
        [
            VAULT_TOKEN,
            canary(36, "p"),
            *echo.seen,
            *(v for k, v in env.items() if k.startswith("SECRET_")),
        ],
    )


# -- outside strings that try to write lines of their own ------------------------------------


def test_hostile_file_names_display_names_and_lock_holders(workspace) -> None:
    results: list = []
    env = {"CONTOSO_SECRET": canary(20, "h")}
    workspace.write(
        "evil\n::warning file=README.md::FORGED\nError: FORGED.yaml",
        OIDC.format(name=json.dumps(PAYLOAD)),
    )
    workspace.write("ok.yaml", OIDC.format(name="Fine"))
    for args in (("validate",), ("plan",), ("fmt",), ("fmt", "--migrate")):
        _run(workspace, results, args, env, debug=False, codes=(0, 1))
    assert "FORGED.yaml:2:14:" in results[0].out  # refused, located (NUL or control char)
    workspace.remove("evil\n::warning file=README.md::FORGED\nError: FORGED.yaml")
    lock = workspace.root / "state.json.lock"
    lock.write_text(
        json.dumps(
            {
                "lock_id": "lock-1",
                "host": PAYLOAD,
                "pid": 1,
                "started_at": PAYLOAD,
                "operation": PAYLOAD,
                "user": PAYLOAD,
            }
        ),
        encoding="utf-8",
    )
    _run(workspace, results, ("apply", "--auto-approve"), env, debug=False, codes=(1,))
    assert "state is locked by" in results[-1].err
    _run(workspace, results, ("state", "unlock", "lock-1"), env, debug=False, codes=(0,))
    _scan(workspace, results, [canary(20, "h")])


def test_a_variable_holding_forged_lines_is_refused_as_a_display_name(workspace) -> None:
    workspace.extra_config = 'variables: {EVIL: "Contoso\\n::add-mask::FORGED\\u2028x"}\n'
    workspace.write_config()
    workspace.write("contoso.yaml", OIDC.format(name="${var.EVIL}"))
    results: list = []
    env = {"CONTOSO_SECRET": canary(20, "v")}
    for args in (("validate",), ("plan",)):
        _run(workspace, results, args, env, debug=False, codes=(1,))
    assert "displayName holds a control or layout character (U+000A)" in results[0].text
    _scan(workspace, results, [canary(20, "v")])


@pytest.mark.parametrize(
    "space",
    ["\u00a0", "\u2000", "\u2007", "\u3000", "\u1680", "\u202f", "\u205f", "\r", "\f", "\v", " \t"],
)
def test_a_line_behind_any_unicode_white_space_is_defused(space: str) -> None:
    """The runner trims every Unicode white space (.NET TrimStart) before it looks for `::`."""
    cleaned = output.clean(f"{space}::warning title=FORGED::x\nok\n{space}::add-mask::y\n")
    for line in cleaned.split("\n"):
        assert not line.lstrip().startswith("::"), repr(line)
    if output.first_control(space) is None:  # a control (\r, \f, \v) is shown escaped instead
        assert cleaned.count("\\x3a:") == 2


def test_field_names_from_a_crafted_plan_file_stay_on_their_line() -> None:
    """`idpctl show` renders a plan file someone else may have written (a pull request's
    workflow can upload one): a field name's newline cannot start a forged line."""
    from idpctl.model import Action, Change, FieldChange, Plan
    from idpctl.render.plans import text

    forged = "clientId\n\u00a0::warning title=FORGED::x\nError: FORGED error line"
    fields = (
        FieldChange(name=forged, before="a", after="b"),
        FieldChange(name=forged, after="b"),
        FieldChange(name=forged, sensitive=True, note="will be set"),
        FieldChange(name=forged, before={"a": 1}, after={"a": 2}),
    )
    plan = Plan(
        changes=(
            Change(
                action=Action.UPDATE,
                kind="socialIdentityProvider",
                key="Google",
                graph_id="g",
                fields=fields,
            ),
            Change(
                action=Action.CREATE, kind="socialIdentityProvider", key="Facebook", fields=fields
            ),
        )
    )
    shown = output.clean(text(plan))
    assert_safe_lines(shown)
    assert not any(line.startswith("Error: FORGED") for line in shown.splitlines())
