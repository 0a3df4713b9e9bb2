"""What apply needs of its collaborators, typed: the Graph calls the writer makes
(`GraphWriter`, met by `graph.client.GraphClient`), the request budget the heartbeat reads
(`ThrottleBudget`, met by `net.ratelimit.Budget`), and the progress callback. The state side
is `state.store.StateStore`. Internal: no stable Python API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from idpctl.graph.batch import BatchRequest, BatchResult

__all__ = ["GraphWriter", "Progress", "ThrottleBudget"]

Progress = Callable[[str], None]


class GraphWriter(Protocol):
    """The Graph client as apply uses it: the version root that user-flow link bodies name,
    and `$batch` (a write of unknown outcome raises `errors.WriteOutcomeUnknown`, whose
    `ids`, `results` and `retry_after` apply reads when present)."""

    root: str

    def batch(self, requests: Sequence[BatchRequest]) -> Mapping[str, BatchResult]: ...


class ThrottleBudget(Protocol):
    """The request budget a client may carry as `budget` (the heartbeat reports it)."""

    throttled_items: int

    def resume_in(self) -> float: ...


if TYPE_CHECKING:  # the type checker proves the real client meets the seam
    from idpctl.graph.client import GraphClient

    def _client_is_a_writer(client: GraphClient) -> GraphWriter:
        return client
