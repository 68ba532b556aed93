"""Range aggregations by time cell and `sum` folded into them, against Python references.

The expected values are computed here from the entries themselves: a window `(t - offset -
range, t - offset]` per step `t`, the series' entries counted or summed in it.
"""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

import logql2sql
from tests.logql2sql.engine_cases import load_fixture, values_close

S = 10**9


def _run(query: str, streams: list[dict], start: int, end: int, step: int) -> list[tuple]:
    con = duckdb.connect()
    load_fixture(con, streams)
    return con.execute(logql2sql.translate(query, start=start, end=end, step=step)).fetchall()


def _expected(streams, start, end, step, range_ns, offset_ns, by, value):
    """{(t, labels tuple): value} summed over the streams' entries in each window."""
    out: dict[tuple, float] = {}
    times = [start] if step == 0 else range(start, end + 1, step)
    for t in times:
        lo, hi = t - offset_ns - range_ns, t - offset_ns
        for s in streams:
            key = tuple(sorted((k, v) for k, v in s["labels"].items() if by is None or k in by))
            for ts, line, *_ in s["entries"]:
                if lo < int(ts) <= hi:
                    out[(t, key)] = out.get((t, key), 0.0) + value(line)
    return out


def _streams(draw_ts: list[list[int]]) -> list[dict]:
    return [
        {
            "labels": {"app": f"a{i % 2}", "pod": f"p{i}"},
            "entries": [[str(ts), "x" * (1 + ts % 7), {}] for ts in sorted(set(tss))],
        }
        for i, tss in enumerate(draw_ts)
    ]


entries = st.lists(
    st.lists(st.integers(0, 600 * S), min_size=1, max_size=30), min_size=1, max_size=4
)


@settings(max_examples=60, deadline=None)
@given(
    entries,
    st.sampled_from([10, 30, 60, 45, 7]),
    st.sampled_from([10, 60, 90, 120, 13]),
    st.sampled_from([0, 5, 30]),
    st.integers(0, 300),
    st.integers(0, 300),
    st.sampled_from(["count_over_time", "bytes_over_time", "rate", "bytes_rate"]),
    st.sampled_from([None, ("app",), ()]),
)
def test_bucketed_windows_match_a_direct_count(tss, step_s, range_s, offset_s, a, b, op, by):
    streams = _streams(tss)
    start, end = min(a, b) * S, max(a, b) * S
    step = step_s * S
    inner = f'{op}({{app=~"a.*"}}[{range_s}s] offset {offset_s}s)'
    if by is None:
        query = inner
    else:
        query = f"sum by ({', '.join(by)}) ({inner})" if by else f"sum({inner})"
    rows = _run(query, streams, start, end, step)
    seconds = range_s if op in ("rate", "bytes_rate") else 1
    size = op.startswith("bytes")
    labels = None if by is None else set(by)
    want = _expected(
        streams,
        start,
        end,
        step,
        range_s * S,
        offset_s * S,
        labels,
        lambda line: (len(line) if size else 1) / seconds,
    )
    got = {(t, tuple(sorted(dict(lbls).items()))): v for t, lbls, v in rows}
    assert got.keys() == want.keys()
    assert all(values_close(got[k], want[k]) for k in want)


@settings(max_examples=30, deadline=None)
@given(entries, st.integers(1, 300), st.sampled_from([10, 60, 7]))
def test_instant_queries_read_one_window(tss, at, range_s):
    streams = _streams(tss)
    rows = _run(
        f'sum by (pod) (count_over_time({{app=~".+"}}[{range_s}s]))', streams, at * S, at * S, 0
    )
    want = _expected(streams, at * S, at * S, 0, range_s * S, 0, {"pod"}, lambda line: 1.0)
    assert {(t, tuple(sorted(dict(lbls).items()))): v for t, lbls, v in rows} == want


def test_series_of_equal_labels_from_different_metadata_merge():
    """Two streams whose labels plus structured metadata are equal form one series."""
    streams = [
        {"labels": {"app": "a", "pod": "p"}, "entries": [[str(10 * S), "l", {}]]},
        {"labels": {"app": "a"}, "entries": [[str(20 * S), "l", {"pod": "p"}]]},
    ]
    rows = _run('count_over_time({app="a"}[1m])', streams, 60 * S, 60 * S, 0)
    assert [(dict(r[1]), r[2]) for r in rows] == [({"app": "a", "pod": "p"}, 2.0)]


def test_an_error_label_in_structured_metadata_still_fails_the_query():
    streams = [{"labels": {"app": "a"}, "entries": [[str(10 * S), "l", {"__error__": "E"}]]}]
    try:
        _run('rate({app="a"}[1m])', streams, 60 * S, 60 * S, 0)
    except duckdb.Error as error:
        assert "pipeline error: 'E' for series: '{__error__=\"E\", app=\"a\"}'" in str(error)
    else:
        raise AssertionError("the query did not fail")
