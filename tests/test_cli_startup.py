"""Fast start: `idpctl --help` and `idpctl validate` import no HTTP, msal or deepdiff code.

Each check runs idpctl in a fresh interpreter (an import made by another test would hide
the regression in this process) and lists the heavy top-level packages it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("httpx", "httpcore", "msal", "requests", "deepdiff", "cryptography", "jwt")

_PROBE = textwrap.dedent("""\
    import contextlib, io, json, sys
    from idpctl.cli.main import main
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(sys.argv[1:])
        except SystemExit as exit_:
            code = exit_.code
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    print(json.dumps({"code": code, "loaded": loaded}))
    """)


def _loaded(*args: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["code"], set(result["loaded"])


def test_help_imports_nothing_heavy() -> None:
    code, loaded = _loaded("--help")
    assert code == 0
    assert not loaded & {*HEAVY, "jsonschema", "yaml"}, loaded & {*HEAVY, "jsonschema", "yaml"}


def test_validate_imports_no_http_or_msal(tmp_path: Path) -> None:
    (tmp_path / "providers").mkdir()
    (tmp_path / "idpctl.yaml").write_text(
        "tenant: contoso.onmicrosoft.com\ntenantKind: external\nproviders: providers/\n",
        encoding="utf-8",
    )
    (tmp_path / "providers" / "google.yaml").write_text(
        "kind: socialIdentityProvider\nidentityProviderType: Google\ndisplayName: Google\n"
        "clientId: abc.apps.googleusercontent.com\nclientSecret: {env: GOOGLE_SECRET}\n",
        encoding="utf-8",
    )
    code, loaded = _loaded("validate", cwd=tmp_path)
    assert code == 0
    assert "yaml" in loaded  # it did read the files
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    # valid files are checked by idpctl.config.schemafast; jsonschema only explains invalid ones
    assert not loaded & {"jsonschema", "referencing"}


def test_python_dash_x_importtime_of_help_names_no_http_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "idpctl", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "idpctl" in imported
    assert not imported & set(HEAVY)
