"""Duration labels in SQL against Go's `time.ParseDuration` and `Duration.Seconds`.

The reference is `lexical.parse_duration(..., syntax="go")` (Go's parser, fractions by
Go's float product) and Go's `Seconds()` written out below.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from logql2sql import durations
from logql2sql.errors import ParseError
from logql2sql.lexical import go_fraction_ns, parse_duration

_CON = duckdb.connect()
_SQL = (
    f"SELECT v, {durations.seconds(exp.column('v')).sql('duckdb')}, "
    f"{durations.nanoseconds(exp.column('v')).sql('duckdb')} FROM (SELECT UNNEST(?) AS v)"
)


def go(text: str) -> tuple[float, int] | None:
    """(Seconds(), nanoseconds) as Go computes them; None when Go refuses the text."""
    try:
        d = parse_duration(text, syntax="go")
    except ParseError:
        return None
    sign = -1 if d < 0 else 1
    sec, nsec = divmod(abs(d), 10**9)  # Go's / and % truncate towards zero
    return float(sign * sec) + float(sign * nsec) / 1e9, d


def sql_all(texts: list[str]) -> dict[str, tuple[float, int] | None]:
    """The SQL's (seconds, nanoseconds) of each text, all in one query."""
    out = {}
    for text, seconds, nanos in _CON.execute(_SQL, [texts]).fetchall():
        assert (seconds is None) == (nanos is None)
        out[text] = None if seconds is None else (seconds, nanos)
    return out


def sql(text: str) -> tuple[float, int] | None:
    return sql_all([text])[text]


@pytest.mark.parametrize(
    "text",
    [
        "988.209ms",  # the double nearest 988.209 / 1000 is not Go's 0.988209
        "12.3ms",
        "0.5337s",
        "1.1us",
        "-1.5s",
        "1h30m",
        "1m30.5s",
        ".5s",
        "5.s",
        "0",
        "-0",
        "+0",
        "-0s",
        "7ns",
        "5µs",
        "5μs",
        "9223372036854775807ns",
        "-9223372036854775808ns",
        "2562047h47m16.854775807s",
        "-2562047h47m16.854775808s",
        "0000000000000000000000000000000001ns",
        "123456789012ms",
    ],
)
def test_durations_read_as_go_reads_them(text):
    assert sql(text) == go(text)
    seconds = sql(text)[0]
    assert str(seconds) == str(go(text)[0])  # the sign of a zero too


@pytest.mark.parametrize(
    "text",
    [
        "9223372036854775808ns",  # one past int64
        "2562047h47m16.854775808s",
        "99999999999h",
        "1h-1s",
        "1d",
        "5",
        "5.",
        ".s",
        "",
        "ms",
        "1.5",
        " 1s",
    ],
)
def test_durations_go_refuses_are_null(text):
    assert go(text) is None
    assert sql(text) is None


_UNITS = st.sampled_from(["ns", "us", "µs", "μs", "ms", "s", "m", "h"])
_DIGITS = st.text("0123456789", max_size=20)
_PART = st.tuples(_DIGITS, st.one_of(st.none(), st.text("0123456789", max_size=18)), _UNITS).map(
    lambda p: p[0] + ("" if p[1] is None else "." + p[1]) + p[2]
)
_DURATION = st.tuples(st.sampled_from(["", "-", "+"]), st.lists(_PART, min_size=1, max_size=4)).map(
    lambda d: d[0] + "".join(d[1])
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_DURATION, min_size=1, max_size=40))
def test_generated_durations_match_go(texts):
    """Up to 18 fraction digits: beyond, Go may still count digits (after leading zeros)
    that the SQL drops, a difference below a billionth of a nanosecond per unit."""
    assert sql_all(texts) == {text: go(text) for text in texts}


def test_go_fraction_is_a_float_product():
    # Go truncates float64(f) * (float64(unit) / scale), not the exact quotient
    assert go_fraction_ns("5337", 10**9) == 533700000
    assert go_fraction_ns("209", 10**6) == 209000
    exact = [int(d) * 3600 * 10**9 // 10 ** len(d) for d in ("1", "33", "333333333")]
    assert [go_fraction_ns(d, 3600 * 10**9) for d in ("1", "33", "333333333")] == exact
