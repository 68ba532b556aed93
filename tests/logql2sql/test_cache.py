"""The translation cache: a query lowered once with symbolic `start`/`end`, bound per call.

The cached SQL must be the uncached translation byte for byte, whatever the times, step,
range and offset; the other `CompiledQuery` fields must match too; and the SQL must give
the same rows on DuckDB as a count computed here by hand.
"""

from __future__ import annotations

import dataclasses
import pickle
import threading

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

import logql2sql
from logql2sql.compile import CACHE_SIZE, _shape, _unshared, cache_clear, cache_info
from logql2sql.lower import Bounds
from logql2sql.symbolic import NotSymbolic, Slots, Template
from tests.logql2sql.engine_cases import ENTRY_SCHEMA, load_cases

S = 10**9
DIALECTS = ["duckdb", "trino", "spark", "clickhouse"]

# Typical dashboard queries, with `{r}` (range) and `{o}` (offset) filled in by the tests:
# log queries, bucketed and per-entry range aggregations, the logfmt fast path, unwrap,
# absent_over_time, rate_counter, vector/scalar binary operations, topk, label_replace.
SHAPES = [
    '{{app="api"}} |= "error"',
    '{{app="api"}} | logfmt | level="error" | line_format "{{{{.msg}}}}"',
    'count_over_time({{app="api"}} |= "error" [{r}] offset {o})',
    'sum by (level) (count_over_time({{app="api"}} | logfmt [{r}] offset {o}))',
    'sum(rate({{app="api", env=~"prod|dev"}} |~ "time(out)?" [{r}])) by (env)',
    'quantile_over_time(0.99, {{app="api"}} | logfmt | unwrap duration(took) [{r}] offset {o})'
    " by (pod)",
    'max_over_time({{app="api"}} | logfmt | unwrap bytes(size) [{r}]) by (pod)',
    'absent_over_time({{app="api", pod="p1"}}[{r}] offset {o})',
    'rate_counter({{app="api"}} | logfmt | unwrap total [{r}])',
    'topk(2, sum by (pod) (rate({{app="api"}}[{r}])))',
    'sum by (pod) (rate({{app="api"}}[{r}])) / on (pod) group_left sum by (pod) '
    '(rate({{a="b"}}[{r}] offset {o}))',
    'label_replace(bytes_rate({{app="api"}}[{r}]), "dst", "$1", "app", "(.*)") or vector(1)',
    '2 * count_over_time({{app="api"}}[{r}] offset {o}) > bool 1',
    "vector(3) + 1",
]

durations = st.sampled_from(["1s", "10s", "1m", "90s", "5m", "1h", "1h30m"])
offsets = st.sampled_from(["0s", "1s", "30s", "5m", "1h"])
times = st.integers(min_value=0, max_value=4 * 10**18 // 1000) | st.integers(-(10**12), 10**12)
steps = st.sampled_from([0, 0, S, 7 * S, 15 * S, 60 * S, 3600 * S]) | st.integers(1, 10**12)


def _same(cached: logql2sql.CompiledQuery, fresh: logql2sql.CompiledQuery) -> None:
    assert cached.sql == fresh.sql
    assert cached.kind == fresh.kind
    assert cached.expr == fresh.expr
    assert cached.matchers == fresh.matchers
    assert cached.params == fresh.params
    assert cached.read_range == fresh.read_range


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(SHAPES),
    r=durations,
    o=offsets,
    start=times,
    length=st.integers(0, 10**13) | st.integers(-(10**10), 0),
    step=steps,
    limit=st.sampled_from([1, 100, 5000]),
    direction=st.sampled_from(["forward", "backward"]),
)
def test_cached_sql_is_the_uncached_sql(shape, r, o, start, length, step, limit, direction):
    """Any start/end (also empty and negative ranges) binds to the uncached text."""
    query = shape.format(r=r, o=o)
    params = dict(start=start, end=start + length, step=step, limit=limit, direction=direction)
    _same(logql2sql.compile(query, **params), logql2sql.compile(query, cache=False, **params))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(SHAPES),
    dialect=st.sampled_from(DIALECTS[1:]),
    start=times,
    length=st.integers(0, 10**13),
    step=steps,
)
def test_cached_sql_is_the_uncached_sql_in_every_dialect(shape, dialect, start, length, step):
    query = shape.format(r="5m", o="1m")
    params = dict(start=start, end=start + length, step=step)
    try:
        fresh = logql2sql.compile(query, dialect, cache=False, **params)
    except logql2sql.UnsupportedInDialect:
        with pytest.raises(logql2sql.UnsupportedInDialect):
            logql2sql.compile(query, dialect, **params)
        return
    _same(logql2sql.compile(query, dialect, **params), fresh)


def test_shifted_times_hit_the_cache():
    """A dashboard refresh (same query and step, later start/end) is a cache hit."""
    query = 'sum by (level) (count_over_time({app="refresh"} | logfmt [1m]))'
    logql2sql.compile(query, start=0, end=3600 * S, step=60 * S)
    before = cache_info()
    for shift in range(1, 4):
        logql2sql.compile(query, start=shift * S, end=(3600 + shift) * S, step=60 * S)
    after = cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
    logql2sql.compile(query, start=0, end=3600 * S, step=30 * S)  # the step shapes the SQL
    assert cache_info().misses == after.misses + 1
    assert after.maxsize == CACHE_SIZE == 1024


