"""Loki's query API over the lake, pushed and queried through HTTP; every expectation is
computed here from the pushed data."""

from __future__ import annotations

import pytest

from tests.loglake.query.conftest import BASE, Api

S = 10**9
APPS = {"api": 7, "web": 5}
"""Streams `{app=<name>, env="prod"}` with this many lines each, one every 10 s."""


def _lines(app: str) -> list[tuple[int, str]]:
    level = lambda i: "error" if i % 3 == 0 else "info"  # noqa: E731
    return [
        (BASE + (i * 10 + 1) * S, f"level={level(i)} app={app} i={i}") for i in range(APPS[app])
    ]


def _push_all(api: Api, tenant: str | None = None) -> None:
    api.push(
        [{"stream": {"app": a, "env": "prod"}, "values": _lines(a)} for a in APPS], tenant=tenant
    )


@pytest.fixture(params=["landing", "chunks"])
def loaded(request: pytest.FixtureRequest, api: Api) -> Api:
    """The data set, either still in landing or flushed into chunks."""
    _push_all(api)
    if request.param == "chunks":
        api.flush()
    return api


def test_log_query_limit_counts_entries_across_streams(loaded: Api) -> None:
    every = sorted(
        ((ts, line, app) for app in APPS for ts, line in _lines(app)), key=lambda e: e[0]
    )
    for direction, picked in (("backward", every[::-1][:4]), ("forward", every[:4])):
        r = loaded.get(
            "query_range",
            query='{env="prod"}',
            start=BASE,
            end=BASE + 3600 * S,
            limit=4,
            direction=direction,
        )
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["resultType"] == "streams"
        got = {s["stream"]["app"]: s["values"] for s in data["result"]}
        want: dict[str, list] = {}
        for ts, line, app in picked:
            want.setdefault(app, []).append([str(ts), line])
        assert got == want
        assert [s["stream"]["app"] for s in data["result"]] == sorted(want)


def test_parsed_labels_split_streams(loaded: Api) -> None:
    r = loaded.get(
        "query_range",
        query='{app="api"} | logfmt | level="error"',
        start=BASE,
        end=BASE + 3600 * S,
        limit=100,
    )
    result = r.json()["data"]["result"]
    errors = [(ts, line) for ts, line in _lines("api") if "level=error" in line]
    assert sum(len(s["values"]) for s in result) == len(errors)
    for stream in result:
        [[ts, line]] = stream["values"]
        assert stream["stream"]["i"] == line.rsplit("=", 1)[1]
        assert stream["stream"]["level"] == "error"
        assert stream["stream"]["app"] == "api" and stream["stream"]["env"] == "prod"


