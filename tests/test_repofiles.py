"""idpctl.config.repofiles: the schemas idpctl writes into a user's repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from idpctl.config import repofiles
from idpctl.errors import IdpctlError
from idpctl.kinds import default_schema_dir


def _names(paths: list[Path]) -> list[str]:
    return sorted(p.name for p in paths)


def test_write_schemas_copies_every_schema_byte_for_byte(tmp_path: Path) -> None:
    sources = sorted(default_schema_dir().glob("*.schema.json"))
    written = repofiles.write_schemas(tmp_path / "schemas")
    assert _names(written) == [s.name for s in sources]
    for source in sources:
        assert (tmp_path / "schemas" / source.name).read_bytes() == source.read_bytes()
    assert repofiles.write_schemas(tmp_path / "schemas") == []  # unchanged ones are left alone


def test_a_differing_schema_is_kept_unless_forced(tmp_path: Path) -> None:
    dest = tmp_path / "schemas"
    repofiles.write_schemas(dest)
    pinned = dest / repofiles.PROVIDERS_SCHEMA
    pinned.write_text("{}\n", encoding="utf-8")
    (dest / "idpctl.schema.json").unlink()
    with pytest.raises(IdpctlError, match=r"refusing to overwrite .*nothing was written"):
        repofiles.write_schemas(dest)
    assert pinned.read_text(encoding="utf-8") == "{}\n"
    assert not (dest / "idpctl.schema.json").exists()  # nothing written, not even a missing one
    written = repofiles.write_schemas(dest, force=True)
    assert _names(written) == sorted(["idpctl.schema.json", repofiles.PROVIDERS_SCHEMA])


def test_schema_ref_is_relative_to_the_provider_folder(tmp_path: Path) -> None:
    folder = tmp_path / "providers" / "social"
    folder.mkdir(parents=True)
    assert repofiles.schema_ref(tmp_path, folder) is None
    repofiles.write_schemas(tmp_path / repofiles.SCHEMA_DIR)
    assert repofiles.schema_ref(tmp_path, folder) == "../../schemas/providers.schema.json"
    assert repofiles.schema_ref(tmp_path, tmp_path) == "schemas/providers.schema.json"