def test_parsed_queries_key_the_cache_too():
    """The executor passes an AST: equal ASTs share an entry, and the result is the same."""
    text = 'rate({app="ast"} |= "x" [5m])'
    first = logql2sql.compile(logql2sql.parse(text), start=0, end=600 * S, step=S)
    hits = cache_info().hits
    second = logql2sql.compile(logql2sql.parse(text), start=S, end=601 * S, step=S)
    assert cache_info().hits == hits + 1
    assert second.sql == logql2sql.compile(text, start=S, end=601 * S, step=S, cache=False).sql
    assert first.sql != second.sql


def test_errors_are_not_cached():
    for _ in range(2):
        with pytest.raises(logql2sql.ParseError):
            logql2sql.compile('{app="a"} |', start=0, end=S)
    for _ in range(2):
        with pytest.raises(logql2sql.LogQLError, match="approx_topk"):
            logql2sql.compile('approx_topk(2, rate({a="b"}[1m]))', start=0, end=S, step=S)
    assert logql2sql.compile('approx_topk(2, rate({a="b"}[1m]))', start=0, end=S).kind


def test_non_integer_times_translate_uncached():
    """Floats print differently from ints (`60.0`), so they never share an entry with ints."""
    q = logql2sql.compile('count_over_time({a="b"}[1m])', start=60.0 * S, end=120.0 * S, step=S)
    assert "60000000000.0" in q.sql


def test_expression_is_a_fresh_tree_of_the_same_sql():
    """The tree is built on first use, prints as `sql`, and belongs to the caller."""
    query = '{app="api"} | json user="u.id" | line_format "{{.user}}"'
    q = logql2sql.compile(query, start=0, end=600 * S)
    assert isinstance(q.expression, exp.Select)
    assert q.expression is q.expression
    assert q.expression.sql(dialect="duckdb") == q.sql
    q.expression.set("limit", None)
    again = logql2sql.compile(query, start=0, end=600 * S)
    assert again.sql == q.sql and "LIMIT 100" in again.expression.sql(dialect="duckdb")
    replaced = dataclasses.replace(q, expression=exp.select("1"), sql="SELECT 1")
    unread = pickle.loads(pickle.dumps(logql2sql.compile(query, start=S, end=600 * S)))
    assert unread.expression.sql(dialect="duckdb") == unread.sql
    assert replaced.expression.sql() == "SELECT 1" and replaced.read_range == q.read_range


def test_concurrent_compiles_agree():
    queries = [s.format(r="1m", o="5m") for s in SHAPES[::2]]
    expected = {
        (q, i): logql2sql.compile(q, start=i * S, end=(i + 900) * S, step=60 * S, cache=False).sql
        for q in queries
        for i in range(3)
    }
    cache_clear()
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for k in range(len(queries) * 3):
                q, i = queries[(k + offset) % len(queries)], k % 3
                sql = logql2sql.compile(q, start=i * S, end=(i + 900) * S, step=60 * S).sql
                assert sql == expected[(q, i)]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _logs(n: int) -> pa.Table:
    """One entry per second at t = 1..n s; pod p1 at even seconds; level error every 3rd."""
    return pa.table(
        {
            "fingerprint": [i % 2 for i in range(n)],
            "ts": [(i + 1) * S for i in range(n)],
            "line": [f"level={'error' if i % 3 == 0 else 'info'} took={i}ms" for i in range(n)],
            "labels": [[("app", "api"), ("pod", f"p{i % 2}")] for i in range(n)],
            "structured_metadata": [[] for _ in range(n)],
        },
        schema=ENTRY_SCHEMA,
    )