def test_range_metric_is_step_aligned(loaded: Api) -> None:
    step = 20
    start, end = BASE + 7 * S, BASE + 53 * S  # Loki aligns to BASE and BASE + 60 s
    r = loaded.get(
        "query_range",
        query='sum by (app) (count_over_time({env="prod"}[30s]))',
        start=start,
        end=end,
        step=f"{step}s",
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["resultType"] == "matrix"
    for series in data["result"]:
        ts_list = [int(t * S) for t, _ in series["values"]]
        want = []
        for t in range(BASE, BASE + 60 * S + 1, step * S):
            n = sum(1 for ts, _ in _lines(series["metric"]["app"]) if t - 30 * S < ts <= t)
            if n:
                want.append((t, str(n)))
        assert list(zip(ts_list, [v for _, v in series["values"]], strict=True)) == want
    assert [s["metric"] for s in data["result"]] == [{"app": "api"}, {"app": "web"}]


def test_instant_vector_and_scalar(loaded: Api) -> None:
    t = BASE + 40 * S
    r = loaded.get("query", query='count_over_time({app="web"}[1m])', time=str(t))
    [sample] = r.json()["data"]["result"]
    n = sum(1 for ts, _ in _lines("web") if t - 60 * S < ts <= t)
    assert sample["value"] == [t // S, str(n)]
    assert sample["metric"] == {"app": "web", "env": "prod", "service_name": "web"}
    r = loaded.get("query", query="1 + 1.5", time=f"{t / S + 0.25:.3f}")
    assert r.json()["data"]["resultType"] == "scalar"
    assert r.json()["data"]["result"] == [t / S + 0.25, "2.5"]


def test_stats_count_the_selected_stream(loaded: Api) -> None:
    r = loaded.get("query_range", query='{app="api"}', start=BASE, end=BASE + 3600 * S)
    summary = r.json()["data"]["stats"]["summary"]
    lines = _lines("api")
    assert summary["totalLinesProcessed"] == len(lines)
    assert summary["totalBytesProcessed"] == sum(len(line.encode()) for _, line in lines)
    assert summary["totalEntriesReturned"] == len(lines)
    assert set(r.json()["data"]["stats"]) == {"summary", "querier", "ingester", "cache", "index"}


def test_metadata_endpoints(loaded: Api) -> None:
    window = {"start": BASE, "end": BASE + 3600 * S}
    assert loaded.get("labels", **window).json() == {
        "status": "success",
        "data": ["app", "env", "service_name"],
    }
    assert loaded.get("label/app/values", **window).json()["data"] == sorted(APPS)
    values = loaded.get("label/app/values", query='{app=~"w.*"}', **window).json()["data"]
    assert values == ["web"]
    series = loaded.get("series", **{"match[]": '{app="api"}'}, **window).json()["data"]
    assert series == [{"app": "api", "env": "prod", "service_name": "api"}]
    stats = loaded.get("index/stats", query='{env="prod"}', **window).json()
    all_lines = [line for a in APPS for _, line in _lines(a)]
    assert stats["streams"] == 2 and stats["entries"] == len(all_lines)
    assert stats["bytes"] == sum(len(x) for x in all_lines)
    volume = loaded.get("index/volume", query='{env="prod"}', **window).json()["data"]
    assert volume["resultType"] == "vector"
    assert volume["result"][0]["metric"] == {"env": "prod"}
    assert volume["result"][0]["value"][1] == str(sum(len(x) for x in all_lines))
    before = loaded.get("labels", start=BASE - 7200 * S, end=BASE - 3600 * S).json()
    assert before["data"] == []


def test_tenants_are_isolated_and_can_be_combined(make_api) -> None:
    api = make_api(auth_enabled=True)
    api.push([{"stream": {"app": "a"}, "values": [(BASE + S, "from one")]}], tenant="one")
    api.push([{"stream": {"app": "b"}, "values": [(BASE + S, "from two")]}], tenant="two")
    window = {"start": BASE, "end": BASE + 60 * S}
    assert api.get("label/app/values", tenant="one", **window).json()["data"] == ["a"]
    r = api.get("query_range", tenant="two", query='{app=~".+"}', **window)
    assert [s["values"][0][1] for s in r.json()["data"]["result"]] == ["from two"]
    r = api.get("query_range", tenant="one|two", query='{app=~".+"}', **window)
    streams = r.json()["data"]["result"]
    assert [s["stream"]["__tenant_id__"] for s in streams] == ["one", "two"]
    r = api.get("query_range", tenant="two|one", query='{__tenant_id__="one"}', **window)
    assert [s["values"][0][1] for s in r.json()["data"]["result"]] == ["from one"]
    assert api.get("labels", **window).status_code == 401
    assert api.get("labels", **window).text == "no org id\n"


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            "query_range",
            {"start": "x"},
            "could not parse 'start' parameter: strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
        (
            "query_range",
            {"end": "1", "start": "2"},
            "end timestamp must not be before or equal to start time",
        ),
        (
            "query_range",
            {"start": "0", "end": "20000", "step": "1"},
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the "
            "value of the step parameter",
        ),
        (
            "query_range",
            {"step": "0"},
            "zero or negative query resolution step widths are not "
            "accepted. Try a positive integer",
        ),
        ("query_range", {"step": "abc"}, 'cannot parse "abc" to a valid duration'),
        ("query_range", {"direction": "up"}, "invalid direction 'up'"),
        ("query_range", {"limit": "0"}, "limit must be a positive value"),
        (
            "query_range",
            {"limit": "5001"},
            "max entries limit per query exceeded, limit > "
            "max_entries_limit_per_query (5001 > 5000)",
        ),
        (
            "query_range",
            {"since": "2x"},
            'could not parse \'since\' parameter: unknown unit "x" in duration "2x"',
        ),
        (
            "query_range",
            {"start": "0", "end": "2700000", "step": "1h"},
            "the query time range exceeds the limit (query length: 750h0m0s, limit: 30d1h)",
        ),
        (
            "query",
            {},
            "log queries are not supported as an instant query type, please change "
            "your query to a range query type",
        ),
        (
            "query",
            {"query": 'sum(rate({app="a"}))'},
            "parse error at line 1, col *",
        ),
    ],
)
def test_bad_parameters_get_lokis_400(api: Api, path: str, params: dict, message: str) -> None:
    r = api.get(path, **{"query": '{app="a"}', **params})
    assert r.status_code == 400
    if message.endswith("*"):  # positions are logql2sql's business, the prefix is Loki's
        assert r.text.startswith(message[:-1])
    else:
        assert r.text == message + "\n"


def test_series_limit(make_api) -> None:
    api = make_api(max_query_series=2)
    api.push([{"stream": {"app": str(i)}, "values": [(BASE + S, "x")]} for i in range(3)])
    r = api.get("query", query='count_over_time({app=~".+"}[1m])', time=BASE + 30 * S)
    assert r.status_code == 400
    assert r.text.startswith("maximum number of series (2) reached for a single query;")
    ok = api.get("query", query='sum(count_over_time({app=~".+"}[1m]))', time=BASE + 30 * S)
    assert ok.json()["data"]["result"][0]["value"][1] == "3"


def test_query_timeout_interrupts_and_server_stays_healthy(make_api) -> None:
    api = make_api(query_timeout="1ns")
    _push_all(api)
    r = api.get("query_range", query='{env="prod"}', start=BASE, end=BASE + 60 * S)
    assert r.status_code == 504
    assert r.text.startswith("request timed out, decrease the duration of the request")
    assert api.client.get("/ready").status_code == 200


def test_format_query_and_buildinfo(api: Api) -> None:
    r = api.get("format_query", query='sum(rate({app="a"}[1m]))by(x)')
    # Loki's own text (`syntax.Prettify`), from Loki 3.7.8's parser
    assert r.json() == {"status": "success", "data": 'sum by (x)(rate({app="a"}[1m]))'}
    bad = api.get("format_query", query="{")
    assert bad.status_code == 400 and bad.json()["status"] == "invalid-query"
    info = api.get("status/buildinfo").json()
    assert set(info) == {"version", "revision", "branch", "buildDate", "buildUser", "goVersion"}


def test_post_form_is_accepted(loaded: Api) -> None:
    r = loaded.client.post(
        "/loki/api/v1/query_range",
        data={"query": '{app="web"}', "start": str(BASE), "end": str(BASE + 3600 * S)},
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]["result"][0]["values"]) == APPS["web"]


def test_openapi_describes_the_query_api(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("query", "query_range", "labels", "label/{name}/values", "series"):
        assert f"/loki/api/v1/{path}" in paths
    assert "/api/v1/sql" in paths
