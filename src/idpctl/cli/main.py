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
import importlib.metadata
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from idpctl import __version__, output
from idpctl.errors import IdpctlError

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left

EXIT_CODES_HELP = """exit codes:
  0    success, no changes
  1    any error, including a usage error such as an unknown option
  2    changes present (plan --detailed-exitcode) or drift found (drift)
  130  interrupted
  141  stdout was closed early (e.g. | head): nothing more printed"""

_GLOBAL_HELP = {
    "config": "idpctl.yaml to use (default: found from the working directory upwards)",
    "debug": "show tracebacks and an HTTP trace with every secret redacted",
    "env": "environment overlay environments/<NAME>.yaml (default: $IDPCTL_ENV)",
    "allow_endpoint": "let credentials go to [http://]HOST[:PORT] besides the cloud's own hosts "
                      "(the emulator, a private Vault); adds to $IDPCTL_ALLOW_ENDPOINTS",
    "allow_path": "let idpctl read files under DIR, outside the folder of idpctl.yaml; adds to "
                  "$IDPCTL_ALLOW_PATHS",
    "providers_root": "read idpctl.yaml's providers: entries under DIR instead of next to "
                      "idpctl.yaml (a pull request's checkout, with idpctl.yaml from the base "
                      "branch: docs/security.md)",
}


def option(parser: argparse.ArgumentParser, *flags: str, example: str,
           **kwargs: Any) -> argparse.Action:
    """`parser.add_argument` for an option, with its example: written once, here where the
    option is declared, and shown at the end of its --help line (`e.g. --out plan.json`).
    tests/test_cli_help.py walks every verb and fails on an option without one, or with one
    that does not parse."""
    help_text = kwargs.pop("help", None)
    if help_text is not argparse.SUPPRESS:
        shown = "e.g. " + example.replace("%", "%%")
        kwargs["help"] = f"{help_text} ({shown})" if help_text else shown
    action = parser.add_argument(*flags, **kwargs)
    action.example = example  # type: ignore[attr-defined]
    return action


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description and epilog as written; help lines wrapped between words only, so an
    option in an example (`e.g. --tenant-kind b2c`) is never split at its hyphen."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False,
                             break_long_words=False)


def _add_globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    option(parser, "-c", "--config", metavar="FILE", default=default,
           help=_GLOBAL_HELP["config"], example="--config tenants/contoso/idpctl.yaml")
    option(parser, "--debug", action="store_true",
           default=argparse.SUPPRESS if suppress else False,
           help=_GLOBAL_HELP["debug"], example="--debug")
    option(parser, "--env", metavar="NAME", default=default, help=_GLOBAL_HELP["env"],
           example="--env prod")
    option(parser, "--allow-endpoint", action="append", metavar="HOST:PORT",
           default=argparse.SUPPRESS if suppress else [],
           help=_GLOBAL_HELP["allow_endpoint"], example="--allow-endpoint 127.0.0.1:8443")
    option(parser, "--allow-path", action="append", metavar="DIR",
           default=argparse.SUPPRESS if suppress else [],
           help=_GLOBAL_HELP["allow_path"], example="--allow-path ../shared-certs")
    option(parser, "--providers-root", metavar="DIR", default=default,
           help=_GLOBAL_HELP["providers_root"], example="--providers-root pr-checkout")
    option(parser, "-var", "--var", action="append", metavar="NAME=VALUE",
           default=argparse.SUPPRESS if suppress else [],
           help="set a variable for ${var.NAME} (over variables: in idpctl.yaml "
                "and the environment overlay); repeatable", example="-var REGION=emea")
    option(parser, "--no-color", action="store_true",
           default=argparse.SUPPRESS if suppress else False,
           help="no colour in the output (as NO_COLOR=1 does)", example="--no-color")


def _preflight(parser: argparse.ArgumentParser) -> None:
    """Preflight flags of plan and apply (docs/preflight.md)."""
    option(parser, "--offline", action="store_true", example="--offline",
           help="skip the discovery preflight (no requests to identity providers)")
    option(parser, "--skip-preflight", action="store_true", example="--skip-preflight",
           help="show preflight findings but do not stop on them")
    option(parser, "--strict-preflight", action="store_true", example="--strict-preflight",
           help="stop on preflight warnings too (unreachable IdP, timeout, TLS)")


def _targets(parser: argparse.ArgumentParser) -> None:
    option(parser, "--target", action="append", default=[], metavar="KIND/KEY",
           help="limit to this provider (repeatable)",
           example="--target socialIdentityProvider/Google")


