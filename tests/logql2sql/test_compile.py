"""`compile()`: the public result object, dialect emission, and user strings as literals."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
import sqlglot

import logql2sql
from logql2sql.errors import UnsupportedInDialect
from logql2sql.lexical import quote
from tests.logql2sql.engine_cases import ENTRY_SCHEMA

S = 10**9
QUERIES = [
    '{app="api"} |= "error" != "debug" | logfmt | level=~"err.*" | drop pod',
    'sum by (level) (count_over_time({app="api"} | logfmt | status >= 500 [1m]))',
    'quantile_over_time(0.99, {app="api"} | logfmt | unwrap duration(took) [5m]) by (pod)',
    'topk(3, sum by (pod) (rate({app="api"}[1m]))) / on (pod) group_left sum(rate({a="b"}[1m]))',
    'label_replace(rate({app="api"}[1m] offset 5m), "dst", "$1", "app", "(.*)") or vector(1)',
    '{app="api"} | json user="u.id" | line_format "{{.user}} {{ __line__ | ToUpper }}"',
]


@pytest.mark.parametrize("dialect", ["duckdb", "trino", "spark", "clickhouse"])
@pytest.mark.parametrize("query", QUERIES)
def test_sql_parses_back_in_its_dialect(query, dialect):
    if dialect == "spark" and "| json" in query:
        with pytest.raises(UnsupportedInDialect, match="json parser"):
            logql2sql.compile(query, dialect, start=60 * S, end=600 * S, step=60 * S)
        return
    compiled = logql2sql.compile(query, dialect, start=60 * S, end=600 * S, step=60 * S)
    assert compiled.dialect == dialect
    assert sqlglot.parse_one(compiled.sql, read=dialect) is not None


def test_compiled_query_describes_itself():
    q = logql2sql.compile(
        'sum(rate({app="a", env=~"prod|dev"}[5m] offset 1m)) + count_over_time({b="c"}[1m])',
        start=600 * S,
        end=1200 * S,
        step=60 * S,
    )
    assert q.kind == "metric"
    assert [[m.name for m in sel] for sel in q.matchers] == [["app", "env"], ["b"]]
    assert q.read_range == (600 * S - 360 * S, 1200 * S)
    assert q.params.step == 60 * S and q.params.source == "logs"
    assert logql2sql.compile("1 + 1", start=S, end=S).kind == "scalar"
    assert logql2sql.compile('{a="b"}', start=0, end=S).kind == "log"


def test_source_relation_is_a_parameter():
    sql = logql2sql.translate('{a="b"}', start=0, end=S, source="chunks_view")
    assert "FROM chunks_view" in sql


def test_unsupported_constructs_are_named():
    with pytest.raises(UnsupportedInDialect, match="json parser without parameters"):
        logql2sql.compile('{a="b"} | json', "trino", start=0, end=S)


HOSTILE = ["it's", "'; DROP TABLE logs; --", "100%_done", 'back\\slash "quoted"', "a.b*c+?"]


def _run(query: str, rows: list[tuple[str, str]]) -> list[str]:
    con = duckdb.connect()
    table = pa.table(
        {
            "fingerprint": [i for i, _ in enumerate(rows)],
            "ts": [(i + 1) * S for i, _ in enumerate(rows)],
            "line": [line for _, line in rows],
            "labels": [[("app", app)] for app, _ in rows],
            "structured_metadata": [[] for _ in rows],
        },
        schema=ENTRY_SCHEMA,
    )
    con.register("logs", table)
    sql = logql2sql.translate(query, start=0, end=100 * S, direction="forward")
    return [r[1] for r in con.execute(sql).fetchall()]


@pytest.mark.parametrize("value", HOSTILE)
def test_user_strings_reach_sql_only_as_literals(value):
    """Quotes, SQL, LIKE wildcards and regex metacharacters match exactly, as in Loki."""
    rows = [(value, f"x {value} y"), (value + "!", "other"), ("plain", "x%y_z")]
    selector = f"{{app={quote(value)}}}"
    assert _run(selector, rows) == [f"x {value} y"]
    assert _run(f'{{app=~".+"}} |= {quote(value)}', rows) == [f"x {value} y"]
    with_percent = [f"x {value} y"] if "%" in value else []
    assert _run('{app=~".+"} |= "%"', rows) == [*with_percent, "x%y_z"]


def test_log_query_limit_and_direction():
    rows = [("a", f"l{i}") for i in range(5)]
    con = duckdb.connect()
    con.register(
        "logs",
        pa.table(
            {
                "fingerprint": [1] * 5,
                "ts": [i * S for i in range(5)],
                "line": [r[1] for r in rows],
                "labels": [[("app", "a")]] * 5,
                "structured_metadata": [[]] * 5,
            },
            schema=ENTRY_SCHEMA,
        ),
    )
    back = logql2sql.translate('{app="a"}', start=0, end=5 * S, limit=2)
    fwd = logql2sql.translate('{app="a"}', start=0, end=5 * S, limit=2, direction="forward")
    assert [r[1] for r in con.execute(back).fetchall()] == ["l4", "l3"]
    assert [r[1] for r in con.execute(fwd).fetchall()] == ["l0", "l1"]


@pytest.mark.parametrize("query", QUERIES)
def test_every_subscript_says_how_it_is_indexed(query):
    """Map lookups and list items carry their index base (`sqlbuild.get`/`item`): without
    it sqlglot's generator infers the types of both sides of every subscript it prints,
    which cost an eighth of a cold translation."""
    tree = logql2sql.compile(query, start=60 * S, end=600 * S, step=60 * S).expression
    brackets = list(tree.find_all(sqlglot.exp.Bracket))
    assert brackets
    assert all(b.args.get("offset") == 1 for b in brackets)
