"""`$batch` across Graph versions: a batch holds one version's requests (GRAPH.md 5.1), so
requests whose url starts with `/v1.0/` or `/beta/` are grouped by that prefix (stripped) and
each group goes through `batchrun.run` against its own version root; a request without a
version is beta. A dependency across versions cannot be sent (ValueError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from idpctl.config.apiversions import BETA, VERSIONS
from idpctl.graph import batchrun
from idpctl.graph.batch import BatchOutcomeUnknown, BatchRequest, BatchResult
from idpctl.graph.batchrun import BatchClient
from idpctl.net.ratelimit import Budget

__all__ = ["VersionedClient", "by_version", "run"]


class VersionedClient(BatchClient, Protocol):
    """A `batchrun.BatchClient` whose relative URLs resolve against beta, and that knows each
    version's root (`GraphClient`)."""

    def version_root(self, version: str | None) -> str: ...


def run(
    client: VersionedClient, requests: Sequence[BatchRequest], *, concurrency: int = 4
) -> dict[str, BatchResult]:
    """Every request's result by id, one `batchrun.run` per version; a lost batch's
    `BatchOutcomeUnknown` carries the results of the versions already sent."""
    results: dict[str, BatchResult] = {}
    for version, group in by_version(requests).items():
        target = client if version == BETA else _AtVersion(client, version)
        try:
            results.update(batchrun.run(target, group, concurrency=concurrency))
        except BatchOutcomeUnknown as error:
            error.results = {**results, **error.results}
            raise
    return results


def by_version(requests: Sequence[BatchRequest]) -> dict[str, list[BatchRequest]]:
    """Requests grouped by the version prefix of their url (stripped), in order; a dependency
    across versions cannot be sent (ValueError)."""
    groups: dict[str, list[BatchRequest]] = {}
    version_of: dict[str, str] = {}
    for request in requests:
        version, url = BETA, request.url
        for candidate in VERSIONS:
            if url.startswith(f"/{candidate}/"):
                version, url = candidate, url[len(candidate) + 1 :]
        version_of[request.id.lower()] = version
        for dep in request.depends_on:
            if version_of.get(dep.lower(), version) != version:
                raise ValueError(
                    f"batch request {request.id!r} ({version}) depends on "
                    f"{dep!r} of another Graph version"
                )
        groups.setdefault(version, []).append(replace(request, url=url))
    return groups


class _AtVersion:
    """The client with relative URLs resolved against another version's root (what
    `batchrun.run` needs to post one version's `$batch`)."""

    def __init__(self, client: VersionedClient, version: str) -> None:
        self._client = client
        self.root = client.version_root(version)

    @property
    def backoff_base(self) -> float:
        return self._client.backoff_base

    @property
    def max_wait(self) -> float:
        return self._client.max_wait

    @property
    def max_retries(self) -> int:
        return self._client.max_retries

    @property
    def bucket(self) -> Budget:
        return self._client.bucket

    def request(self, method: str, url: str, **options: Any) -> Any:
        if not url.startswith(("https://", "http://")):
            url = self.root + url
        return self._client.request(method, url, **options)
