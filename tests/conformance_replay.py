"""Replay conformance fixtures against the emulator; report every difference (docs/conformance.md).

A fixture is JSON: `source` (the docs page and example, or the recording), `tenantKind`,
`truncated` (the docs mark their examples "shortened for readability"), optional `setup`
(providers seeded first through the admin API, as if made in the portal), optional `scope` (a
recording's display-name prefix) and `exchanges` (request -> expected response). An exchange
may carry `known`: a difference we keep on purpose, reported but not failing.

    python tests/conformance_replay.py tests/conformance/docs [more folders or files]

Differences that are normal are normalised away, each named in NORMALISATIONS; everything else
is reported with deepdiff.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff

from idpctl_emulator.harness import EmulatorHandle, running_emulator

DOCS = Path(__file__).parent / "conformance" / "docs"
WRITE_ONLY = frozenset({"clientSecret", "certificateData"})
GUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}$"
)

# every normal difference, normalised on both sides before comparing
NORMALISATIONS = (
    "@odata.context is dropped: it names the host (graph.microsoft.com or the emulator)",
    "@odata.type is compared without '#' and case-insensitively (GRAPH.md 7.9)",
    "write-only values (clientSecret, certificateData, at any depth) are <write-only>: the "
    "docs echo some and mask others with 4 to 11 asterisks (GRAPH.md 7.5)",
    "a GUID-shaped id is <guid>; the recorded id is mapped to the replayed one for the "
    "requests after it",
    "values of *DateTime members are <time>",
    "an error answer is compared by status and error.code only (message and innerError "
    "are free text, request ids and dates)",
    "truncated fixtures (the docs' examples): only the members the fixture shows are "
    "compared, and collection items are matched by id",
    "scoped fixtures (recordings): list items outside the run's display-name prefix are "
    "dropped on both sides",
    "headers are not compared, nor the headers of $batch items",
    "a request body's https://graph.microsoft.com (the @odata.id of a $ref) names the "
    "emulator's host instead: a reference names the Graph host it is sent to",
)
DOCS_HOST = "https://graph.microsoft.com"


@dataclass
class Difference:
    fixture: str
    exchange: int
    request: str
    detail: str
    known: str | None = None


@dataclass
class Report:
    fixtures: int = 0
    exchanges: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def unexpected(self) -> list[Difference]:
        return [d for d in self.differences if d.known is None]

    def text(self) -> str:
        lines = [
            f"conformance: {self.fixtures} fixture(s), {self.exchanges} exchange(s), "
            f"{len(self.unexpected)} unexpected and "
            f"{len(self.differences) - len(self.unexpected)} known difference(s)",
            "normalised:",
        ]
        lines += [f"  - {n}" for n in NORMALISATIONS]
        for d in self.differences:
            tag = f"known ({d.known})" if d.known else "DIFFERENCE"
            lines.append(f"{tag}: {d.fixture} #{d.exchange} {d.request}: {d.detail}")
        return "\n".join(lines)


def fixtures(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob("*.json")) if path.is_dir() else [path]
    return found


def replay_all(paths: Sequence[Path]) -> Report:
    report = Report()
    by_kind: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path in fixtures(paths):
        data = json.loads(path.read_text(encoding="utf-8"))
        by_kind.setdefault(data["tenantKind"], []).append((path, data))
    for kind, items in sorted(by_kind.items()):
        with running_emulator(tenant_kind=kind, rate_limit="off") as emu:
            ids: dict[str, str] = {}
            first_recording = True
            for path, data in items:
                report.fixtures += 1
                report.exchanges += len(data["exchanges"])
                # docs examples stand alone; recordings continue one another, in name order
                recorded = not data.get("truncated")
                report.differences += replay(
                    emu,
                    path.name,
                    data,
                    reset=not recorded or first_recording,
                    ids=ids if recorded else None,
                )
                first_recording = first_recording and not recorded
    return report


def replay(
    emu: EmulatorHandle,
    name: str,
    data: dict[str, Any],
    *,
    reset: bool = True,
    ids: dict[str, str] | None = None,
) -> list[Difference]:
    """One fixture on a reset emulator: its setup, then each exchange in order. Recordings of
    one run replay in order on one emulator: `reset=False` and one `ids` map for them all."""
    if reset:
        emu.admin.reset()
    for body in data.get("setup", []):
        emu.admin.seed(body)
    for flow in data.get("setupFlows", []):
        emu.admin.call("POST", "/userflows", flow)
    ids = {} if ids is None else ids
    found: list[Difference] = []
    with emu.graph() as graph:
        for number, exchange in enumerate(data["exchanges"], 1):
            request = exchange["request"]
            path = _substitute(request["path"], ids)
            sent = request.get("body")
            if sent is not None:  # a $batch item's url names ids too, an @odata.id the host
                sent = json.loads(
                    _substitute(json.dumps(sent), ids).replace(DOCS_HOST, emu.base_url.rstrip("/"))
                )
            answer = graph.request(request["method"], path, json=sent)
            body = answer.json() if answer.content else None
            got = {"status": answer.status_code, "body": body}
            want = exchange["response"]
            _learn_ids(want.get("body"), body, ids)
            detail = compare(
                want, got, truncated=bool(data.get("truncated")), scope=data.get("scope")
            )
            if detail:
                found.append(
                    Difference(
                        name, number, f"{request['method']} {path}", detail, exchange.get("known")
                    )
                )
            elif exchange.get("known"):
                found.append(
                    Difference(
                        name,
                        number,
                        f"{request['method']} {path}",
                        "the known difference is gone: drop `known`",
                    )
                )
    return found


def compare(
    want: dict[str, Any], got: dict[str, Any], *, truncated: bool, scope: str | None = None
) -> str:
    """'' when equal after normalising, else deepdiff's account of what differs."""
    expected, actual = normalise(want, scope), normalise(got, scope)
    if truncated:
        actual = {"status": actual["status"], "body": _project(actual["body"], expected["body"])}
    diff = DeepDiff(expected, actual, ignore_order=True, verbose_level=2)
    return "" if not diff else diff.pretty()


