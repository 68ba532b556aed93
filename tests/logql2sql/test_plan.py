"""`plan()` and `compile_plan()`: `compile()` split at the lowering.

A plan carries everything `compile()` reports but the SQL (kind, matchers, read range,
checked parameters) without lowering the query; it raises the errors of parsing and
validation, and lowering a plan raises the errors only lowering can find. Lowering a plan
gives `compile()`'s result, whatever the dialect and parameters.
"""

from __future__ import annotations

import sys

import pytest

import logql2sql
from logql2sql.lower import Lowerer

S = 10**9
compile_module = sys.modules["logql2sql.compile"]

QUERIES = [
    '{app="api"} |= "error" | logfmt | level="error"',
    'sum by (level) (count_over_time({app="api"} | logfmt [5m] offset 1m))',
    'topk(2, sum by (pod) (rate({app="api"}[1m]))) / on () group_left vector(2)',
    'quantile_over_time(0.9, {app="api"} | logfmt | unwrap duration(took) [5m]) by (pod)',
    "vector(1) + 2",
]
LOWERING_ONLY = [
    ('approx_topk(2, rate({a="b"}[1m]))', 60 * S, "approx_topk is only supported"),
]


@pytest.mark.parametrize("dialect", ["duckdb", "trino", "spark", "clickhouse"])
@pytest.mark.parametrize("query", QUERIES)
def test_lowering_a_plan_gives_compiles_result(query: str, dialect: str) -> None:
    params = dict(start=600 * S, end=1200 * S, step=60 * S, streams="streams")
    planned = logql2sql.plan(query, dialect, **params)
    compiled = logql2sql.compile(query, dialect, **params)
    assert (planned.kind, planned.matchers, planned.read_range, planned.params) == (
        compiled.kind,
        compiled.matchers,
        compiled.read_range,
        compiled.params,
    )
    assert planned.expr == compiled.expr
    for cache in (True, False):
        lowered = logql2sql.compile_plan(planned, cache=cache)
        assert lowered.sql == compiled.sql
        assert lowered.expression.sql(dialect=dialect) == compiled.expression.sql(dialect=dialect)


def test_planning_does_not_lower(lowerings: list[Lowerer]) -> None:
    for query in QUERIES:
        logql2sql.plan(query, start=0, end=600 * S, step=60 * S)
    assert lowerings == []
    logql2sql.compile_plan(logql2sql.plan(QUERIES[1], start=0, end=600 * S, step=60 * S))
    assert len(lowerings) == 1


def test_planning_a_query_again_parses_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = compile_module.parse_tree

    def counting(text: str):
        parsed.append(text)
        return real(text)

    compile_module.cache_clear()
    monkeypatch.setattr(compile_module, "parse_tree", counting)
    query = 'count_over_time({app="once"}[1m])'
    for shift in range(3):
        logql2sql.plan(query, start=shift * S, end=(600 + shift) * S, step=S)
        logql2sql.compile(query, start=shift * S, end=(600 + shift) * S, step=S)
    assert parsed == [query]


def test_validation_errors_come_from_plan() -> None:
    with pytest.raises(logql2sql.ParseError, match="parse error at line 1, col"):
        logql2sql.plan('sum(rate({app="a"}))', start=0, end=S)
    with pytest.raises(logql2sql.ParseError, match="queries require at least one"):
        logql2sql.plan('{app=""}', start=0, end=S)
    with pytest.raises(logql2sql.LogQLError, match="invalid direction 'up'"):
        logql2sql.plan('{app="a"}', start=0, end=S, direction="up")
    with pytest.raises(logql2sql.UnsupportedInDialect):
        logql2sql.plan('{app="a"}', "sqlite", start=0, end=S)
    # what Loki's querier refuses when it builds the stages also comes before any reading
    with pytest.raises(logql2sql.ParseError, match="stage '.* ip: invalid pattern"):
        logql2sql.plan('{a="b"} |= ip("300.1.1.1")', start=0, end=S)
    with pytest.raises(logql2sql.ParseError, match="stage '| label_format x=.* not defined"):
        logql2sql.plan('{a="b"} | label_format x="{{ nosuch }}"', start=0, end=S)


@pytest.mark.parametrize(("query", "step", "message"), LOWERING_ONLY)
def test_lowering_only_errors_come_from_compile_plan(query: str, step: int, message: str) -> None:
    planned = logql2sql.plan(query, start=0, end=600 * S, step=step)
    with pytest.raises(logql2sql.LogQLError, match=message):
        logql2sql.compile_plan(planned)
    with pytest.raises(logql2sql.LogQLError, match=message):
        logql2sql.compile(query, start=0, end=600 * S, step=step)


def test_with_params_checks_and_follows_the_times() -> None:
    planned = logql2sql.plan(
        'rate({app="a"}[5m] offset 1m)', start=600 * S, end=900 * S, step=60 * S, streams="s"
    )
    assert planned.read_range == (240 * S, 840 * S)
    later = planned.with_params(start=1200 * S, end=1500 * S)
    assert later.read_range == (840 * S, 1440 * S)
    assert later.params.streams == "s" and later.expr is planned.expr
    labelled = planned.with_params(stream_labels=["app"])
    assert labelled.params.stream_labels == frozenset({"app"})
    assert planned.with_params(streams=None, stream_labels={"app"}).params.stream_labels is None
    with pytest.raises(logql2sql.LogQLError, match="invalid direction"):
        planned.with_params(direction="sideways")
    compiled = logql2sql.compile(
        'rate({app="a"}[5m] offset 1m)',
        start=600 * S,
        end=900 * S,
        step=60 * S,
        streams="s",
        stream_labels=frozenset({"app"}),
    )
    assert logql2sql.compile_plan(labelled).sql == compiled.sql


def test_a_plan_of_an_ast_keys_the_cache_like_compile() -> None:
    expr = logql2sql.parse(QUERIES[1])
    planned = logql2sql.plan(expr, start=0, end=600 * S, step=60 * S)
    assert planned.query is expr
    assert (
        logql2sql.compile_plan(planned).sql
        == logql2sql.compile(QUERIES[1], start=0, end=600 * S, step=60 * S).sql
    )
