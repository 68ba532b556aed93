"""How `,`, side-by-side filters, `and` and `or` group in a label filter stage, as Loki's
grammar groups them: `or` and `and` associate to the left with `and` binding tighter, while
a `,` or two filters side by side take the filter before them and everything after them.
Each grouping below is what Loki's parser (main branch, built in Go) printed for the query.
"""

from __future__ import annotations

import duckdb
import pytest

import logql2sql
from tests.logql2sql.engine_cases import load_fixture

S = 10**9


@pytest.mark.parametrize(
    ("filters", "grouped"),
    [
        ('x="1", y="2" or z="3"', 'x="1" and (y="2" or z="3")'),
        ('x="1" y="2" or z="3"', 'x="1" and (y="2" or z="3")'),
        ('x="1" or y="2", z="3"', 'x="1" or y="2" and z="3"'),
        ('x="1" and y="2" or z="3"', 'x="1" and y="2" or z="3"'),
        ('x="1" or y="2" and z="3"', 'x="1" or y="2" and z="3"'),
        ('(x="1", y="2") or z="3"', '(x="1" and y="2") or z="3"'),
        (
            'foo="bar" buzz!="blip", blop=~"boop" or fuzz==5',
            'foo="bar" and (buzz!="blip" and (blop=~"boop" or fuzz == 5))',
        ),
    ],
)
def test_grouping_is_lokis(filters: str, grouped: str) -> None:
    parsed = logql2sql.parse('{a="b"} | ' + filters)
    assert parsed == logql2sql.parse('{a="b"} | ' + grouped)


def test_comma_then_or_keeps_lines_as_loki_does() -> None:
    """`x="1", y="2" or z="3"` keeps a line with x=2, z=3 out (x and (y or z)); read as
    (x and y) or z it would be kept."""
    con = duckdb.connect()
    lines = ["x=1 y=2 z=0", "x=1 y=0 z=3", "x=2 y=0 z=3", "x=1 y=0 z=0"]
    entries = [[str((i + 1) * S), line, {}] for i, line in enumerate(lines)]
    load_fixture(con, [{"labels": {"a": "b"}, "entries": entries}])
    query = '{a="b"} | logfmt | x="1", y="2" or z="3"'
    sql = logql2sql.translate(query, start=0, end=60 * S, direction="forward", limit=10)
    assert [row[1] for row in con.execute(sql).fetchall()] == lines[:2]
