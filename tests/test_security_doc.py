"""docs/security.md names, for each control, the tests that prove it: every test (or test
module) it names exists, so the page cannot point a reviewer at a test that was renamed
or never written."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = re.compile(r"\b(test_[a-z0-9_]+)\b")


def _defined() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "tests").glob("*.py"):
        found.add(path.stem)  # a test module named as a whole
        found.update(
            re.findall(
                r"^\s*(?:async\s+)?def (test_[a-z0-9_]+)",
                path.read_text(encoding="utf-8"),
                flags=re.M,
            )
        )
    return found


def test_every_test_the_security_page_names_exists() -> None:
    text = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    named = set(NAME.findall(text))
    assert len(named) >= 40, sorted(named)  # the page names the tests of six controls
    missing = sorted(named - _defined())
    assert missing == [], missing
