"""The binding's facts as lowering parameters: `selected` (the selectors hold for every
entry of `source`) and `metadata` (False: no entry has structured metadata).

Each fact only drops work the SQL would otherwise do per entry; over a source for which the
fact holds, the answer is the same, and errors the query itself sets are still raised.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

import logql2sql
from storage.schema import ENTRY_SCHEMA

S = 10**9
LEVELS = 'sum by (level) (count_over_time({app="a"} | logfmt [1m]))'


def _logs(lines: list[str]) -> duckdb.DuckDBPyConnection:
    """A connection with `logs`: one stream `{app="a"}`, one line a second from 1 s."""
    con = duckdb.connect()
    table = pa.table(
        {
            "fingerprint": [1] * len(lines),
            "ts": [S * (i + 1) for i in range(len(lines))],
            "line": lines,
            "labels": [[("app", "a")]] * len(lines),
            "structured_metadata": [[] for _ in lines],
        },
        schema=ENTRY_SCHEMA,
    )
    con.register("logs", table)
    return con


def _sql(query: str, **facts: bool) -> str:
    """The SQL of an instant query at 60 s, lowered with the facts (`QueryPlan.with_params`)."""
    planned = logql2sql.plan(query, start=60 * S, end=60 * S).with_params(**facts)
    return logql2sql.compile_plan(planned).sql


def _run(con: duckdb.DuckDBPyConnection, query: str, **facts: bool) -> list[tuple[str, float]]:
    sql = _sql(query, **facts)
    return sorted((dict(labels)["level"], value) for _, labels, value in con.sql(sql).fetchall())


@pytest.mark.parametrize("facts", [{"selected": True}, {"metadata": False}])
def test_a_fact_that_holds_changes_the_sql_not_the_answer(facts: dict[str, bool]):
    con = _logs(["level=info", "level=warn a=1", 'msg="x" level=info'])
    assert _sql(LEVELS, **facts) != _sql(LEVELS)
    assert _run(con, LEVELS, **facts) == _run(con, LEVELS) == [("info", 2.0), ("warn", 1.0)]


def test_selected_leaves_the_selector_out():
    assert "'app'" in _sql(LEVELS)
    assert "'app'" not in _sql(LEVELS, selected=True)


def test_without_metadata_no_error_check_is_lowered_for_a_plain_logfmt():
    assert "pipeline error" in _sql(LEVELS)
    assert "pipeline error" not in _sql(LEVELS, metadata=False)


@pytest.mark.parametrize(
    "query",
    [
        'sum by (level) (sum_over_time({app="a"} | logfmt | unwrap duration(took) [1m]))',
        'sum by (level) (count_over_time({app="a"} | logfmt | took > 1s [1m]))',
        'sum by (level, __error__) (count_over_time({app="a"} | logfmt [1m]))',
    ],
)
def test_without_metadata_errors_the_query_sets_are_still_raised(query: str):
    """An unwrap's `SampleExtractionErr`, a comparison's `LabelFilterErr`, a line's own
    `__error__` key when the grouping names it: no structured metadata needed."""
    con = _logs(["level=info took=abc __error__=Own"])
    sql = _sql(query, metadata=False)
    with pytest.raises(duckdb.Error, match="pipeline error"):
        con.sql(sql).fetchall()
