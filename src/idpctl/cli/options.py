"""How an option is declared, and the options several verbs share.

Each verb's module declares its own flags (`add_arguments`) with `option` from here; the
global options every verb takes, and the groups shared by some verbs (preflight, targets,
fleet, ...), are written once, here. Importing this module is cheap: `idpctl --help` builds
every verb's parser, so nothing heavy may be imported at the top of a verb's module.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "EXIT_CODES_HELP",
    "HelpFormatter",
    "add_globals",
    "fleet",
    "force",
    "github_annotations",
    "lock_timeout",
    "option",
    "output_format",
    "preflight",
    "rotate",
    "sub_verb",
    "targets",
]

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


def option(
    parser: argparse.ArgumentParser, *flags: str, example: str, **kwargs: Any
) -> argparse.Action:
    """`parser.add_argument` for an option, with its example: written once, here where the
    option is declared, and shown at the end of its --help line (`e.g. --out plan.json`).
    tests/test_cli_help.py walks every verb and fails on an option without one, or with one
    that does not parse."""
    help_text = kwargs.pop("help", None)
    if help_text is not argparse.SUPPRESS:
        shown = "e.g. " + example.replace("%", "%%")
        kwargs["help"] = f"{help_text} ({shown})" if help_text else shown
    action = parser.add_argument(*flags, **kwargs)
    # argparse.Action has no `example` field; the help test reads it back with getattr
    action.example = example  # type: ignore[attr-defined]
    return action


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description and epilog as written; help lines wrapped between words only, so an
    option in an example (`e.g. --tenant-kind b2c`) is never split at its hyphen."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(
            " ".join(text.split()), width, break_on_hyphens=False, break_long_words=False
        )


def add_globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options: on the top-level parser with their defaults, and again on every
    verb and sub-verb with `suppress` (so `idpctl plan --debug` and `idpctl --debug plan`
    both work and the verb's copy never overwrites the top-level value)."""
    default = argparse.SUPPRESS if suppress else None
    option(
        parser,
        "-c",
        "--config",
        metavar="FILE",
        default=default,
        help=_GLOBAL_HELP["config"],
        example="--config tenants/contoso/idpctl.yaml",
    )
    option(
        parser,
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help=_GLOBAL_HELP["debug"],
        example="--debug",
    )
    option(
        parser,
        "--env",
        metavar="NAME",
        default=default,
        help=_GLOBAL_HELP["env"],
        example="--env prod",
    )
    option(
        parser,
        "--allow-endpoint",
        action="append",
        metavar="HOST:PORT",
        default=argparse.SUPPRESS if suppress else [],
        help=_GLOBAL_HELP["allow_endpoint"],
        example="--allow-endpoint 127.0.0.1:8443",
    )
    option(
        parser,
        "--allow-path",
        action="append",
        metavar="DIR",
        default=argparse.SUPPRESS if suppress else [],
        help=_GLOBAL_HELP["allow_path"],
        example="--allow-path ../shared-certs",
    )
    option(
        parser,
        "--providers-root",
        metavar="DIR",
        default=default,
        help=_GLOBAL_HELP["providers_root"],
        example="--providers-root pr-checkout",
    )
    option(
        parser,
        "-var",
        "--var",
        action="append",
        metavar="NAME=VALUE",
        default=argparse.SUPPRESS if suppress else [],
        help="set a variable for ${var.NAME} (over variables: in idpctl.yaml "
        "and the environment overlay); repeatable",
        example="-var REGION=emea",
    )
    option(
        parser,
        "--no-color",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="no colour in the output (as NO_COLOR=1 does)",
        example="--no-color",
    )


def sub_verb(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse.ArgumentParser:
    """A sub-verb (`state mv`, `secrets report`) with the global options."""
    sub = actions.add_parser(name, help=help_text, formatter_class=HelpFormatter)
    add_globals(sub, suppress=True)
    return sub


def preflight(parser: argparse.ArgumentParser) -> None:
    """Preflight flags of plan and apply (docs/preflight.md)."""
    option(
        parser,
        "--offline",
        action="store_true",
        example="--offline",
        help="skip the discovery preflight (no requests to identity providers)",
    )
    option(
        parser,
        "--skip-preflight",
        action="store_true",
        example="--skip-preflight",
        help="show preflight findings but do not stop on them",
    )
    option(
        parser,
        "--strict-preflight",
        action="store_true",
        example="--strict-preflight",
        help="stop on preflight warnings too (unreachable IdP, timeout, TLS)",
    )


def targets(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--target",
        action="append",
        default=[],
        metavar="KIND/KEY",
        help="limit to this provider (repeatable)",
        example="--target socialIdentityProvider/Google",
    )


def rotate(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--rotate",
        action="append",
        default=[],
        metavar="KIND/KEY",
        help="re-send this provider's secrets even when unchanged",
        example="--rotate oidcIdentityProvider/Contoso",
    )


def output_format(
    parser: argparse.ArgumentParser,
    *,
    choices: tuple[str, ...] = ("text", "json", "markdown"),
    help_text: str = "output format (default: text)",
) -> None:
    option(
        parser,
        "--format",
        choices=choices,
        default="text",
        help=help_text,
        example=f"--format {choices[-1]}",
    )


def force(parser: argparse.ArgumentParser, help_text: str = "overwrite existing files") -> None:
    option(parser, "--force", action="store_true", help=help_text, example="--force")


def lock_timeout(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--lock-timeout",
        metavar="DURATION",
        default="0s",
        help="wait this long for the state lock (default 0s: fail at once)",
        example="--lock-timeout 30s",
    )


def fleet(parser: argparse.ArgumentParser) -> None:
    """--all-envs and --parallel: every environment, one report (docs/fleets.md)."""
    option(
        parser,
        "--all-envs",
        action="store_true",
        example="--all-envs",
        help="run every environments/<NAME>.yaml (one tenant each): a section "
        "per environment and a summary table; exit 1 if any failed, "
        "else 2 if any has changes or drift",
    )
    option(
        parser,
        "--parallel",
        type=int,
        default=4,
        metavar="N",
        help="with --all-envs: environments run at once (default 4)",
        example="--all-envs --parallel 8",
    )


def github_annotations(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--annotations",
        choices=("github", "none"),
        default=None,
        help="GitHub Actions annotations on located problems (default: github "
        "when GITHUB_ACTIONS=true, else none)",
        example="--annotations none",
    )
