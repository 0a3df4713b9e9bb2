"""The typed seams of the Graph client (`idpctl.graph.seams`) and the one token protocol
(`idpctl.net.bearer.TokenSource`). The type checker proves the full signatures
(`seams._client_fits`); these tests pin the names at run time, so a rename fails here too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import idpctl
from idpctl.graph import seams
from idpctl.graph.client import GraphClient
from idpctl.net.bearer import TokenSource


class _Tokens:
    def token(self, resource: str) -> str:
        return "header.payload.sig"


@pytest.fixture
def client():
    graph = GraphClient("https://127.0.0.1:9", token_provider=_Tokens())
    yield graph
    graph.close()


@pytest.mark.parametrize(
    "seam", [seams.GraphWriter, seams.GraphReader, seams.ClaimsSource, seams.ProviderLister]
)
def test_the_graph_client_has_every_seam(client: GraphClient, seam: type) -> None:
    if seam is seams.ProviderLister:  # live.ProviderSource is not runtime-checkable
        assert callable(client.list_providers)
        return
    assert isinstance(client, seam)


def test_a_fake_with_only_the_writer_side_is_a_writer_and_not_a_reader() -> None:
    class Fake:
        root = "https://graph.example/beta"

        def batch(self, requests):
            return {}

    assert isinstance(Fake(), seams.GraphWriter)
    assert not isinstance(Fake(), seams.GraphReader)


def test_one_token_protocol_in_the_core() -> None:
    """`net.bearer.TokenSource` is the only Protocol with a `token` method: the client and
    the secret context take that one, not copies of their own."""
    root = Path(idpctl.__file__).parent
    homes = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ClassDef)
                and any(
                    getattr(base, "id", getattr(base, "attr", None)) == "Protocol"
                    for base in node.bases
                )
                and any(
                    isinstance(item, ast.FunctionDef) and item.name == "token" for item in node.body
                )
            ):
                homes.append(f"{path.relative_to(root).as_posix()}:{node.name}")
    assert homes == ["net/bearer.py:TokenSource"]
    assert TokenSource.__module__ == "idpctl.net.bearer"
