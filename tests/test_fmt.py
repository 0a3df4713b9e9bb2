"""idpctl.cli.fmt: the text transformations `idpctl fmt` applies (the verb itself runs in
tests/test_cli_usage.py and tests/test_validate_cli.py)."""

from __future__ import annotations

from idpctl.cli.fmt import migrate_text, tidy_text
from idpctl.kinds import load_kinds


def test_tidy_text_makes_whitespace_uniform() -> None:
    assert tidy_text("a: 1   \r\nb: 2\t\n\n\n") == "a: 1\nb: 2\n"
    tidy = "a: 1\n"
    assert tidy_text(tidy) is tidy


def test_tidy_text_keeps_what_it_would_change_the_meaning_of() -> None:
    # trailing spaces inside a block scalar are content
    text = "a: |\n  x  \n  y\n"
    assert tidy_text(text) == text
    broken = "a: [1,  \n"
    assert tidy_text(broken) == broken


def test_migrate_text_leaves_current_files_alone() -> None:
    text = "# mine\nkind: oidcIdentityProvider\ndisplayName: x\n"
    assert migrate_text(text, load_kinds()) == (text, 0, True)
