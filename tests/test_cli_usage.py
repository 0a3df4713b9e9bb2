"""Usage errors and closed pipes, for every verb.

A usage error (unknown option, missing value, bad choice, missing argument) is one `Error:`
line and exit 1: never argparse's 2, which `plan --detailed-exitcode` and `drift` define as
"changes" (a typo must not open a drift issue). A reader that leaves early (`| head -1`) ends
the run quietly with 141, never "internal error". The cases are generated from the parser,
so a new verb or option is covered without editing this file."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idpctl.cli import common
from idpctl.cli import main as cli


def _verbs(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(words, parser) for every verb and sub-verb (`state show`, `secrets report`)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*prefix, name), sub))
                found.extend(_verbs(sub, (*prefix, name)))
    return found


VERBS = _verbs(cli.build_parser())
VALUED = [
    (words, option)
    for words, sub in VERBS
    for action in sub._actions
    if action.option_strings
    and action.nargs is None
    and action.const is None
    and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
    for option in action.option_strings[:1]
]
CHOICES = [
    (words, action.option_strings[0])
    for words, sub in VERBS
    for action in sub._actions
    if action.option_strings and action.choices
]
EMULATOR = [
    ("emulator", "--bogus"),
    ("emulator", "--port"),
    ("emulator", "--port", "x"),
    ("emulator", "--tenant-kind", "externl"),
    ("emulator", "--rate-window", "nan"),
    ("emulator", "--replication-delay", "inf"),
    ("emulator", "--rate-window", "1e308"),
    ("emulator", "--page-size", "0"),
    ("emulator", "--rate-limit", "-1"),
]


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    out, err = capsys.readouterr()
    assert exited.value.code == 1, (argv, exited.value.code, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: idpctl"), (argv, err)
    assert "Traceback" not in err and "usage:" not in err
    return lines[0]


def test_every_verb_is_covered() -> None:
    names = {words[0] for words, _ in VERBS}
    assert {
        "validate",
        "plan",
        "drift",
        "apply",
        "show",
        "state",
        "secrets",
        "schema",
        "fmt",
        "export",
        "import",
        "whoami",
        "emulator",
    } <= names
    assert len(VALUED) >= 20 and len(CHOICES) >= 5


@pytest.mark.parametrize("words", [w for w, _ in VERBS if w != ("emulator",)], ids=" ".join)
def test_unknown_option_exits_1(words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    _usage_error([*words, "--no-such-option"], capsys)


@pytest.mark.parametrize(
    ("words", "option"), VALUED, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_missing_value_exits_1(
    words: tuple[str, ...], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _usage_error([*words, option], capsys)


@pytest.mark.parametrize(
    ("words", "option"), CHOICES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_bad_choice_exits_1(
    words: tuple[str, ...], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _usage_error([*words, option, "nonsense"], capsys)


@pytest.mark.parametrize(
    "argv",
    [
        ["frob"],
        ["state"],
        ["state", "show"],
        ["secrets"],
        ["state", "mv", "a"],
        ["show"],
        ["state", "unlock"],
        ["--config"],
        ["--env"],
        *map(list, EMULATOR),
    ],
    ids=" ".join,
)
def test_missing_arguments_and_unknown_verbs_exit_1(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _usage_error(argv, capsys)


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["drift", "--ignore-unmanged"], "did you mean --ignore-unmanaged?"),
        (["plan", "--detailed-exitcode", "--bogus"], "(see idpctl --help)"),
        (["plan", "--format", "jsn"], "did you mean json?"),
        (["apply", "--auto-aprove"], "did you mean --auto-approve?"),
    ],
)
def test_usage_error_names_the_nearest_option(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hint in _usage_error(argv, capsys)


def test_unrelated_option_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    assert "did you mean" not in _usage_error(["plan", "--bogus"], capsys)


def test_usage_error_in_a_process_exits_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "idpctl", "drift", "--ignore-unmanged"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert len(result.stderr.splitlines()) == 1


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "130", "141"):
        assert f"\n  {code}" in out


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: every write raises, like a pipe after `head` exits."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "argv",
    [
        ["schema"],
        ["schema", "oidcIdentityProvider"],
        ["--help"],
        [],
        ["validate"],
        ["state", "pull"],
        ["state", "list"],
    ],
    ids=lambda a: " ".join(a) or "no-verb",
)
def test_closed_stdout_ends_quietly(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    providers = Path(__file__).parent / "corpus" / "valid"
    (tmp_path / "idpctl.yaml").write_text(
        f"tenant: t.onmicrosoft.com\ntenantKind: external\nproviders: {providers}\n"
    )
    (tmp_path / ".idpctl").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # --help
        code = exit_.code
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert code in (0, 1, cli.EXIT_PIPE_CLOSED), err
    if argv[:1] == ["schema"]:
        assert (code, err) == (cli.EXIT_PIPE_CLOSED, "")


def test_schema_into_a_closed_pipe_in_a_process(tmp_path: Path) -> None:
    """`idpctl schema | head -1` with the reader already gone: no message, exit 141."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "idpctl", "schema", "idpctl"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (cli.EXIT_PIPE_CLOSED, "")


def test_apply_progress_survives_a_closed_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The applier's progress callback must never raise: a reader leaving mid-apply must
    not stop the writes before the state is saved."""
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    common.progress("+ create oidcIdentityProvider/Contoso")
    common.progress("  done")
