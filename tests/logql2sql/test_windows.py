"""Range aggregations computed per step from every sample of the window (`quantile`,
`stdvar`, `absent_over_time`), against Python references.

Each sample joins the steps whose window `(t - offset - range, t - offset]` holds it by
arithmetic (`Lowerer.in_windows`), not by a join of steps with samples: these tests pin the
edges of that arithmetic (ranges that are not a multiple of the step, steps longer than
the range, offsets, the first and last step, instant queries), on both the general
lowering (no grouping) and the logfmt one (`by (...)`).
"""

from __future__ import annotations

import math

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

import logql2sql
from tests.logql2sql.engine_cases import load_fixture, values_close

S = 10**9


def _run(query: str, streams: list[dict], start: int, end: int, step: int) -> dict:
    con = duckdb.connect()
    load_fixture(con, streams)
    sql = logql2sql.translate(query, start=start, end=end, step=step)
    rows = con.execute(sql).fetchall()
    con.close()
    return {(t, tuple(sorted(dict(lbls).items()))): v for t, lbls, v in rows}


def _quantile(q: float, values: list[float]) -> float:
    """Prometheus' `quantile` (rank `q * (n - 1)`, linear interpolation)."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    weight = rank - low
    return ordered[low] * (1 - weight) + ordered[high] * weight


def _stdvar(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def _expected(streams, times, range_ns, offset_ns, by, aggregate) -> dict:
    """{(t, labels): aggregate of the window's values} per series (`by` names, or every
    stream label)."""
    out: dict[tuple, float] = {}
    for t in times:
        lo, hi = t - offset_ns - range_ns, t - offset_ns
        windows: dict[tuple, list[float]] = {}
        for s in streams:
            key = tuple(sorted((k, v) for k, v in s["labels"].items() if by is None or k in by))
            for ts, line, _meta in s["entries"]:
                if lo < int(ts) <= hi:
                    windows.setdefault(key, []).append(float(line.split("=")[1]))
        for key, values in windows.items():
            out[(t, key)] = aggregate(values)
    return out


def _streams(draw: list[list[tuple[int, int]]]) -> list[dict]:
    return [
        {
            "labels": {"app": f"a{i % 2}", "pod": f"p{i}"},
            "entries": [[str(ts), f"v={v}", {}] for ts, v in sorted(dict(samples).items())],
        }
        for i, samples in enumerate(draw)
    ]


samples = st.lists(
    st.lists(st.tuples(st.integers(0, 600 * S), st.integers(-50, 50)), min_size=1, max_size=25),
    min_size=1,
    max_size=3,
)


@settings(max_examples=40, deadline=None)
@given(
    samples,
    st.sampled_from([10, 30, 60, 45, 7]),
    st.sampled_from([10, 60, 90, 13]),
    st.sampled_from([0, 5, 30]),
    st.integers(0, 300),
    st.integers(0, 300),
    st.sampled_from(["quantile", "stdvar"]),
    st.sampled_from([None, ("app",)]),
)
def test_windows_match_a_direct_evaluation(draw, step_s, range_s, offset_s, a, b, op, by):
    streams = _streams(draw)
    start, end, step = min(a, b) * S, max(a, b) * S, step_s * S
    grouping = "" if by is None else f" by ({', '.join(by)})"
    selector = f'{{app=~"a.*"}} | logfmt | unwrap v [{range_s}s] offset {offset_s}s'
    if op == "quantile":
        query = f"quantile_over_time(0.75, {selector}){grouping}"
        aggregate = lambda values: _quantile(0.75, values)  # noqa: E731
    else:
        query = f"stdvar_over_time({selector}){grouping}"
        aggregate = _stdvar
    got = _run(query, streams, start, end, step)
    by_names = None if by is None else set(by)
    times = range(start, end + 1, step)
    want = _expected(streams, times, range_s * S, offset_s * S, by_names, aggregate)
    assert got.keys() == want.keys()
    assert all(values_close(got[k], want[k]) for k in want)


@settings(max_examples=20, deadline=None)
@given(
    samples, st.integers(1, 300), st.sampled_from([10, 60, 7]), st.sampled_from([None, ("pod",)])
)
def test_instant_queries_read_one_window(draw, at, range_s, by):
    streams = _streams(draw)
    grouping = "" if by is None else " by (pod)"
    query = f'quantile_over_time(0.5, {{app=~".+"}} | logfmt | unwrap v [{range_s}s]){grouping}'
    got = _run(query, streams, at * S, at * S, 0)
    by_names = None if by is None else set(by)
    want = _expected(streams, [at * S], range_s * S, 0, by_names, lambda v: _quantile(0.5, v))
    assert got.keys() == want.keys()
    assert all(values_close(got[k], want[k]) for k in want)


@settings(max_examples=30, deadline=None)
@given(
    samples,
    st.sampled_from([10, 60, 45]),
    st.sampled_from([10, 60, 13]),
    st.sampled_from([0, 30]),
    st.integers(0, 300),
    st.integers(0, 300),
)
def test_absent_steps_are_the_steps_without_samples(draw, step_s, range_s, offset_s, a, b):
    streams = _streams(draw)
    start, end, step = min(a, b) * S, max(a, b) * S, step_s * S
    query = f'absent_over_time({{app="a0"}}[{range_s}s] offset {offset_s}s)'
    got = _run(query, streams, start, end, step)
    held = [int(ts) for s in streams if s["labels"]["app"] == "a0" for ts, *_ in s["entries"]]
    lo_of = lambda t: t - offset_s * S - range_s * S  # noqa: E731
    want = {
        (t, (("app", "a0"),)): 1.0
        for t in range(start, end + 1, step)
        if not any(lo_of(t) < ts <= t - offset_s * S for ts in held)
    }
    assert got == want
