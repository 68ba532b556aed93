"""Duration labels in SQL against Go's `time.ParseDuration` and `Duration.Seconds`.

The reference is `lexical.parse_duration(..., syntax="go")` (Go's parser, fractions by
Go's float product) and Go's `Seconds()` written out below. Both SQL forms are checked:
the general one every dialect gets, and DuckDB's unwrap, which reads one-unit texts as
decimals.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlglot import exp

import logql2sql
from logql2sql import durations
from logql2sql.errors import ParseError
from logql2sql.lexical import go_fraction_ns, parse_duration
from tests.logql2sql.engine_cases import load_fixture

_CON = duckdb.connect()
_V, _N, _STEP = exp.column("v"), exp.column("n"), exp.column("st")
_SQL = (
    f"SELECT v, n, {durations.seconds(_N, 'duckdb').sql('duckdb')},"
    f" {durations.unwrap_seconds(_STEP, _V, 'duckdb').sql('duckdb')}"
    f" FROM (SELECT v, {durations.nanoseconds(_V).sql('duckdb')} AS n,"
    f" {durations.unwrap_step(_V, 'duckdb').sql('duckdb')} AS st"
    " FROM (SELECT UNNEST(?) AS v))"
)
S = 10**9


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
    """The SQL's (seconds, nanoseconds) of each text, all in one query; DuckDB's two-step
    seconds (one-unit texts as decimals) must equal the general form's, bit for bit."""
    out = {}
    for text, nanos, seconds, unwrapped in _CON.execute(_SQL, [texts]).fetchall():
        assert str(unwrapped) == str(seconds), text
        out[text] = None if nanos is None else (seconds, nanos)
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
        "999999h",
        "1000000h",  # 7 whole digits: the general form
        "99999h",
        "99999.999999999h",
        "12.3456789ms",  # past a nanosecond: the general form
        "5.ns",
        ".5ms",
        "9223372036854775807ns",
        "-9223372036854775808ns",
        "2562047h47m16.854775807s",
        "-2562047h47m16.854775808s",
        "0000000000000000000000000000000001ns",
        "123456789012ms",
        "1.1234567890123456789h",  # Go reads a 19th fraction digit while it fits
        "1.9223372036854775809h",  # and not this one
        "0.000000000000000000001h",
    ],
)
def test_durations_read_as_go_reads_them(text):
    got, want = sql(text), go(text)
    assert got == want
    assert str(got[0]) == str(want[0])  # the sign of a zero too


@pytest.mark.parametrize(
    "text",
    [
        "9223372036854775808ns",  # one past int64
        "2562047h47m16.854775808s",
        "99999999999h",
        "99999999999999999999999999999999999999999ns",
        "1h-1s",
        "1d",
        "5",
        "5.",
        ".s",
        "",
        "ms",
        "1.5",
        " 1s",
        "1hm",
        "00",
    ],
)
def test_durations_go_refuses_are_null(text):
    assert go(text) is None
    assert sql(text) is None


_UNITS = st.sampled_from(["ns", "us", "µs", "μs", "ms", "s", "m", "h"])
_DIGITS = st.text("0123456789", max_size=21)
_PART = st.tuples(_DIGITS, st.one_of(st.none(), st.text("0123456789", max_size=21)), _UNITS).map(
    lambda p: p[0] + ("" if p[1] is None else "." + p[1]) + p[2]
)
_DURATION = st.tuples(st.sampled_from(["", "-", "+"]), st.lists(_PART, min_size=1, max_size=4)).map(
    lambda d: d[0] + "".join(d[1])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_DURATION, min_size=1, max_size=40))
@example(["1.5h", "2562047h", "2562048h", "1.00000000000000000001s"])
def test_generated_durations_match_go(texts):
    assert sql_all(texts) == {text: go(text) for text in texts}


_ONE_UNIT = st.tuples(
    st.text("0123456789", max_size=6),
    st.one_of(st.none(), st.text("0123456789", max_size=10)),
    _UNITS,
).map(lambda p: p[0] + ("" if p[1] is None else "." + p[1]) + p[2])


@settings(max_examples=60, deadline=None)
@given(st.lists(_ONE_UNIT, min_size=1, max_size=60))
@example(["0.000001ms", "99999.999999999m", "1.000000001s", "7.ns", ".000000001s"])
def test_one_unit_durations_match_go(texts):
    """The texts DuckDB's unwrap reads as decimals, and their neighbours."""
    assert sql_all(texts) == {text: go(text) for text in texts}


