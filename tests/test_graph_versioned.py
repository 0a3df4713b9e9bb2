"""`$batch` across Graph versions (`idpctl.graph.versioned`): grouping by the url's version
prefix, and a dependency across versions refused before anything is sent."""

from __future__ import annotations

import pytest

from idpctl.graph.batch import BatchRequest
from idpctl.graph.versioned import by_version

P = "/identity/identityProviders"


def test_requests_are_grouped_by_version_prefix_stripped_in_order() -> None:
    groups = by_version(
        [
            BatchRequest(id="a", method="GET", url=f"/v1.0{P}"),
            BatchRequest(id="b", method="GET", url=P),
            BatchRequest(id="c", method="GET", url=f"/beta{P}/x"),
            BatchRequest(id="d", method="GET", url=f"/v1.0{P}/y", depends_on=("a",)),
        ]
    )
    assert {v: [(r.id, r.url) for r in rs] for v, rs in groups.items()} == {
        "v1.0": [("a", P), ("d", f"{P}/y")],
        "beta": [("b", P), ("c", f"{P}/x")],
    }


def test_a_dependency_across_versions_is_refused() -> None:
    with pytest.raises(ValueError, match="another Graph version"):
        by_version(
            [
                BatchRequest(id="a", method="POST", url=f"/v1.0{P}", body={}),
                BatchRequest(id="b", method="GET", url=f"/beta{P}/x", depends_on=("A",)),
            ]
        )
