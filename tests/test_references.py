"""config.references: the credential boundary checked through its protocols, with a plain
value standing in for Settings (what the seam needs and nothing more)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idpctl.config.references import (
    endpoint_problems,
    keep_problems,
    reference_problems,
    secret_refs,
)
from idpctl.config.yamlload import load_text
from idpctl.model import KeepLive, Location, SecretRef
from idpctl.net.endpoints import Allowance


@dataclass(frozen=True)
class _Boundary:
    path: Path
    cloud: str = "global"
    allowance: Allowance = field(default_factory=Allowance)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.path.parent,)


def test_secret_refs_makes_leaves_and_file_paths_absolute(tmp_path: Path) -> None:
    text = "a: {file: s.txt}\nb: {keep: live}\nc: {env: X}\nd: plain\n"
    doc = load_text(text, file=str(tmp_path / "p.yaml"))
    out = secret_refs(doc.data, [("a",), ("b",), ("c",), ("d",)], doc=doc)
    assert out["a"] == SecretRef("file", str(tmp_path.resolve() / "s.txt"), doc.locate(("a",)))
    assert isinstance(out["b"], KeepLive)
    assert out["c"].scheme == "env"
    assert out["d"] == "plain"


def test_a_file_reference_outside_the_root_is_a_located_problem(tmp_path: Path) -> None:
    boundary = _Boundary(path=tmp_path / "repo" / "idpctl.yaml")
    where = Location("p.yaml", 4, 3)
    inside = SecretRef("file", str(tmp_path / "repo" / "s.txt"), where)
    outside = SecretRef("file", str(tmp_path / "s.txt"), where)
    assert reference_problems({"a": [inside]}, boundary) == []
    (problem,) = reference_problems({"a": [outside]}, boundary)
    assert (problem.file, problem.line, problem.column) == ("p.yaml", 4, 3)
    assert "outside the configuration's root" in problem.message


def test_a_key_vault_reference_off_the_clouds_hosts_is_refused(tmp_path: Path) -> None:
    boundary = _Boundary(path=tmp_path / "idpctl.yaml")
    ref = SecretRef("keyVault", "https://attacker.example/secrets/x", Location("p.yaml", 1, 1))
    assert reference_problems(ref, boundary)


def test_endpoint_problems_names_a_graph_url_the_cloud_does_not_own(tmp_path: Path) -> None:
    doc = load_text("graph:\n  url: https://graph.attacker.example\n", file="idpctl.yaml")
    boundary = _Boundary(path=tmp_path / "idpctl.yaml", raw=doc.data)
    (problem,) = endpoint_problems(boundary, doc)
    assert (problem.line, problem.column) == (2, 8)
    ok = load_text("graph:\n  url: https://graph.microsoft.com\n", file="idpctl.yaml")
    assert endpoint_problems(_Boundary(path=tmp_path / "idpctl.yaml", raw=ok.data), ok) == []


def test_keep_live_is_refused_in_idpctls_own_credentials() -> None:
    kept = KeepLive(Location("idpctl.yaml", 5, 7))
    (problem,) = keep_problems({"auth": {"clientSecret": kept}})
    assert (problem.line, problem.column) == (5, 7)
    assert keep_problems({"auth": {"clientSecret": "x"}}) == []