def test_go_fraction_is_a_float_product():
    # Go truncates float64(f) * (float64(unit) / scale), not the exact quotient
    assert go_fraction_ns("5337", 10**9) == 533700000
    assert go_fraction_ns("209", 10**6) == 209000
    exact = [int(d) * 3600 * 10**9 // 10 ** len(d) for d in ("1", "33", "333333333")]
    assert [go_fraction_ns(d, 3600 * 10**9) for d in ("1", "33", "333333333")] == exact


def _values(query: str, texts: list[str]) -> list[float]:
    """The instant query's values over one stream whose lines are `took=<text>`."""
    streams = [
        {
            "labels": {"app": "a"},
            "entries": [[str((10 + i) * S), f"took={t}", {}] for i, t in enumerate(texts)],
        }
    ]
    con = duckdb.connect()
    load_fixture(con, streams)
    sql = logql2sql.translate(query, start=60 * S, end=60 * S, step=0)
    return sorted(v for _, _, v in con.execute(sql).fetchall())


@pytest.mark.parametrize(
    "query",
    [
        # the logfmt fast path and the general pipeline (`| drop` keeps it general)
        'max_over_time({app="a"} | logfmt | unwrap duration(took) [1m]) by (app)',
        'max_over_time({app="a"} | logfmt | drop x | unwrap duration(took) [1m]) by (app)',
        'max_over_time({app="a"} | logfmt | unwrap duration_seconds(took) [1m]) by (app)',
    ],
)
def test_unwrapped_durations_are_go_seconds(query):
    assert _values(query, ["988.209ms"]) == [0.988209]
    assert _values(query, ["1h0.5s", "2562047h47m16.854775807s"]) == [
        go("2562047h47m16.854775807s")[0]
    ]


def test_duration_filters_compare_nanoseconds():
    """Past 2^53 ns, doubles of seconds tie where Go's int64 durations differ."""
    texts = ["2562047h47m16.854775807s", "2562047h47m16.854775806s", "oops"]
    query = (
        'sum(count_over_time({app="a"} | logfmt | took > 2562047h47m16.854775806s'
        ' | __error__="" [1m]))'
    )
    assert _values(query, texts) == [1.0]


def _filtered(texts: list[str], op: str, threshold: str) -> dict[str, str]:
    """The lines `took=<text>` a duration filter keeps, with their `__error__` label."""
    streams = [
        {
            "labels": {"app": "a"},
            "entries": [[str((10 + i) * S), f"took={t}", {}] for i, t in enumerate(texts)],
        }
    ]
    con = duckdb.connect()
    load_fixture(con, streams)
    query = f'{{app="a"}} | logfmt | took {op} {threshold}'
    sql = logql2sql.translate(query, start=0, end=60 * S, limit=1000, direction="forward")
    rows = con.execute(sql).fetchall()  # ts, line, labels, fingerprint
    return {line[5:]: dict(labels).get("__error__", "") for _, line, labels, _ in rows}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(_ONE_UNIT, _DURATION, st.sampled_from(["", "x", "1d", "5"])), max_size=12),
    st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
    st.sampled_from(["1.5s", "250ms", "0s", "1h2m3.000000004s", "2562047h47m16.854775806s"]),
)
@example(["1.5s", "1500ms", "1500000001ns", "1.4999999999s", "oops"], ">", "1.5s")
def test_duration_filters_keep_what_go_keeps(texts, op, threshold):
    """A line passes when Go's `time.Duration` of its value compares true, or when the value
    does not parse (it is kept, with `__error__="LabelFilterErr"`); an empty value is
    absent. One-unit texts take DuckDB's decimal comparison, the others the general form."""
    texts = list(dict.fromkeys(texts))  # one line per text
    bound = parse_duration(threshold, syntax="go")
    holds = {
        ">": bound.__lt__,
        ">=": bound.__le__,
        "<": bound.__gt__,
        "<=": bound.__ge__,
        "==": bound.__eq__,
        "!=": bound.__ne__,
    }[op]
    want = {}
    for text in texts:
        parsed = go(text)
        if text == "":
            continue
        if parsed is None:
            want[text] = "LabelFilterErr"
        elif holds(parsed[1]):
            want[text] = ""
    assert _filtered(texts, op, threshold) == want
