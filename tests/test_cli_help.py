"""--help gives an example for every option of every verb.

The example is written once, where the option is declared (`cli.option(..., example=...)`),
and shown on the option's --help line. This test walks the whole argparse tree, so an option
added without an example fails here; each example must also parse as that verb's command line
(with placeholder values for the verb's required arguments)."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from idpctl.cli import main as cli
from test_cli_usage import _verbs

PARSER = cli.build_parser()
VERBS = [((), PARSER), *((w, p) for w, p in _verbs(PARSER) if w != ("emulator",))]


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
    ]


OPTIONS = [(words, parser, action) for words, parser in VERBS for action in _options(parser)]


def _id(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(value) or "idpctl"
    if isinstance(value, argparse.Action):
        return value.option_strings[-1]
    return ""


def test_the_walk_finds_every_verb_and_option() -> None:
    assert {w[0] for w, _ in VERBS if w} >= {"plan", "apply", "drift", "fmt", "state", "secrets"}
    assert len(OPTIONS) > 150  # the eight global options on every verb, and each verb's own


@pytest.mark.parametrize(("words", "parser", "action"), OPTIONS, ids=_id)
def test_every_option_has_an_example_shown_in_help(
    words: tuple[str, ...], parser: argparse.ArgumentParser, action: argparse.Action
) -> None:
    example = getattr(action, "example", None)
    assert example, f"idpctl {' '.join(words)} {action.option_strings[-1]}: no example"
    first = shlex.split(example)[0].split("=", 1)[0]
    assert first in action.option_strings or action.dest in _dests(parser, example), example
    shown = " ".join(parser.format_help().split())
    assert f"e.g. {example}" in shown, (example, shown)


@pytest.mark.parametrize(("words", "parser", "action"), OPTIONS, ids=_id)
def test_every_example_parses(
    words: tuple[str, ...], parser: argparse.ArgumentParser, action: argparse.Action
) -> None:
    if isinstance(action, argparse._VersionAction):
        return  # --version prints and exits: its example is the bare option
    argv = [*words, *_required(parser, but=action), *shlex.split(action.example)]
    args = PARSER.parse_args(argv)
    value = getattr(args, action.dest)
    assert value not in (None, False, []), (argv, value)


def _dests(parser: argparse.ArgumentParser, example: str) -> set[str]:
    words = shlex.split(example)
    return {a.dest for a in _options(parser) if set(a.option_strings) & set(words)}


def _required(parser: argparse.ArgumentParser, *, but: argparse.Action) -> list[str]:
    """Placeholder positionals, a required sub-verb and the other required options'
    own examples."""
    argv: list[str] = []
    for action in parser._actions:
        if action is but:
            continue
        if isinstance(action, argparse._SubParsersAction):  # `state`: its first action
            argv += [next(iter(action.choices))] if action.required else []
            continue
        if not action.option_strings and action.nargs in (None, 1):
            argv.append("PLACEHOLDER")
        elif action.option_strings and action.required:
            argv += shlex.split(action.example)  # type: ignore[attr-defined]
    return argv


def test_a_verb_help_shows_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["plan", "--help"])
    out = capsys.readouterr().out
    assert re.search(
        r"--out FILE, -out FILE\s+save the plan for apply \(e\.g\. --out plan\.json\)", out
    ), out
    assert "examples:\n  idpctl plan --out plan.json" in out and "exit codes:" in out


def test_the_readme_shows_drift_help_as_the_program_prints_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    monkeypatch.setenv("COLUMNS", "100")
    drift = next(p for w, p in VERBS if w == ("drift",))
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"```text\n{drift.format_help()}```" in readme, "README: paste `idpctl drift --help`"


def test_each_verb_declares_its_flags_in_its_own_module() -> None:
    """`idpctl VERB`'s flags live next to its run, in idpctl/cli/VERB.py (HELP, EXAMPLES,
    add_arguments, run); main.py lists the verbs and declares none of their options."""
    import importlib
    import pkgutil
    from pathlib import Path

    import idpctl.cli

    declared = set()
    for info in pkgutil.iter_modules(idpctl.cli.__path__):
        module = importlib.import_module(f"idpctl.cli.{info.name}")
        if hasattr(module, "add_arguments"):
            assert all(hasattr(module, name) for name in ("HELP", "EXAMPLES", "run")), info.name
            declared.add(info.name.rstrip("_"))
    assert declared == set(cli.VERBS)
    source = Path(cli.__file__).read_text(encoding="utf-8")
    assert source.count("option(") == 1  # --version, the top-level parser's own
