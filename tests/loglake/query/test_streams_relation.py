"""The `streams` relation the executor binds next to `logs`, and its collision fallback.

The compiled SQL reads stream labels from `streams` (one row per fingerprint). That is
only right while each fingerprint names one label set; when two read streams share a
fingerprint the executor must run the query without it.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

import logql2sql
from loglake.query.executor import runnable
from loglake.query.source import STREAMS, Plan, _register_streams
from storage.schema import ENTRY_SCHEMA, STREAMS_SCHEMA

S = 10**9
QUERY = 'sum by (app) (count_over_time({app=~".+"} |= "x" [1m]))'


def entries(rows: list[tuple[int, dict[str, str]]]) -> pa.Table:
    return pa.table(
        {
            "fingerprint": [fp for fp, _ in rows],
            "ts": [S * (i + 1) for i in range(len(rows))],
            "line": ["x"] * len(rows),
            "labels": [sorted(labels.items()) for _, labels in rows],
            "structured_metadata": [[] for _ in rows],
        },
        schema=ENTRY_SCHEMA,
    )


def registered(chunk_streams: pa.Table, landing: pa.Table) -> tuple[Plan, list[tuple]]:
    con = duckdb.connect()
    plan = Plan()
    _register_streams(con, STREAMS, chunk_streams, landing, plan)
    rows = con.sql(f"SELECT fingerprint, labels FROM {STREAMS} ORDER BY ALL").fetchall()
    return plan, rows


def test_streams_of_chunks_and_landing_are_distinct():
    chunk_streams = pa.table(
        {"fingerprint": [1, 2], "labels": [[("app", "a")], [("app", "b")]]},
        schema=STREAMS_SCHEMA,
    )
    landing = entries([(2, {"app": "b"}), (3, {"app": "c", "env": "x"})])
    plan, rows = registered(chunk_streams, landing)
    assert plan.streams_unique
    assert [r[0] for r in rows] == [1, 2, 3]
    assert plan.stream_labels == {"app", "env"}


def test_two_label_sets_under_one_fingerprint_are_flagged():
    plan, rows = registered(
        STREAMS_SCHEMA.empty_table(), entries([(7, {"app": "a"}), (7, {"app": "b"})])
    )
    assert not plan.streams_unique
    assert len(rows) == 2


def test_a_collision_runs_the_query_without_the_streams_relation():
    planned = logql2sql.plan(QUERY, start=60 * S, end=120 * S, step=60 * S, streams=STREAMS)
    assert f"FROM {STREAMS}" in logql2sql.compile_plan(planned).sql
    known = runnable(planned, Plan(streams_unique=True, stream_labels=frozenset({"app"})))
    assert known.params.stream_labels == {"app"}
    assert f"FROM {STREAMS}" in known.sql
    fallback = runnable(planned, Plan(streams_unique=False))
    plain = logql2sql.compile(QUERY, start=60 * S, end=120 * S, step=60 * S)
    assert fallback.sql == plain.sql
    assert f"FROM {STREAMS}" not in fallback.sql


def test_both_translations_agree_over_colliding_streams():
    """With a collision, per-entry labels keep the two series apart; the fallback's result
    is what the executor answers."""
    con = duckdb.connect()
    logs = entries([(7, {"app": "a"}), (7, {"app": "b"}), (8, {"app": "c"})])
    con.register("logs", logs)
    plan = Plan()
    _register_streams(con, STREAMS, STREAMS_SCHEMA.empty_table(), logs, plan)
    planned = logql2sql.plan(QUERY, start=60 * S, end=60 * S, streams=STREAMS)
    got = con.sql(runnable(planned, plan).sql).fetchall()
    assert sorted((dict(labels)["app"], value) for _, labels, value in got) == [
        ("a", 1.0),
        ("b", 1.0),
        ("c", 1.0),
    ]


LEVELS = 'sum by (level) (count_over_time({app=~".+"} | logfmt [1m]))'


@pytest.mark.parametrize("own_level", [False, True])
def test_label_names_no_stream_has_need_no_stream_values(own_level):
    """A name no stream has is left out of the per-entry lookup of the streams' values;
    a name one has is looked up (and wins over the parsed value, as in Loki)."""
    con = duckdb.connect()
    second = {"app": "b", "level": "own"} if own_level else {"app": "b"}
    lines = [(1, {"app": "a"}, "level=info"), (2, second, "level=warn")]
    logs = pa.table(
        {
            "fingerprint": [fp for fp, _, _ in lines],
            "ts": [S * (i + 1) for i in range(len(lines))],
            "line": [line for _, _, line in lines],
            "labels": [sorted(labels.items()) for _, labels, _ in lines],
            "structured_metadata": [[] for _ in lines],
        },
        schema=ENTRY_SCHEMA,
    )
    con.register("logs", logs)
    plan = Plan()
    _register_streams(con, STREAMS, STREAMS_SCHEMA.empty_table(), logs, plan)
    assert ("level" in plan.stream_labels) == own_level

    def run(**params) -> tuple[str, list[tuple]]:
        compiled = logql2sql.compile(LEVELS, start=60 * S, end=60 * S, **params)
        rows = con.sql(compiled.sql).fetchall()
        return compiled.sql, sorted((dict(labels)["level"], value) for _, labels, value in rows)

    _, plain = run()
    assert plain == [("info", 1.0), ("own" if own_level else "warn", 1.0)]
    sql, got = run(streams=STREAMS)
    assert got == plain
    assert "['level'] AS _s" in sql
    sql, got = run(streams=STREAMS, stream_labels=plan.stream_labels)
    assert got == plain
    assert ("['level'] AS _s" in sql) == own_level


def test_a_compiled_query_reading_streams_is_refused():
    """Only the plan can be run with the streams relation: whether to use it, and with
    which label names, is known after binding."""
    compiled = logql2sql.compile(QUERY, start=60 * S, end=120 * S, step=60 * S, streams=STREAMS)
    with pytest.raises(ValueError, match="from its plan"):
        runnable(compiled, Plan(streams_unique=True))
    plain = logql2sql.compile(QUERY, start=60 * S, end=120 * S, step=60 * S)
    assert runnable(plain, Plan(streams_unique=True)) is plain
