"""The malformed-input corpus: every case is a located one-line error, exit 1, no traceback,
and no secret-looking value echoed. Plus a property test: the loader raises nothing but
ConfigError on arbitrary text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpctl.cli.main import main
from idpctl.config.document import display_path
from idpctl.config.yamlload import load_text
from idpctl.errors import ConfigError

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, str] = json.loads((CORPUS / "EXPECTED.json").read_text())
LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>\S.*)$")


@pytest.fixture(autouse=True)
def _corpus_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus lies outside each test's configuration folder: the operator's allowance
    lets idpctl read it (docs/auth.md, "Custom endpoints and files outside the repository")."""
    monkeypatch.setenv("IDPCTL_ALLOW_PATHS", str(CORPUS.resolve()))


def _config_for(case: Path, tmp_path: Path) -> Path:
    if case.parent.name == "settings":
        return case
    match = re.match(rb"# tenant: (\w+)", case.read_bytes()[:40])
    tenant = match.group(1).decode() if match else "external"
    config = tmp_path / "idpctl.yaml"
    config.write_text(
        f"tenant: t.onmicrosoft.com\ntenantKind: {tenant}\n"
        f"providers: {json.dumps(str(case.resolve()))}\n"
    )
    return config


def _validate(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", "-c", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_located(case: Path, code: int, out: str, err: str, expected: str) -> None:
    assert code == 1
    assert "Traceback" not in out + err
    assert "CANARY-" not in out + err
    shown = display_path(case)
    lines = [line for line in out.splitlines() if line]
    assert lines, err
    for line in lines:
        match = LOCATED.match(line)
        assert match, f"not a located one-line problem: {line!r}"
        assert int(match["line"]) >= 1 and int(match["col"]) >= 1
    ours = [line for line in lines if line.startswith(f"{shown}:")]
    assert any(expected in line for line in ours), (expected, lines)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = CORPUS / name
    code, out, err = _validate(_config_for(case, tmp_path), capsys)
    _assert_located(case, code, out, err, EXPECTED[name])


def test_corpus_is_large_enough() -> None:
    assert len(EXPECTED) >= 100
    assert {
        p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.yaml") if p.parent.name != "valid"
    } == set(EXPECTED)


def test_file_over_one_mebibyte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "huge.yaml"
    case.write_text("kind: oidcIdentityProvider\n" + "# padding\n" * 110_000)
    code, out, err = _validate(_config_for(case, tmp_path), capsys)
    _assert_located(case, code, out, err, "larger than 1 MiB")


def test_900000_character_client_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "huge-client-id.yaml"
    case.write_text(
        f"kind: oidcIdentityProvider\ndisplayName: Contoso\nclientId: {'x' * 900_000}\n"
    )
    code, out, err = _validate(_config_for(case, tmp_path), capsys)
    _assert_located(case, code, out, err, "900,000 characters long (at most 16,384)")


def test_900000_character_client_id_in_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "idpctl.yaml"
    config.write_text(
        f"tenant: t\ntenantKind: external\nproviders: {CORPUS / 'valid'}\n"
        f"auth: {{clientId: {'a' * 900_000}}}\n"
    )
    code, out, err = _validate(config, capsys)
    _assert_located(config, code, out, err, "characters long (at most 16,384)")


def _settings_case(tmp_path: Path, kind: str) -> Path:
    config = tmp_path / "idpctl.yaml"
    if kind == "directory":
        config.mkdir()
    else:  # a symbolic link to itself: every open fails with ELOOP
        config.symlink_to(config.name)
    return config


@pytest.mark.parametrize("kind", ["directory", "symlink-loop"])
def test_settings_file_that_cannot_be_read(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _settings_case(tmp_path, kind)
    code, out, err = _validate(config, capsys)
    expected = "not a regular file" if kind == "directory" else "cannot read"
    _assert_located(config, code, out, err, expected)


@pytest.mark.parametrize("kind", ["directory", "symlink-loop"])
def test_settings_file_found_upwards_that_cannot_be_read(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable idpctl.yaml in the working directory is reported, never skipped for a
    parent directory's idpctl.yaml (which would plan against another tenant)."""
    (tmp_path / "idpctl.yaml").write_text("tenant: parent\ntenantKind: external\n")
    (tmp_path / "sub").mkdir()
    config = _settings_case(tmp_path / "sub", kind)
    monkeypatch.chdir(tmp_path / "sub")
    code = main(["validate"])
    out, err = capsys.readouterr()
    _assert_located(config, code, out, err, "")
    assert "parent" not in out + err


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            "tenantKind: externl\ngraph: {timeout: 1e308}\n",
            ["did you mean 'external'?", "graph.timeout: must be at most 600"],
        ),
        (
            "tenantKind: external\ngraph: {timeout: .nan}\ntenant: again\n",
            ["not a finite number", "duplicate key 'tenant'"],
        ),
        ('tenantKind: external\nstate: {path: "/"}\n', ["state.path: / is a directory"]),
    ],
    ids=["schema", "loader", "paths"],
)
def test_settings_and_provider_problems_in_one_run(
    settings: str, expected: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A problem in idpctl.yaml does not hide the provider files' problems."""
    case = CORPUS / "field-missing-clientid.yaml"
    config = tmp_path / "idpctl.yaml"
    config.write_text(f"tenant: t\nproviders: {json.dumps(str(case))}\n{settings}")
    code, out, err = _validate(config, capsys)
    for line in expected:
        _assert_located(config, code, out, err, line)
    _assert_located(case, code, out, err, EXPECTED["field-missing-clientid.yaml"])


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_secret_file_that_is_a_fifo_or_a_device(kind: str, tmp_path: Path) -> None:
    """`{file: PATH}` naming a FIFO or a device is one located error at plan, never a hang
    (a FIFO with no writer blocks a reader forever) or an endless read (/dev/zero)."""
    if kind == "fifo":
        os.mkfifo(tmp_path / "secret")
        target = "secret"
    else:
        target = "/dev/zero"
    (tmp_path / "p.yaml").write_text(
        "kind: socialIdentityProvider\nidentityProviderType: Google\ndisplayName: Google\n"
        f"clientId: abc\nclientSecret: {{file: {target}}}\n"
    )
    (tmp_path / "idpctl.yaml").write_text("tenant: t\ntenantKind: external\nproviders: p.yaml\n")
    result = subprocess.run(
        [sys.executable, "-m", "idpctl", "plan", "--offline"],
        capture_output=True,
        text=True,
        timeout=10,
        cwd=tmp_path,
    )
    lines = result.stderr.splitlines()
    assert (result.returncode, len(lines)) == (1, 1), result.stderr
    assert lines[0].startswith("Error: p.yaml:5:"), lines
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_provider_files_outside_the_root_stay_unread_when_settings_are_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate's second reading (settings with problems) keeps the repository boundary:
    a `providers:` entry outside the root is refused, never read for its problems."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "p.yaml").write_text("kind: CANARY-outside-kind\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    config = repo / "idpctl.yaml"
    config.write_text("tenant: t\ntenantKind: externl\nproviders: ../outside\n")
    code, out, err = _validate(config, capsys)
    assert code == 1 and "did you mean 'external'?" in out
    assert "CANARY-" not in out + err and "p.yaml" not in out + err


def test_valid_inputs_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "idpctl.yaml"
    config.write_text(
        f"tenant: t\ntenantKind: external\nproviders: {json.dumps(str(CORPUS / 'valid'))}\n"
    )
    code, out, err = _validate(config, capsys)
    assert (code, err) == (0, "")
    assert out.startswith("OK: 4 providers in 3 files")


@pytest.mark.parametrize(
    "name",
    ["binary-random.yaml", "alias-bomb.yaml", "secret-literal-string.yaml", "settings/tab.yaml"],
)
def test_corpus_in_a_subprocess(name: str, tmp_path: Path) -> None:
    case = CORPUS / name
    config = _config_for(case, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "idpctl", "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path.cwd(),
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    _assert_located(case, result.returncode, result.stdout, result.stderr, EXPECTED[name])


_TOKENS = [
    *"ab:- \n\t[]{},&*!|>'\"#%@`?~0.9\x00\x85\u2028\ufeff\xe9",
    "kind",
    "<<",
    "&a",
    "*a",
    "!!str",
    "---",
    "...",
    "\n  ",
    "\n- ",
]
_YAMLISH = st.lists(st.sampled_from(_TOKENS), max_size=120).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_YAMLISH)
def test_loader_raises_only_config_error(text: str) -> None:
    try:
        load_text(text, file="prop.yaml")
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.line >= 1 and problem.column >= 1
            assert "\n" not in problem.message


_NO_NUL = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(_NO_NUL, max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_loader_round_trips_json_values(value: object) -> None:
    text = json.dumps({"v": value})
    assert load_text(text, file="j.yaml").data == {"v": value}


_FIELD_NAMES = [
    "kind",
    "displayName",
    "clientId",
    "clientSecret",
    "issuer",
    "wellKnownEndpoint",
    "responseType",
    "scope",
    "clientAuthentication",
    "method",
    "inboundClaimMapping",
    "email",
    "identityProviderType",
    "certificateData",
    "env",
    "file",
    "vault",
    "keyVault",
    "path",
    "key",
    "version",
    "protected",
    "ensure",
    "userFlows",
    "metadataUrl",
    "claimsMapping",
    "userId",
    "name",
    "type",
    "providers",
]
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(
        [
            "oidcIdentityProvider",
            "socialIdentityProvider",
            "appleManagedIdentityProvider",
            "openIdConnectIdentityProvider",
            "openIdConnectProvider",
            "builtInIdentityProvider",
            "Google",
            "code",
            "id_token",
            "absent",
            "private_key_jwt",
            "client_secret_post",
            "https://x/.well-known/openid-configuration",
            "openid",
            "X",
            "",
            "${var.V}",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_FIELD_NAMES), inner, max_size=6)
    ),
    max_leaves=25,
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.dictionaries(st.sampled_from(_FIELD_NAMES), _VALUES, max_size=10))
def test_provider_loading_raises_only_config_error(tmp_path: Path, data: dict) -> None:
    from idpctl.config.providers import load_providers
    from idpctl.config.settings import load_settings
    from idpctl.kinds import load_kinds

    (tmp_path / "p.yaml").write_text(json.dumps(data))
    (tmp_path / "idpctl.yaml").write_text("tenant: t\ntenantKind: b2c\nproviders: p.yaml\n")
    try:
        load_providers(load_settings(tmp_path / "idpctl.yaml"), load_kinds())
    except ConfigError as error:
        assert error.problems
        assert all(p.line >= 1 and "\n" not in p.message for p in error.problems)


