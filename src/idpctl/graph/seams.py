"""The Graph client as the rest of idpctl sees it: typed seams instead of `graph: Any`.

`GraphClient` satisfies each of them (checked by the type checker below, and by
tests/test_graph_seams.py); a test may hand in any object of the same shape. Each names only
what its callers use, so a fake needs no more:

    GraphWriter   apply: `$batch` of writes (and the re-reads it batches) against `root`
    GraphReader   the reads around planning (user flows: pages and a `$batch` of GETs,
                  `@odata.nextLink` checked against `base_url`)
    ProviderLister  `live.fetch`: one walk of the provider list (`live.ProviderSource`)
    ClaimsSource  the permission preflight: the claims of the token the client sends, and
                  the provider types a tenant offers
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from idpctl.graph.batch import BatchRequest, BatchResult
from idpctl.graph.live import ProviderSource as ProviderLister
from idpctl.graph.wire import Reply

__all__ = ["ClaimsSource", "GraphReader", "GraphWriter", "ProviderLister"]


@runtime_checkable
class GraphWriter(Protocol):
    """What apply needs of the client: the beta root its request URLs are built on
    (`userflows.link_items(..., root=)`), and `$batch` (results by lower-cased id; raises
    `batch.BatchOutcomeUnknown` for writes whose answer was lost)."""

    @property
    def root(self) -> str: ...

    def batch(self, requests: Sequence[BatchRequest]) -> Mapping[str, BatchResult]: ...


@runtime_checkable
class GraphReader(Protocol):
    """What the reads of the pipeline need: one GET (a URL absolute or relative to `root`),
    a `$batch` of GETs, and the base URL a next link must stay on."""

    @property
    def base_url(self) -> str: ...

    @property
    def root(self) -> str: ...

    def request(self, method: str, url: str) -> Reply: ...

    def batch(self, requests: Sequence[BatchRequest]) -> Mapping[str, BatchResult]: ...


@runtime_checkable
class ClaimsSource(Protocol):
    """What the permission and capability preflight reads of the client."""

    def token_claims(self) -> dict[str, Any]: ...

    def available_provider_types(self) -> list[str]: ...


if TYPE_CHECKING:  # the type checker proves GraphClient has every seam's shape
    from idpctl.graph.client import GraphClient

    def _client_fits(
        client: GraphClient,
    ) -> tuple[GraphWriter, GraphReader, ProviderLister, ClaimsSource]:
        return client, client, client, client
