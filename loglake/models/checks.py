"""The YAML tests of a model (dbt's generic tests), run as SQL over a built relation.

`run_checks(con, relation, tests)` → one `CheckResult` per test: how many rows fail it.
- `not_null`: rows where the column is NULL;
- `unique`: values (or, for a model-level test, column combinations) seen more than once;
- `accepted_values`: non-NULL values outside the list.

The row-level tests (not_null, accepted_values) of a relation are counted in one scan, so
a wide model with many column tests is read once. The queries are sqlglot expressions;
column names enter as identifiers and the accepted values as literals.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import sqlglot.expressions as exp

from loglake.models.project import DIALECT, ColumnTest

ROW_TESTS = ("not_null", "accepted_values")
"""Tests decided row by row, which `run_checks` counts in one scan."""


@dataclass(frozen=True)
class CheckResult:
    """A test run: the test and its number of failing rows (0 = passed)."""

    test: ColumnTest
    failures: int

    @property
    def passed(self) -> bool:
        """True when no row fails the test."""
        return self.failures == 0


def failing_rows(test: ColumnTest) -> exp.Expression:
    """The condition a row fails a row-level test (`not_null`, `accepted_values`) by."""
    column = exp.column(exp.to_identifier(test.columns[0]))
    if test.kind == "not_null":
        return column.is_(exp.Null())
    if test.kind == "accepted_values":
        allowed = [exp.convert(v) for v in test.values]
        return exp.and_(column.is_(exp.Null()).not_(), exp.not_(column.copy().isin(*allowed)))
    raise ValueError(f"{test.kind} is not a row-level test")


def check_query(relation: str, test: ColumnTest) -> exp.Query:
    """The query counting the rows of `relation` that fail `test`."""
    table = exp.to_table(exp.to_identifier(relation).sql(dialect=DIALECT))
    count = exp.alias_(exp.Count(this=exp.Star()), "failures")
    if test.kind == "unique":
        columns = [exp.column(exp.to_identifier(c)) for c in test.columns]
        dupes = (
            exp.select(*columns)
            .from_(table)
            .where(exp.and_(*(c.copy().is_(exp.Null()).not_() for c in columns)))
            .group_by(*(c.copy() for c in columns))
            .having(exp.Count(this=exp.Star()) > 1)
        )
        return exp.select(count).from_(dupes.subquery("dupes"))
    if test.kind in ROW_TESTS:
        return exp.select(count).from_(table).where(failing_rows(test))
    raise ValueError(f"unknown test kind {test.kind!r}")


def row_checks_query(relation: str, tests: list[ColumnTest]) -> exp.Query:
    """One scan of `relation` counting the failing rows of every row-level test:
    `count(*) FILTER (WHERE …)` per test, in order."""
    table = exp.to_table(exp.to_identifier(relation).sql(dialect=DIALECT))
    counts = [
        exp.alias_(exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(
            this=failing_rows(test))), f"t{i}")
        for i, test in enumerate(tests)
    ]  # fmt: skip
    return exp.select(*counts).from_(table)


def run_checks(
    con: duckdb.DuckDBPyConnection, relation: str, tests: tuple[ColumnTest, ...]
) -> list[CheckResult]:
    """Run every test over `relation` (a table or view name in `con`), in order.

    The row-level tests share one scan; each `unique` test is a grouped query of its own.
    """
    failures: dict[int, int] = {}
    row_level = [i for i, t in enumerate(tests) if t.kind in ROW_TESTS]
    if row_level:
        sql = row_checks_query(relation, [tests[i] for i in row_level]).sql(dialect=DIALECT)
        failures.update(zip(row_level, con.execute(sql).fetchone(), strict=True))
    for i, test in enumerate(tests):
        if i not in failures:
            [(failed,)] = con.execute(check_query(relation, test).sql(dialect=DIALECT)).fetchall()
            failures[i] = failed
    return [CheckResult(test, int(failures[i])) for i, test in enumerate(tests)]
