"""Durations in query parameters, read as Loki reads them: `since` with Prometheus'
`model.ParseDuration` (integers, units `y w d h m s ms` from the largest down, `0` without
a unit, no sign, "duration out of range" past int64 nanoseconds), `step`/`interval` as
float seconds first, then that duration form (`pkg/loghttp/params.go`)."""

from __future__ import annotations

import pytest

from loglake.query.errors import QueryError
from loglake.query.params import parse_seconds_or_duration, prom_duration
from tests.loglake.query.conftest import BASE, Api

S = 10**9
M = 60 * S
H = 60 * M


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0s", 0),
        ("1h30m", H + 30 * M),
        ("90m", 90 * M),
        ("1d", 24 * H),
        ("1y1w1d1h1m1s1ms", (365 + 7 + 1) * 24 * H + H + M + S + 10**6),
        ("250ms", 250 * 10**6),
        ("292y", 292 * 365 * 24 * H),
    ],
)
def test_prometheus_durations(text: str, ns: int) -> None:
    assert prom_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.5h", 'unknown unit "." in duration "1.5h"'),
        ("-1s", 'not a valid duration string: "-1s"'),
        ("1m1h", 'not a valid duration string: "1m1h"'),
        ("1h1h", 'not a valid duration string: "1h1h"'),
        ("00", 'not a valid duration string: "00"'),
        ("10", 'not a valid duration string: "10"'),
        ("2x", 'unknown unit "x" in duration "2x"'),
        ("5minutes", 'unknown unit "minutes" in duration "5minutes"'),
        ("300000y", "duration out of range"),
        ("292y1000w", "duration out of range"),
        ("18446744073709551616ms", 'not a valid duration string: "18446744073709551616ms"'),
        ("", "empty duration string"),
    ],
)
def test_prometheus_duration_errors_are_worded_as_prometheus_words_them(
    text: str, message: str
) -> None:
    with pytest.raises(QueryError) as info:
        prom_duration(text)
    assert (info.value.status, info.value.message) == (400, message)


@pytest.mark.parametrize(
    ("text", "ns"),
    [("0", 0), ("1.5", 1500 * 10**6), ("-1", -S), ("1e3", 1000 * S), ("1h30m", H + 30 * M)],
)
def test_step_is_float_seconds_or_a_duration(text: str, ns: int) -> None:
    assert parse_seconds_or_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.5h", 'cannot parse "1.5h" to a valid duration'),
        ("-1s", 'cannot parse "-1s" to a valid duration'),
        ("300000y", 'cannot parse "300000y" to a valid duration'),
        ("1e300", 'cannot parse "1e300" to a valid duration. It overflows int64'),
    ],
)
def test_step_errors(text: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_seconds_or_duration(text)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("since", "status", "body"),
    [
        ("0", 200, None),
        ("1h30m", 200, None),
        ("1.5h", 400, 'unknown unit "." in duration "1.5h"'),
        ("-1s", 400, 'not a valid duration string: "-1s"'),
        ("300000y", 400, "duration out of range"),
    ],
)
def test_since_through_the_api(api: Api, since: str, status: int, body: str | None) -> None:
    end = BASE + 2 * H
    api.push([{"stream": {"app": "a"}, "values": [(end - H - 20 * M, "x"), (end - S, "y")]}])
    r = api.get("query_range", query='{app="a"}', end=end, since=since)
    assert r.status_code == status, r.text
    if body is not None:
        assert r.text == f"could not parse 'since' parameter: {body}\n"
        return
    # `start` defaults to `end - since`; log queries read [start, end)
    lines = [v[1] for s in r.json()["data"]["result"] for v in s["values"]]
    assert lines == ([] if since == "0" else ["y", "x"])


@pytest.mark.parametrize(
    ("step", "status", "body"),
    [
        ("1h30m", 200, None),
        (
            "0",
            400,
            "zero or negative query resolution step widths are not accepted. "
            "Try a positive integer",
        ),
        ("1.5h", 400, 'cannot parse "1.5h" to a valid duration'),
        ("-1s", 400, 'cannot parse "-1s" to a valid duration'),
        ("300000y", 400, 'cannot parse "300000y" to a valid duration'),
    ],
)
def test_step_through_the_api(api: Api, step: str, status: int, body: str | None) -> None:
    r = api.get(
        "query_range",
        query='count_over_time({app="a"}[1m])',
        start=BASE,
        end=BASE + 3 * H,
        step=step,
    )
    assert r.status_code == status, r.text
    if body is not None:
        assert r.text == body + "\n"
    else:
        assert r.json()["data"]["resultType"] == "matrix"
