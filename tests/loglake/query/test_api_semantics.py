"""More of Loki's query API semantics, each expectation computed here from what was pushed:
`interval` thinning under a `limit`, identical entries returned once, the bytes limit, POST
forms of `query` and `series`, and the figures of the stats summary."""

from __future__ import annotations

import pytest

from tests.loglake.query.conftest import BASE, Api

S = 10**9
TICKS = [(BASE + i * 10 * S, f"tick {i}") for i in range(10)]
"""One stream `{app="iv"}`: an entry every 10 s."""
WINDOW = {"start": BASE, "end": BASE + 3600 * S}


def _thinned(entries: list[tuple[int, str]], interval: int, limit: int, forward: bool) -> list:
    """Loki's rule: keep an entry at least `interval` after (before) the last kept one,
    until `limit` are kept."""
    kept: list[tuple[int, str]] = []
    for ts, line in sorted(entries, reverse=not forward):
        if kept and (ts < kept[-1][0] + interval if forward else ts > kept[-1][0] - interval):
            continue
        if len(kept) == limit:
            break
        kept.append((ts, line))
    return kept


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("flushed", [False, True])
def test_interval_thins_entries_and_the_limit_counts_the_kept_ones(
    api: Api, direction: str, flushed: bool
) -> None:
    api.push([{"stream": {"app": "iv"}, "values": TICKS}])
    if flushed:
        api.flush()
    for interval, limit in (("25s", 3), ("25", 100), ("1m", 1)):
        r = api.get(
            "query_range",
            query='{app="iv"}',
            interval=interval,
            limit=limit,
            direction=direction,
            **WINDOW,
        )
        assert r.status_code == 200, r.text
        seconds = int(interval.rstrip("sm")) * (60 if interval.endswith("m") else 1)
        expected = _thinned(TICKS, seconds * S, limit, direction == "forward")
        got = [(int(ts), line) for s in r.json()["data"]["result"] for ts, line in s["values"]]
        assert got == expected


def test_identical_entries_are_returned_once(api: Api) -> None:
    """The same (stream, ts, line) pushed twice, once before and once after a flush, and a
    second time into landing: Loki's ingester keeps one."""
    entry = (BASE + 5 * S, "same line")
    stream = {"stream": {"app": "dup"}, "values": [entry, (BASE + 6 * S, "other")]}
    api.push([stream])
    api.flush()
    api.push([stream])
    api.push([{"stream": {"app": "dup"}, "values": [entry]}])
    r = api.get("query_range", query='{app="dup"}', direction="forward", **WINDOW)
    values = r.json()["data"]["result"][0]["values"]
    assert [(int(ts), line) for ts, line in values] == [entry, (BASE + 6 * S, "other")]
    count = api.get("query", query='count_over_time({app="dup"}[1m])', time=BASE + 30 * S)
    assert count.json()["data"]["result"][0]["value"][1] == "2"


def test_a_query_that_would_read_too_many_bytes_is_refused(make_api) -> None:
    api = make_api(max_query_bytes_read="50B")
    lines = [(BASE + i * S, "x" * 40) for i in range(3)]  # 120 bytes of lines
    api.push([{"stream": {"app": "big"}, "values": lines}])
    api.push([{"stream": {"app": "small"}, "values": [(BASE + S, "tiny")]}])
    api.flush()
    r = api.get("query_range", query='{app="big"}', **WINDOW)
    assert r.status_code == 400
    assert r.text.startswith("the query would read too many bytes (query: ")
    assert "limit: 50 B)" in r.text
    ok = api.get("query_range", query='{app="small"}', **WINDOW)
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["result"][0]["values"][0][1] == "tiny"


def test_post_forms_of_query_and_series(api: Api) -> None:
    api.push(
        [
            {"stream": {"app": "p", "env": "a"}, "values": [(BASE + S, "one")]},
            {"stream": {"app": "q", "env": "b"}, "values": [(BASE + 2 * S, "two")]},
        ]
    )
    instant = api.client.post(
        "/loki/api/v1/query",
        data={"query": 'sum(count_over_time({app=~"p|q"}[1m]))', "time": str(BASE + 30 * S)},
    )
    assert instant.status_code == 200, instant.text
    assert instant.json()["data"]["result"][0]["value"][1] == "2"
    series = api.client.post(
        "/loki/api/v1/series",
        data={"match[]": ['{app="p"}', '{env="b"}'], "start": str(BASE), "end": str(BASE + 60 * S)},
    )
    assert series.status_code == 200, series.text
    assert sorted(series.json()["data"], key=lambda s: s["app"]) == [
        {"app": "p", "env": "a", "service_name": "p"},
        {"app": "q", "env": "b", "service_name": "q"},
    ]


def test_stats_summary_figures_agree(api: Api) -> None:
    lines = [(BASE + i * S, f"line {i}") for i in range(5)]
    api.push([{"stream": {"app": "st"}, "values": lines}])
    r = api.get("query_range", query='{app="st"}', **WINDOW)
    summary = r.json()["data"]["stats"]["summary"]
    total = sum(len(line) for _, line in lines)
    assert summary["totalBytesProcessed"] == total
    assert summary["totalLinesProcessed"] == len(lines)
    assert summary["execTime"] > 0
    assert summary["queueTime"] >= 0
    assert summary["bytesProcessedPerSecond"] == pytest.approx(
        total / summary["execTime"], rel=0.01, abs=1
    )
    assert summary["linesProcessedPerSecond"] == pytest.approx(
        len(lines) / summary["execTime"], rel=0.01, abs=1
    )
