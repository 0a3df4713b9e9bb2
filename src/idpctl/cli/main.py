"""The command line: verbs, options and exit codes. The only module that prints.

Exit codes: 0 success and no changes; 2 changes present (`plan --detailed-exitcode`, `drift`);
1 any error, including a partial apply and a usage error (an unknown option, a missing value:
never 2, which a workflow reads as "changes"); 130 interrupted; 141 stdout closed early
(`idpctl schema | head -1`: nothing more is printed, no error line). Heavy modules (httpx,
msal) are imported only by the verbs that use them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn, Protocol, cast

from idpctl import __version__, output
from idpctl.cli.options import EXIT_CODES_HELP, HelpFormatter, add_globals, option
from idpctl.errors import IdpctlError

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left

# the verbs in the order --help lists them; each module declares HELP, EXAMPLES,
# add_arguments(parser) and run(args)
VERBS = (
    "init",
    "validate",
    "plan",
    "drift",
    "envs",
    "export",
    "convert",
    "import",
    "apply",
    "show",
    "state",
    "whoami",
    "secrets",
    "schema",
    "fmt",
)


class VerbModule(Protocol):
    HELP: str
    EXAMPLES: Sequence[str]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _verb_module(verb: str) -> VerbModule:
    module = {"import": "import_"}.get(verb, verb)  # `import` is a Python keyword
    return cast(VerbModule, importlib.import_module(f"idpctl.cli.{module}"))


def _handler(verb: str) -> Callable[[argparse.Namespace], int]:
    return _verb_module(verb).run


def _examples(lines: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="idpctl",
        description="Microsoft Entra identity providers as code: validate, plan, apply.",
        epilog=EXIT_CODES_HELP,
        formatter_class=HelpFormatter,
        # no prefix matching at the top: a verb's `--all` must not read as `--allow-...`
        allow_abbrev=False,
    )
    option(
        parser,
        "--version",
        action="version",
        version=f"idpctl {__version__}",
        help="print idpctl's version and exit",
        example="--version",
    )
    add_globals(parser, suppress=False)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERBS:
        module = _verb_module(name)
        sub = verbs.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=f"{_examples(module.EXAMPLES)}\n\n{EXIT_CODES_HELP}",
            formatter_class=HelpFormatter,
        )
        add_globals(sub, suppress=True)
        module.add_arguments(sub)
    verbs.add_parser("emulator", help="run the local Microsoft Graph emulator", add_help=False)
    return parser


class UsageParser(argparse.ArgumentParser):
    """argparse with idpctl's usage errors: one `Error:` line on stderr (with the nearest
    option or choice when there is one) and exit 1, never argparse's 2, which
    `--detailed-exitcode` and drift define as "changes"."""

    def error(self, message: str) -> NoReturn:
        hint = _usage_hint(self, message)
        _error(f"{self.prog}: {message}{hint} (see {self.prog} --help)")
        raise SystemExit(EXIT_ERROR)


def _usage_hint(parser: argparse.ArgumentParser, message: str) -> str:
    from idpctl.config.schema import did_you_mean

    unknown = re.match(r"unrecognized arguments: (\S+)", message)
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if unknown and unknown[1].startswith("-"):
        options = {o.lstrip("-"): o for o in _option_strings(parser)}
        name = did_you_mean(unknown[1].split("=", 1)[0].lstrip("-"), options)
        guess = options[name] if name else None
    elif choice:
        guess = did_you_mean(choice[1], re.findall(r"'([^']*)'", choice[2]))
    else:
        guess = None
    return f"; did you mean {guess}?" if guess else ""


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every long option of `parser` and its sub-commands (the verb is not known here)."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is caught
    except BrokenPipeError:  # the reader left (`| head`): not an error of ours
        from idpctl.cli.common import silence_stdout

        silence_stdout()
        return EXIT_PIPE_CLOSED
    return code


PLUGIN_GROUP = "idpctl.verbs"
PLUGIN_INSTALL = {
    "emulator": "pip install 'idpctl[emulator]' (from a source checkout: "
    "pip install ./packages/idpctl-emulator)"
}


def _run_plugin(verb: str, argv: list[str]) -> int:
    """A verb shipped in its own distribution, found through its entry point; the core never
    imports it by name."""
    found = importlib.metadata.entry_points(group=PLUGIN_GROUP, name=verb)
    if not found:
        _error(f"idpctl {verb}: not installed; {PLUGIN_INSTALL[verb]}")
        return EXIT_ERROR
    run: Callable[[list[str]], int] = next(iter(found)).load()
    return run(argv)


def _main(argv: list[str]) -> int:
    if argv[:1] == ["emulator"]:
        return _run_plugin("emulator", argv[1:])
    with output.gated():
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.verb:
            parser.print_help()
            return EXIT_OK
        args.argv, args.explicit_env = argv, args.env is not None
        if args.env is None:
            args.env = os.environ.get("IDPCTL_ENV") or None
        with _logging_to_stderr(debug=args.debug), _no_color(args.no_color):
            return _run(args)


@contextlib.contextmanager
def _no_color(off: bool) -> Iterator[None]:
    """--no-color: NO_COLOR=1 for this run (and the processes it starts), then as it was."""
    saved = os.environ.get("NO_COLOR")
    if off:
        os.environ["NO_COLOR"] = "1"
    try:
        yield
    finally:
        if off and saved is None:
            os.environ.pop("NO_COLOR", None)
        elif off and saved is not None:
            os.environ["NO_COLOR"] = saved


@contextlib.contextmanager
def _logging_to_stderr(*, debug: bool) -> Iterator[None]:
    """idpctl's log lines go to this run's stderr (the emulator, if in-process, keeps its own)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(lambda record: not record.name.startswith("idpctl_emulator"))
    logger = logging.getLogger("idpctl")
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


class _OneLineFormatter(logging.Formatter):
    """A log record is one line, whatever outside text its arguments hold."""

    def format(self, record: logging.LogRecord) -> str:
        return output.inline(super().format(record))


def _run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "all_envs", False):
            from idpctl.cli import fleet

            return fleet.run(args, args.verb)
        return _handler(args.verb)(args)
    except IdpctlError as error:
        _traceback(args)
        _error(str(error))
        for problem in getattr(error, "problems", ())[1:]:
            _error(str(problem))
        return error.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # main() ends the run quietly
    except Exception as error:  # a bug: still one line, the traceback only with --debug
        _traceback(args)
        _error(
            f"internal error: {type(error).__name__}: {error} "
            "(run again with --debug for the traceback, and please report it)"
        )
        return EXIT_ERROR


def _traceback(args: argparse.Namespace) -> None:
    if args.debug:
        import traceback

        print(traceback.format_exc(), file=sys.stderr, end="")


def _error(message: str) -> None:
    """One `Error:` line: outside text in the message cannot start a line of its own."""
    print(f"Error: {output.inline(message)}", file=sys.stderr)