@pytest.mark.parametrize("shift", [0, 7, 61])
def test_cached_sql_counts_right_on_duckdb(shift):
    """Shifted windows over one entry per second give the counts worked out by hand."""
    con = duckdb.connect()
    con.register("logs", _logs(600))
    start, end, step = (120 + shift) * S, (300 + shift) * S, 60 * S
    query = 'sum(count_over_time({app="api"} | logfmt [1m] offset 30s))'
    rows = sorted(
        con.execute(logql2sql.translate(query, start=start, end=end, step=step)).fetchall()
    )
    # Window (t - 90s, t - 30s] holds 60 entries of one per second (all above t = 0).
    assert [(ts, value) for ts, _, value in rows] == [
        (t, 60.0) for t in range(start, end + 1, step)
    ]
    errors = 'sum by (level) (count_over_time({app="api"} | logfmt | level="error" [1m]))'
    cached = logql2sql.translate(errors, start=start, end=end, step=step)
    got = sorted(con.execute(cached).fetchall())
    want = sorted(
        con.execute(
            logql2sql.compile(errors, start=start, end=end, step=step, cache=False).sql
        ).fetchall()
    )
    assert got == want
    assert [v for _, _, v in got] == [
        float(sum(1 for s in range(t // S - 59, t // S + 1) if (s - 1) % 3 == 0))
        for t in range(start, end + 1, step)
    ]


def test_cached_log_query_on_duckdb():
    con = duckdb.connect()
    con.register("logs", _logs(100))
    for lo in (10, 40):
        sql = logql2sql.translate('{pod="p1"}', start=lo * S, end=(lo + 10) * S, limit=3)
        assert [ts // S for ts, *_ in con.execute(sql).fetchall()] == [lo + 8, lo + 6, lo + 4]


def test_symbolic_times_refuse_branches():
    slots = Slots()
    with pytest.raises(NotSymbolic):
        bool(slots.start - 5)
    with pytest.raises(NotSymbolic):
        _ = slots.end < 0
    with pytest.raises(NotSymbolic):
        _ = slots.end == slots.start
    with pytest.raises(NotSymbolic):
        f"{slots.start}"
    with pytest.raises(TypeError):
        slots.start * 2  # noqa: B018 - only `± int` keeps the value linear


def test_template_tokens_avoid_the_query_text(monkeypatch):
    draws = iter(["0123", "4567"])
    monkeypatch.setattr("logql2sql.symbolic.secrets.token_hex", lambda n: next(draws))
    slots = Slots(avoid='{a="q0123x0"}')
    assert slots.nonce == "q4567"
    with pytest.raises(NotSymbolic):
        Template.of(f"x = {slots.token(slots.start)}1 OR y = '{slots.nonce}'", slots)


def test_shared_nodes_print_as_their_copy():
    """A node hung under two parents prints as a full copy of the tree would print it."""
    arrow = exp.JSONExtract(this=exp.column("line"), expression=exp.Literal.string("$.a"))
    tree = exp.select(
        exp.JSONExtractScalar(this=arrow, expression=exp.Literal.string("$")),
        exp.Cast(this=arrow, to=exp.DataType.build("TEXT")),
    )
    reference = tree.sql(dialect="duckdb")
    assert _unshared(tree).sql(dialect="duckdb", copy=False) == reference


@pytest.mark.skipif(not load_cases(), reason="shared engine cases absent")
def test_engine_corpus_queries_are_cached():
    """Queries of Loki's engine cases (a spread of them, range and instant) lower
    symbolically (no branch on start/end) and bind to the uncached SQL."""
    checked = 0
    for i, query in enumerate(sorted({case["query"] for case in load_cases()})[::7]):
        step = 60 * S if i % 2 else 0
        params = dict(start=600 * S, end=3600 * S, step=step)
        try:
            fresh = logql2sql.compile(query, cache=False, **params)
        except logql2sql.LogQLError:
            continue
        shape = _shape(query, "duckdb", Bounds(0, 0, step))
        assert shape.template is not None, query
        assert logql2sql.compile(query, **params).sql == fresh.sql, query
        checked += 1
    assert checked > 60


def _misplaced(tree: exp.Expr) -> list[str]:
    """Positions whose node names another parent, key or index, or sits twice in the tree."""
    seen: set[int] = set()
    bad = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            bad.append(f"{node.key} twice")
        seen.add(id(node))
        for key, value in node.args.items():
            members = value if isinstance(value, list) else [value]
            for i, c in enumerate(members):
                if not isinstance(c, exp.Expr):
                    continue
                index = i if isinstance(value, list) else None
                if c.parent is not node or c.arg_key != key or c.index != index:
                    bad.append(f"{c.key} under {node.key}.{key}[{index}]")
                stack.append(c)
    return bad


def test_unshared_places_every_node_once():
    """Shared subtrees, a node listed twice, and shared leaves (identifiers and literals,
    which `_unshared` checks where they hang without visiting) all end up in one place."""
    shared = exp.column("line")
    leaf = exp.Literal.string("$.a")
    ident = exp.to_identifier("x")
    arrow = exp.JSONExtract(this=shared, expression=leaf)
    tree = exp.select(
        exp.JSONExtractScalar(this=arrow, expression=leaf),
        exp.Cast(this=arrow, to=exp.DataType.build("TEXT")),
        exp.Coalesce(this=shared, expressions=[leaf, leaf, exp.Column(this=ident)]),
        exp.Array(expressions=[arrow, exp.Column(this=ident)]),
    )
    reference = tree.copy().sql(dialect="duckdb")
    assert _misplaced(tree)
    _unshared(tree)
    assert _misplaced(tree) == []
    assert tree.sql(dialect="duckdb", copy=False) == reference


def test_lowered_trees_have_every_node_in_place():
    for query in [
        'sum by (level) (count_over_time({app="api"} | logfmt [1m]))',
        'topk(5, sum by (path) (rate({app="api"} | json | status >= 500 [5m])))',
        '{app="api"} | json user="u.id" | line_format "{{.user}} {{ __line__ | ToUpper }}"',
    ]:
        tree = logql2sql.translate_expression(query, start=600 * S, end=3600 * S, step=60 * S)
        assert _misplaced(tree) == [], query