def _rotate(parser: argparse.ArgumentParser) -> None:
    option(parser, "--rotate", action="append", default=[], metavar="KIND/KEY",
           help="re-send this provider's secrets even when unchanged",
           example="--rotate oidcIdentityProvider/Contoso")


def _format(parser: argparse.ArgumentParser, *, choices: tuple[str, ...] = (
        "text", "json", "markdown"), help_text: str = "output format (default: text)") -> None:
    option(parser, "--format", choices=choices, default="text", help=help_text,
           example=f"--format {choices[-1]}")


def _force(parser: argparse.ArgumentParser, help_text: str = "overwrite existing files") -> None:
    option(parser, "--force", action="store_true", help=help_text, example="--force")


def _lock_timeout(parser: argparse.ArgumentParser) -> None:
    option(parser, "--lock-timeout", metavar="DURATION", default="0s",
           help="wait this long for the state lock (default 0s: fail at once)",
           example="--lock-timeout 30s")


def _fleet(parser: argparse.ArgumentParser) -> None:
    """--all-envs and --parallel: every environment, one report (docs/fleets.md)."""
    option(parser, "--all-envs", action="store_true", example="--all-envs",
           help="run every environments/<NAME>.yaml (one tenant each): a section "
                "per environment and a summary table; exit 1 if any failed, "
                "else 2 if any has changes or drift")
    option(parser, "--parallel", type=int, default=4, metavar="N",
           help="with --all-envs: environments run at once (default 4)",
           example="--all-envs --parallel 8")


def _annotations(parser: argparse.ArgumentParser) -> None:
    option(parser, "--annotations", choices=("github", "none"), default=None,
           help="GitHub Actions annotations on located problems (default: github "
                "when GITHUB_ACTIONS=true, else none)", example="--annotations none")


EXAMPLES = {
    "validate": ["idpctl validate", "idpctl validate --all-envs --format markdown"],
    "plan": ["idpctl plan --out plan.json --detailed-exitcode",
             "idpctl plan --env prod -var REGION=emea --target oidcIdentityProvider/Contoso",
             "idpctl plan --all-envs --parallel 8 --format markdown"],
    "drift": ["idpctl drift --format markdown", "idpctl drift --all-envs --format json"],
    "envs": ["idpctl envs", "idpctl envs --format json    # a GitHub Actions matrix"],
    "init": ["idpctl init --tenant-kind external --tenant contoso.onmicrosoft.com",
             "idpctl init --workflows    # also the three example workflows"],
    "export": ["idpctl export --out providers"],
    "convert": ["idpctl convert --to external providers --out external/providers",
                "idpctl convert --to external --offline --issuer Contoso=https://idp.contoso.com/ "
                "--out external/providers"],
    "import": ["idpctl import --all", "idpctl import socialIdentityProvider/Google"],
    "apply": ["idpctl apply plan.json", "idpctl apply --auto-approve --lock-timeout 30s"],
    "show": ["idpctl show plan.json --format markdown"],
    "state": ["idpctl state list", "idpctl state mv oidcIdentityProvider/Old "
                                    "oidcIdentityProvider/New"],
    "whoami": ["idpctl whoami", "idpctl whoami --env prod"],
    "secrets": ["idpctl secrets report --format markdown"],
    "schema": ["idpctl schema oidcIdentityProvider > oidc.schema.json",
               "idpctl schema --write schemas    # for editors"],
    "fmt": ["idpctl fmt", "idpctl fmt --check    # in CI: exit 1 if a file would change",
            "idpctl fmt --migrate providers/legacy.yaml"],
}


