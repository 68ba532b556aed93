"""The YAML tests of a model (dbt's generic tests), run as SQL over a built relation.

`run_checks(con, relation, tests)` → one `CheckResult` per test: how many rows fail it.
- `not_null`: rows where the column is NULL;
- `unique`: values (or, for a model-level test, column combinations) seen more than once;
- `accepted_values`: non-NULL values outside the list.

The queries are sqlglot expressions; column names enter as identifiers and the accepted
values as literals.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import sqlglot.expressions as exp

from loglake.models.project import DIALECT, ColumnTest


@dataclass(frozen=True)
class CheckResult:
    """A test run: the test and its number of failing rows (0 = passed)."""

    test: ColumnTest
    failures: int

    @property
    def passed(self) -> bool:
        """True when no row fails the test."""
        return self.failures == 0


def check_query(relation: str, test: ColumnTest) -> exp.Query:
    """The query counting the rows of `relation` that fail `test`."""
    columns = [exp.column(exp.to_identifier(c)) for c in test.columns]
    table = exp.to_table(exp.to_identifier(relation).sql(dialect=DIALECT))
    count = exp.alias_(exp.Count(this=exp.Star()), "failures")
    if test.kind == "not_null":
        return exp.select(count).from_(table).where(columns[0].is_(exp.Null()))
    if test.kind == "unique":
        dupes = (
            exp.select(*columns)
            .from_(table)
            .where(exp.and_(*(c.copy().is_(exp.Null()).not_() for c in columns)))
            .group_by(*(c.copy() for c in columns))
            .having(exp.Count(this=exp.Star()) > 1)
        )
        return exp.select(count).from_(dupes.subquery("dupes"))
    if test.kind == "accepted_values":
        allowed = [exp.convert(v) for v in test.values]
        column = columns[0]
        return (
            exp.select(count)
            .from_(table)
            .where(exp.and_(column.is_(exp.Null()).not_(), exp.not_(column.copy().isin(*allowed))))
        )
    raise ValueError(f"unknown test kind {test.kind!r}")


def run_checks(
    con: duckdb.DuckDBPyConnection, relation: str, tests: tuple[ColumnTest, ...]
) -> list[CheckResult]:
    """Run every test over `relation` (a table or view name in `con`)."""
    results = []
    for test in tests:
        sql = check_query(relation, test).sql(dialect=DIALECT)
        [(failures,)] = con.execute(sql).fetchall()
        results.append(CheckResult(test, int(failures)))
    return results
