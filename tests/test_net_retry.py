"""idpctl.net.retry: the one Retry-After parser, backoff and read loop every HTTP caller uses."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from idpctl.net.retry import (
    READ_ATTEMPTS,
    READ_MAX_WAIT,
    RETRY_STATUSES,
    Backoff,
    parse_retry_after,
    read_with_retries,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# -- parse_retry_after ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"Retry-After": " 3 "}, 3.0),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(headers: dict, seconds: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds


def test_retry_after_reads_httpx_headers_whatever_the_case() -> None:
    assert parse_retry_after(httpx.Headers({"RETRY-AFTER": "2"})) == 2.0


# -- Backoff ----------------------------------------------------------------------------------


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=3.0, max_total=100.0, jitter=False)
    assert [backoff.next_wait() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_with_jitter_stays_under_each_step() -> None:
    backoff = Backoff(base=1.0, cap=4.0, max_total=100.0, rng=random.Random(7))
    waits = [backoff.next_wait() for _ in range(6)]
    steps = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert all(w is not None and 0 <= w <= s for w, s in zip(waits, steps, strict=True))
    assert len(set(waits)) == len(waits)  # drawn, not the step itself


def test_backoff_takes_retry_after_as_given_even_above_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=1.0, max_total=100.0, jitter=False)
    assert backoff.next_wait(9.0) == 9.0
    assert backoff.next_wait() == 1.0  # the exponent moved on with the Retry-After wait


def test_backoff_gives_up_when_the_total_would_be_exceeded() -> None:
    backoff = Backoff(base=1.0, cap=10.0, max_total=3.5, jitter=False)
    assert [backoff.next_wait(), backoff.next_wait()] == [1.0, 2.0]
    assert backoff.next_wait() is None  # 3 + 4 > 3.5
    assert backoff.spent == 3.0
    assert Backoff(max_total=5.0).next_wait(6.0) is None


# -- read_with_retries --------------------------------------------------------------------------


def _answers(*items: int | dict | Exception) -> tuple[Callable[[], httpx.Response], list[int]]:
    """A `send` that answers `items` in turn (a status, {status: headers} or an error)."""
    queue, sent = list(items), []

    def send() -> httpx.Response:
        sent.append(1)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        if isinstance(item, dict):
            ((status, headers),) = item.items()
            return httpx.Response(status, headers=headers)
        return httpx.Response(item)

    return send, sent


def _read(send: Callable[[], httpx.Response]) -> tuple[httpx.Response, list[float]]:
    slept: list[float] = []
    return read_with_retries(send, what="test", sleep=slept.append), slept


def test_read_retries_with_the_doubling_backoff_and_returns_the_last_answer() -> None:
    send, sent = _answers(503, 500, 502)
    response, slept = _read(send)
    assert response.status_code == 502 and len(sent) == READ_ATTEMPTS == 3
    assert slept == [0.5, 1.0]


def test_read_stops_at_the_first_answer_not_worth_a_retry() -> None:
    for status in (200, 400, 401, 403, 404):
        send, sent = _answers(429, status)
        response, _ = _read(send)
        assert (response.status_code, len(sent)) == (status, 2)
    assert {429, 500, 502, 503, 504} == RETRY_STATUSES


def test_read_honours_retry_after_in_seconds_capped() -> None:
    send, _ = _answers({429: {"Retry-After": "2"}}, {429: {"Retry-After": "600"}}, 200)
    assert _read(send)[1] == [2.0, READ_MAX_WAIT]


def test_read_honours_a_retry_after_http_date() -> None:
    """Before the shared parser, a secret source ignored a date and waited 0.5 s."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    send, _ = _answers({503: {"Retry-After": when}}, 200)
    slept = _read(send)[1]
    assert len(slept) == 1 and 2.0 < slept[0] <= 4.0


def test_read_does_not_take_a_zero_retry_after_literally() -> None:
    send, _ = _answers({429: {"Retry-After": "0"}}, {429: {"Retry-After": "junk"}}, 200)
    assert _read(send)[1] == [0.5, 1.0]


def test_read_retries_a_timeout_but_not_a_refused_connection() -> None:
    send, sent = _answers(httpx.ReadTimeout("slow"), 200)
    assert _read(send)[0].status_code == 200 and len(sent) == 2
    send, sent = _answers(httpx.ConnectError("refused"), 200)
    with pytest.raises(httpx.ConnectError):
        _read(send)
    assert len(sent) == 1
    send, sent = _answers(*[httpx.ReadTimeout("slow")] * READ_ATTEMPTS)
    with pytest.raises(httpx.ReadTimeout):
        _read(send)
    assert len(sent) == READ_ATTEMPTS