def _examples(verb: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES.get(verb, ()))


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="idpctl",
        description="Microsoft Entra identity providers as code: validate, plan, apply.",
        epilog=EXIT_CODES_HELP, formatter_class=_HelpFormatter,
        # no prefix matching at the top: a verb's `--all` must not read as `--allow-...`
        allow_abbrev=False,
    )
    option(parser, "--version", action="version", version=f"idpctl {__version__}",
           help="print idpctl's version and exit", example="--version")
    _add_globals(parser, suppress=False)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text,
                               epilog=f"{_examples(name)}\n\n{EXIT_CODES_HELP}",
                               formatter_class=_HelpFormatter)
        _add_globals(sub, suppress=True)
        return sub

    _init(verb("init", "start a repository: idpctl.yaml, .gitignore, schemas/, providers/"))
    _validate(verb("validate", "check provider files against the schemas and semantic rules"))
    _plan(verb("plan", "show what apply would change"))

    p = verb("drift", "read-only: how the tenant differs from the files (exit 2 on drift)")
    _format(p)
    option(p, "--ignore-unmanaged", action="store_true", example="--ignore-unmanaged",
           help="no finding for live providers that are not in the files")
    _annotations(p)
    _fleet(p)

    p = verb("envs", "list the environments (environments/<NAME>.yaml); --format json prints "
                     "a GitHub Actions matrix")
    _format(p, choices=("text", "json"),
            help_text="text: one name a line; json: a GitHub Actions matrix")

    _export(verb("export", "write the tenant's providers as idpctl files"))
    _convert(verb("convert", "rewrite B2C provider files as External ID ones into a new folder"))

    p = verb("import", "take live providers under management (state only, no Graph write)")
    option(p, "--all", action="store_true", help="every live provider in the files",
           example="--all")
    p.add_argument("addresses", nargs="*", metavar="KIND/NAME")
    _lock_timeout(p)

    _apply(verb("apply", "make the tenant match the files"))

    p = verb("show", "render a saved plan file")
    p.add_argument("planfile", metavar="PLANFILE")
    _format(p)

    _state(verb("state", "inspect or repair the state"))
    verb("whoami", "sign in and show the tenant, client, auth mode and granted roles")
    _secrets(verb("secrets", "secret governance: ages, sources and methods of providers' "
                             "secrets"))
    _schema(verb("schema", "print the JSON Schemas idpctl validates against"))
    _fmt(verb("fmt", "format provider files; --migrate rewrites legacy shapes"))

    verbs.add_parser("emulator", help="run the local Microsoft Graph emulator", add_help=False)
    return parser


def _init(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="default: here")
    option(p, "--tenant", default="contoso.onmicrosoft.com",
           help="tenant id or domain (default: a placeholder to edit)",
           example="--tenant contoso.onmicrosoft.com")
    option(p, "--tenant-kind", choices=("external", "b2c", "workforce"), default="external",
           help="the kind of tenant (default: external)", example="--tenant-kind b2c")
    option(p, "--graph-url", metavar="URL",
           help="a custom Graph and sign-in endpoint (the emulator)",
           example="--graph-url https://127.0.0.1:8443")
    option(p, "--ca-bundle", metavar="FILE", help="a PEM to trust for --graph-url",
           example="--ca-bundle .idpctl/emulator-ca.pem")
    option(p, "--client-id", metavar="ID",
           help="the app idpctl signs in as (default: {env: AZURE_CLIENT_ID})",
           example="--client-id 00000000-0000-0000-0000-000000000001")
    option(p, "--workflows", action="store_true", example="--workflows",
           help="also write the example GitHub workflows to .github/workflows/")
    _force(p)


def _validate(p: argparse.ArgumentParser) -> None:
    option(p, "--online", action="store_true", help="also run the discovery preflight",
           example="--online")
    _annotations(p)
    _fleet(p)
    _format(p, help_text="the --all-envs report's format (validate alone prints text)")


def _plan(p: argparse.ArgumentParser) -> None:
    option(p, "--out", "-out", metavar="FILE", help="save the plan for apply",
           example="--out plan.json")
    _preflight(p)
    _format(p)
    option(p, "--detailed-exitcode", "-detailed-exitcode", action="store_true",
           help="exit 2 when there are changes", example="--detailed-exitcode")
    _targets(p)
    _rotate(p)
    _annotations(p)
    _fleet(p)


def _export(p: argparse.ArgumentParser) -> None:
    option(p, "--out", metavar="DIR", default="providers",
           help="folder to write into (default: providers)", example="--out providers")
    _force(p)
    option(p, "--secrets", choices=("keep", "env"), default="keep",
           help="keep: write each secret {keep: live}, the value the tenant holds "
                "(default); env: write an {env: NAME} reference to supply",
           example="--secrets env")


def _convert(p: argparse.ArgumentParser) -> None:
    option(p, "--to", choices=("external",), required=True, help="the target tenant kind",
           example="--to external")
    option(p, "--out", metavar="DIR", required=True,
           help="folder to write into (never over the originals)",
           example="--out external/providers")
    option(p, "--issuer", action="append", metavar="NAME=URL",
           help="an OIDC provider's issuer, by displayName (else read from discovery)",
           example="--issuer Contoso=https://idp.contoso.com/")
    option(p, "--offline", action="store_true", example="--offline",
           help="do not fetch discovery documents (issuers left as placeholders)")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="provider files or folders (default: those of idpctl.yaml)")


