"""The executor lowers a query to SQL once: it plans (parse, validate, matchers, read
range), binds the lake, and lowers with what the binding found. Validation errors still
come before anything is read; errors only lowering finds come after binding, with the
same 400 and text as when they were raised before it."""

from __future__ import annotations

import sys

import pytest

import logql2sql
from loglake.query.executor import Executor, QueryRequest
from logql2sql.lower import Lowerer
from tests.loglake.query.conftest import BASE, Api

S = 10**9
compile_module = sys.modules["logql2sql.compile"]
NO_MATCHER = (
    "queries require at least one regexp or equality matcher that does not have an "
    'empty-compatible value. For instance, app=~".*" does not meet this requirement, but '
    'app=~".+" will'
)
"""Loki's text for a selector whose every matcher matches the empty string."""


def _push(api: Api) -> None:
    api.push(
        [
            {"stream": {"app": "api", "pod": "p1"}, "values": [(BASE + S, "level=error a=1")]},
            {"stream": {"app": "api", "pod": "p2"}, "values": [(BASE + 2 * S, "level=info")]},
        ]
    )


@pytest.mark.parametrize("flushed", [False, True])
def test_a_metric_query_through_the_api_is_lowered_once(
    api: Api, lowerings: list[Lowerer], flushed: bool
) -> None:
    _push(api)
    if flushed:
        api.flush()
    r = api.get(
        "query_range",
        query='sum by (level) (count_over_time({app="api"} | logfmt [1m]))',
        start=BASE,
        end=BASE + 60 * S,
        step="60s",
    )
    assert r.status_code == 200, r.text
    got = {s["metric"]["level"]: s["values"][-1][1] for s in r.json()["data"]["result"]}
    assert got == {"error": "1", "info": "1"}
    assert len(lowerings) == 1
    # with the streams relation, lowered knowing its label names
    assert lowerings[0].b.streams == "streams"
    assert lowerings[0].b.stream_labels == frozenset({"app", "pod", "service_name"})


def test_a_log_query_run_by_the_executor_is_lowered_once(
    api: Api, lowerings: list[Lowerer]
) -> None:
    _push(api)
    executor = Executor(api.client.app.state.lake)
    request = QueryRequest('{app="api"} |= "error"', BASE, BASE + 60 * S, step=S)
    result = executor.run(["fake"], request)
    assert [s["values"] for s in result.result] == [[[str(BASE + S), "level=error a=1"]]]
    assert len(lowerings) == 1


def test_a_plan_given_to_execute_is_lowered_once(api: Api, lowerings: list[Lowerer]) -> None:
    _push(api)
    planned = logql2sql.plan(
        'count_over_time({pod="p2"}[1m])', start=BASE + 60 * S, end=BASE + 60 * S, streams="streams"
    )
    table, plan = Executor(api.client.app.state.lake).execute(["fake"], planned)
    assert table.column("value").to_pylist() == [1]
    assert plan.landing_lines == 1  # only the selected stream read
    assert len(lowerings) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"query": 'approx_topk(2, sum by (pod) (rate({app="api"}[1m])))', "step": "60s"},
            "approx_topk is only supported on instant queries",
        ),
        (
            {"query": 'sum(count_over_time({app="api"} |= ip("300.1.1.1") [1m]))', "step": "1m"},
            'parse error : stage \'|= ip("300.1.1.1")\' : ip: invalid pattern: "300.1.1.1"',
        ),
        (
            {"query": '{app="api"} |= "GET" | logfmt |~ "GET("'},
            'parse error : stage \'|= "GET" |~ "GET("\' : error parsing regexp: '
            "missing closing ): `GET(`",
        ),
    ],
)
def test_errors_only_lowering_finds_are_lokis_400(api: Api, params: dict, message: str) -> None:
    """Lowering-only errors and the errors Loki raises when it builds a pipeline's stages
    (`stage '…' : …`) answer 400 with Loki's text."""
    _push(api)
    for _ in range(2):  # the second time from the plan cache; the server stays healthy
        r = api.get("query_range", start=BASE, end=BASE + 60 * S, **params)
        assert r.status_code == 400
        assert r.text == message + "\n"
    ok = api.get("query_range", query='{app="api"}', start=BASE, end=BASE + 60 * S)
    assert ok.status_code == 200 and len(ok.json()["data"]["result"]) == 2


def test_validation_errors_are_raised_before_anything_is_read(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_binding(*args, **kwargs):
        raise AssertionError("the lake was read")

    monkeypatch.setattr("loglake.query.executor.bind_logs", no_binding)
    r = api.get("query_range", query='sum(rate({app="a"}))', start=BASE, end=BASE + S)
    assert r.status_code == 400
    assert r.text.startswith("parse error at line 1, col ")
    r = api.get("query_range", query='{app=""}', start=BASE, end=BASE + S)
    assert r.status_code == 400
    assert r.text == str(logql2sql.ParseError(NO_MATCHER)) + "\n"
    r = api.get("query_range", query='{app="a"} |~ "("', start=BASE, end=BASE + S)
    assert r.status_code == 400
    assert r.text.startswith("parse error : stage '|~ \"(\"' : error parsing regexp: ")
