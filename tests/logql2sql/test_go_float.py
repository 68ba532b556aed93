"""Label values converted to numbers as Go's `strconv.ParseFloat` converts them, in numeric
label filters and `| unwrap`: `_` between digits, out-of-range decimals as errors (not
±Inf), and the error details Go words for each failure."""

from __future__ import annotations

import duckdb
import pytest

import logql2sql
from tests.logql2sql.engine_cases import load_fixture

S = 10**9


def _run(query: str, values: list[str], **bounds) -> list[tuple]:
    """`query` over one stream whose lines are `v=<value>`, one second apart."""
    con = duckdb.connect()
    entries = [[str((i + 1) * S), f"v={v}", {}] for i, v in enumerate(values)]
    load_fixture(con, [{"labels": {"app": "a"}, "entries": entries}])
    bounds = bounds or {"start": 0, "end": 60 * S, "direction": "forward", "limit": 100}
    return con.execute(logql2sql.translate(query, **bounds)).fetchall()


@pytest.mark.parametrize(
    ("value", "kept", "details"),
    [
        ("1_000", True, None),  # Go reads `_` between digits
        ("1.5e1_0", True, None),
        ("1e-400", False, None),  # underflows to 0: no error, 0 > 5 is false
        ("1e400", False, 'strconv.ParseFloat: parsing "1e400": value out of range'),
        ("-1e400", False, 'strconv.ParseFloat: parsing "-1e400": value out of range'),
        ("1__0", False, 'strconv.ParseFloat: parsing "1__0": invalid syntax'),
        ("_1", False, 'strconv.ParseFloat: parsing "_1": invalid syntax'),
        ("Inf", True, None),
        ("+infinity", True, None),
        ("nan", False, None),  # NaN compares false, without an error
    ],
)
def test_numeric_filter_parses_like_go(value: str, kept: bool, details: str | None) -> None:
    rows = _run('{app="a"} | logfmt | v > 5', [value])  # (ts, line, labels, fingerprint)
    assert [r[1] for r in rows if "__error__" not in r[2]] == ([f"v={value}"] if kept else [])
    errors = [r[2] for r in rows if "__error__" in r[2]]
    if details is None:
        assert errors == []
    else:
        assert errors == [
            {"app": "a", "v": value, "__error__": "LabelFilterErr", "__error_details__": details}
        ]


def _unwrap_sum(query: str, values: list[str]) -> list[tuple]:
    return _run(query, values, start=60 * S, end=60 * S)


def test_unwrap_reads_underscores_and_fails_out_of_range_with_gos_words() -> None:
    query = 'sum_over_time({app="a"} | logfmt | unwrap v | __error__="" [1m])'
    assert [r[2] for r in _unwrap_sum(query, ["1_0", "1e400", "2"])] == [12.0]
    unfiltered = 'sum_over_time({app="a"} | logfmt | unwrap v [1m])'
    with pytest.raises(duckdb.Error) as info:
        _unwrap_sum(unfiltered, ["1e400"])
    assert '__error_details__="strconv.ParseFloat: parsing \\"1e400\\": value out of range"' in (
        str(info.value)
    )