def _apply(p: argparse.ArgumentParser) -> None:
    p.add_argument("planfile", nargs="?", metavar="PLANFILE")
    option(p, "--auto-approve", "-auto-approve", action="store_true",
           help="do not ask before applying (a saved plan file is never asked about)",
           example="--auto-approve")
    option(p, "--allow-destroy", action="store_true", help="allow deletes and replaces",
           example="--allow-destroy")
    _preflight(p)
    _targets(p)
    _rotate(p)
    _lock_timeout(p)
    option(p, "--quiet", "-q", action="store_true",
           help="no progress lines on stderr while waiting for Graph's budget",
           example="--quiet")


def _state(p: argparse.ArgumentParser) -> None:
    state_verbs = p.add_subparsers(dest="state_verb", metavar="ACTION", required=True)
    for name, help_text in (("list", "list managed providers"),
                            ("show", "show one managed provider")):
        sp = state_verbs.add_parser(name, help=help_text, formatter_class=_HelpFormatter)
        _add_globals(sp, suppress=True)
        if name == "show":
            sp.add_argument("address", metavar="KIND/KEY")
    sp = state_verbs.add_parser("unlock", help="break a lock whose holder is gone",
                                formatter_class=_HelpFormatter)
    _add_globals(sp, suppress=True)
    sp.add_argument("lock_id", metavar="LOCK_ID")
    sp = state_verbs.add_parser("mv", help="rename a managed address (same kind)",
                                formatter_class=_HelpFormatter)
    _add_globals(sp, suppress=True)
    sp.add_argument("source", metavar="OLD")
    sp.add_argument("destination", metavar="NEW")
    sp = state_verbs.add_parser("rm", help="forget a provider (Graph is never touched)",
                                formatter_class=_HelpFormatter)
    _add_globals(sp, suppress=True)
    sp.add_argument("address", metavar="KIND/KEY")
    sp = state_verbs.add_parser("pull", help="print the state JSON (no secret values, but the "
                                "fingerprint key: keep it private)",
                                formatter_class=_HelpFormatter)
    _add_globals(sp, suppress=True)
    sp = state_verbs.add_parser("push", help="replace the state with FILE after validating it",
                                formatter_class=_HelpFormatter)
    _add_globals(sp, suppress=True)
    sp.add_argument("file", metavar="FILE")
    _force(sp, "allow a state of another lineage (a lower serial is always refused)")


def _secrets(p: argparse.ArgumentParser) -> None:
    secrets_verbs = p.add_subparsers(dest="secrets_verb", metavar="ACTION", required=True)
    sp = secrets_verbs.add_parser("report", help="per provider: method, secret source, age, "
                                  "version, policy status and a recommendation",
                                  formatter_class=_HelpFormatter)
    _add_globals(sp, suppress=True)
    _format(sp)
    option(sp, "--offline", action="store_true", example="--offline",
           help="do not fetch the IdPs' discovery documents")


def _schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="one schema (e.g. oidcIdentityProvider)")
    option(p, "--write", metavar="DIR",
           help="copy every schema into DIR for editors", example="--write schemas")
    _force(p, "with --write: overwrite schema files that differ")


def _fmt(p: argparse.ArgumentParser) -> None:
    option(p, "--migrate", action="store_true", example="--migrate providers/legacy.yaml",
           help="rewrite openIdConnectProvider files as openIdConnectIdentityProvider")
    option(p, "--check", action="store_true", example="--check",
           help="change nothing; exit 1 if a file would change (for CI)")
    p.add_argument("paths", nargs="*", metavar="PATH")


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


def _handler(verb: str) -> Callable[[argparse.Namespace], int]:
    import importlib

    module = {"import": "import_"}.get(verb, verb)  # `import` is a Python keyword
    return importlib.import_module(f"idpctl.cli.{module}").run


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
PLUGIN_INSTALL = {"emulator": "pip install 'idpctl[emulator]' (from a source checkout: "
                              "pip install ./packages/idpctl-emulator)"}


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
        _error(f"internal error: {type(error).__name__}: {error} "
               "(run again with --debug for the traceback, and please report it)")
        return EXIT_ERROR


def _traceback(args: argparse.Namespace) -> None:
    if args.debug:
        import traceback

        print(traceback.format_exc(), file=sys.stderr, end="")


def _error(message: str) -> None:
    """One `Error:` line: outside text in the message cannot start a line of its own."""
    print(f"Error: {output.inline(message)}", file=sys.stderr)