_SETTING_PATHS = [
    ("tenant",),
    ("tenantKind",),
    ("cloud",),
    ("graph", "timeout"),
    ("graph", "rateLimit"),
    ("graph", "caBundle"),
    ("graph", "url"),
    ("preflight", "caBundle"),
    ("vault", "caCert"),
    ("state", "path"),
    ("state", "backend"),
    ("providers",),
    ("auth", "clientId"),
    ("secretPolicy", "maxAge"),
    ("variables", "A"),
    ("allowDestroy",),
]
_HOSTILE = st.sampled_from(
    [
        ".inf",
        ".nan",
        "-.inf",
        "1e308",
        "1e999",
        "0",
        "-1",
        "/",
        ".",
        "..",
        "../../x",
        '"a\\0b"',
        '"a\\nb"',
        '"x/../y?#"',
        "''",
        "null",
        "[]",
        "{}",
        "/dev/null",
        "/etc",
        "external",
        "t.onmicrosoft.com",
        "99999999999999999999999d",
        "1d",
        "x" * 20_000,
    ]
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.dictionaries(st.sampled_from(_SETTING_PATHS), _HOSTILE, min_size=1, max_size=5))
def test_settings_loading_raises_only_config_error(tmp_path: Path, values: dict) -> None:
    """Any hostile value at any setting: Settings or a ConfigError of located one-line
    problems, never another exception (an internal error)."""
    from idpctl.config.settings import load_settings

    tree: dict[str, Any] = {"tenant": "t", "tenantKind": "external", "providers": "."}
    for path, value in values.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[path[-1]] = value
    (tmp_path / "idpctl.yaml").write_text(_flow(tree) + "\n")
    try:
        load_settings(tmp_path / "idpctl.yaml")
    except ConfigError as error:
        assert error.problems
        assert all(p.line >= 1 and "\n" not in p.message for p in error.problems)


def _flow(value: Any) -> str:
    """A YAML flow mapping whose leaves are written as given (they are YAML already)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return str(value)