def normalise(response: dict[str, Any], scope: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(response.get("body"))
    body = _errors_by_code(body)
    if scope is not None and isinstance(body, dict) and isinstance(body.get("value"), list):
        body["value"] = [
            i
            for i in body["value"]
            if isinstance(i, dict) and str(i.get("displayName") or "").startswith(scope)
        ]
    return {"status": response.get("status"), "body": _clean(body)}


def _errors_by_code(body: Any) -> Any:
    """Error answers (top level or a `$batch` item's) cut to their code."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return {"error": {"code": body["error"].get("code")}}
    if isinstance(body, dict) and isinstance(body.get("responses"), list):
        return {
            **body,
            "responses": [
                {**r, "body": _errors_by_code(r.get("body"))} if isinstance(r, dict) else r
                for r in body["responses"]
            ],
        }
    return body


def _clean(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _clean(v, k) for k, v in value.items() if k not in ("@odata.context", "headers")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if not isinstance(value, str):
        return value
    if key == "@odata.type":
        return value.lstrip("#").lower()
    if key in WRITE_ONLY:
        return "<write-only>"
    if key.endswith("DateTime"):
        return "<time>"
    if key == "id" and GUID.match(value):
        return "<guid>"
    return value


def _project(actual: Any, expected: Any) -> Any:
    """`actual` cut down to what `expected` shows (a truncated docs example)."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return {k: _project(v, expected[k]) for k, v in actual.items() if k in expected}
    if (
        isinstance(actual, list)
        and isinstance(expected, list)
        and all(isinstance(e, dict) and "id" in e for e in expected)
    ):
        wanted = {e["id"]: e for e in expected}
        return [
            _project(a, wanted[a["id"]])
            for a in actual
            if isinstance(a, dict) and a.get("id") in wanted
        ]
    return actual


def _learn_ids(want: Any, got: Any, ids: dict[str, str]) -> None:
    """Recorded id -> replayed id, from a created item or a `$batch` item's answer."""
    if not isinstance(want, dict) or not isinstance(got, dict):
        return
    if isinstance(want.get("responses"), list) and isinstance(got.get("responses"), list):
        answers = {str(r.get("id")): r for r in got["responses"] if isinstance(r, dict)}
        for item in want["responses"]:
            if isinstance(item, dict) and str(item.get("id")) in answers:
                _learn_ids(item.get("body"), answers[str(item.get("id"))].get("body"), ids)
        return
    if (
        isinstance(want.get("id"), str)
        and isinstance(got.get("id"), str)
        and want["id"] != got["id"]
    ):
        ids[want["id"]] = got["id"]


def _substitute(path: str, ids: dict[str, str]) -> str:
    for recorded, replayed in ids.items():
        path = path.replace(recorded, replayed)
    return path


def main(argv: Sequence[str]) -> int:
    paths = [Path(a) for a in argv] or [DOCS]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"conformance: no such fixture file or folder: {', '.join(missing)}", file=sys.stderr)
        return 1
    report = replay_all(paths)
    print(report.text())
    return 1 if report.unexpected else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
