"""Unwrapped samples read by `logfmt_labels`/`unwrap_values` equal the general lowering's.

The general lowering (every logfmt pair merged into a label map, the unwrapped label
converted by the general forms) is the reference, as in `test_logfmt_labels`: a `| drop`
of a name no line holds keeps a query on the general path without changing its meaning.
Values are compared as Loki's tests compare them; a failing query must fail with the same
first line of Loki's error text (the series it names included).
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import logql2sql
from tests.logql2sql.engine_cases import load_fixture, takes_logfmt_path, values_close

S = 10**9

# Pieces that make durations of every form, conversion failures, quotes and clashes likely.
# No `__error__=` key: under grouping Loki ignores it where the general lowering fails the
# query (`test_grouped_samples_drop_error_labels`).
_PIECES = [
    " ",
    "level=info",
    "level=warn",
    "level=",
    "duration=12.3ms",
    "duration=2s",
    "duration=1h30m",
    "duration=.5m",
    "duration=7ns",
    "duration=5µs",
    "duration=-3s",
    "duration=0",
    "duration=12",
    "duration=bad",
    "duration=",
    'duration="4s"',
    "duration",
    "size=10KB",
    "size=3",
    "size=x",
    "lat=1.5",
    "lat=NaN",
    "lat=1e3",
    "lat=",
    'msg="a duration=9s"',
    '"',
    "app=other",
]
lines = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join)
spaced = st.lists(st.sampled_from(_PIECES), max_size=8).map(" ".join)


def _outcome(query: str, streams: list[dict], streams_relation: str | None):
    con = duckdb.connect()
    load_fixture(con, streams)
    sql = logql2sql.translate(
        query, start=60 * S, end=150 * S, step=30 * S, streams=streams_relation
    )
    try:
        rows = con.execute(sql).fetchall()
    except duckdb.Error as error:
        return ("error", str(error).split("\n")[0])
    finally:
        con.close()
    return {(t, tuple(sorted(dict(lbls).items()))): v for t, lbls, v in rows}


def _check(query: str, streams: list[dict], whole_error: bool = False) -> None:
    """`query` (a format string with `{tail}` where the general path's `| drop` goes,
    before the unwrap) gives the same outcome on both paths, with and without a streams
    relation. Errors compare by their kind unless `whole_error` (when several entries fail,
    any of them may be reported first: the exact texts are checked with one failing entry)."""
    fast, general = query.format(tail=""), query.format(tail=" | drop no_such_label")
    assert takes_logfmt_path(fast)
    assert not takes_logfmt_path(general)
    for relation in (None, "streams"):
        got = _outcome(fast, streams, relation)
        want = _outcome(general, streams, relation)
        if isinstance(want, tuple) or isinstance(got, tuple):
            if not whole_error:
                got, want = (_kind(o) for o in (got, want))
            assert got == want
        else:
            assert got.keys() == want.keys()
            assert all(values_close(got[k], want[k]) for k in want), (got, want)


def _kind(outcome):
    """An error outcome as its kind of error alone (a pipeline error or another)."""
    if not isinstance(outcome, tuple):
        return outcome
    return outcome[1].split(": '")[0]


def _streams(texts: list[str], extra: dict | None = None) -> list[dict]:
    entries = [[str((31 + 7 * i) * S), text, {}] for i, text in enumerate(texts)]
    return [{"labels": {"app": "a", **(extra or {})}, "entries": entries}]


_QUANTILE = (
    'quantile_over_time(0.9, {{app="a"}} | logfmt{tail} | unwrap duration(duration) [1m])'
    " by (level)"
)


@settings(max_examples=15, deadline=None)
@given(st.lists(spaced, min_size=1, max_size=10))
@example(["duration=12.3ms level=info", "duration=2s level=info", "duration=bad"])
@example(["duration=1h30m", "duration=5µs", "duration=-3s"])
@example(['msg="a duration=9s" duration=1s', 'duration=1s bad="x'])
def test_quantile_of_durations(texts):
    _check(_QUANTILE, _streams(texts))


@settings(max_examples=10, deadline=None)
@given(st.lists(spaced, min_size=1, max_size=10))
@example(["duration=bad level=info", "duration=1s level=warn"])
def test_error_filters_after_unwrap(texts):
    streams = _streams(texts)
    _check(
        'stddev_over_time({{app="a"}} | logfmt | level!="warn"{tail} | unwrap duration_seconds('
        'duration) | __error__="" [1m]) by (level)',
        streams,
    )
    _check(
        'stdvar_over_time({{app="a"}} |= "size" | logfmt{tail} | unwrap bytes(size) [1m]) by ()',
        streams,
    )


@settings(max_examples=10, deadline=None)
@given(st.lists(lines, min_size=1, max_size=8))
@example(["lat=1.5 level=info", "lat=x"])
def test_decomposable_and_summed_unwraps(texts):
    streams = _streams(texts)
    _check('avg_over_time({{app="a"}} | logfmt{tail} | unwrap lat [1m]) by (level, app)', streams)
    _check('sum by (level) (sum_over_time({{app="a"}} | logfmt{tail} | unwrap lat [1m]))', streams)
    _check('max_over_time({{app="a"}} | logfmt{tail} | unwrap lat [1m]) by (level)', streams)
    _check('sum(sum_over_time({{app="a"}} | logfmt{tail} | unwrap lat [1m]))', streams)
    # a converting filter before the unwrap: the unwrap's SampleExtractionErr replaces its
    # LabelFilterErr where the value does not convert
    _check(
        'sum by (level) (sum_over_time({{app="a"}} | logfmt | duration > 10ms{tail}'
        " | unwrap lat [1m]))",
        streams,
    )
    _check(
        'quantile_over_time(0.5, {{app="a"}} | logfmt | size <= 8KB{tail}'
        ' | unwrap duration(duration) | __error__="" [1m]) by (level)',
        streams,
    )


@pytest.mark.parametrize(
    "texts",
    [["lat=1 level=info", "lat=oops level=info"], ["app=b lat=x", "lat=3"]],
    ids=["unwrap-error", "stream-label-clash"],
)
def test_error_messages_name_the_series(texts):
    """The failing query names the series as the general path does: with its
    `__error__`/`__error_details__` labels and without the unwrapped one."""
    streams = _streams(texts, extra={"pod": "p"})
    summed = 'sum by (app) (sum_over_time({{app="a"}} | logfmt{tail} | unwrap lat [1m]))'
    _check(summed, streams, whole_error=True)
    grouped = 'quantile_over_time(0.5, {{app="a"}} | logfmt{tail} | unwrap lat [1m]) by (pod)'
    _check(grouped, streams)  # the texts differ: see the next test


def test_grouped_samples_drop_error_labels():
    """Loki checks for pipeline errors on a sample's labels after grouping
    (`LabelsBuilder.GroupedLabels`): when the extractor has the grouping (a range
    aggregation's own, or a `sum`'s pushed into count/rate/bytes/sum), an `__error__` that
    is only a label (a line's key sanitised to it) is grouped away, while structured
    metadata's `__error__` is the error state (`LabelsBuilder.Add`) and fails the query."""
    entries = [
        [str(31 * S), "level=info", {}],
        [str(38 * S), "__error__=boom level=warn", {}],
        [str(45 * S), "..error..=x level=warn", {}],
    ]
    streams = [{"labels": {"app": "a"}, "entries": entries}]
    # windows (t - 1m, t] at t = 60, 90, 120, 150 s: the entries fall in the first two
    counts = {"info": 1.0, "warn": 2.0}
    want = {(t * S, (("level", lv),)): n for t in (60, 90) for lv, n in counts.items()}
    summed = 'sum by (level) (count_over_time({app="a"} | logfmt [1m]))'
    bytes_by_level = 'sum by (level) (bytes_over_time({app="a"} | logfmt [1m]))'
    grouped = 'max_over_time({app="a"} | logfmt | unwrap lat [1m]) by (level)'
    lat = [{"labels": {"app": "a"}, "entries": [[str(31 * S), "__error__=b lat=2", {}]]}]
    metadata = [*entries, [str(50 * S), "x", {"__error__": "m"}]]
    for relation in (None, "streams"):
        assert _outcome(summed, streams, relation) == want
        no_errors = summed.replace("logfmt", 'logfmt | __error__=""')  # it reads the state
        assert _outcome(no_errors, streams, relation) == want
        assert set(_outcome(bytes_by_level, streams, relation)) == set(want)
        assert _outcome(grouped, lat, relation) == {(t * S, ()): 2.0 for t in (60, 90)}
        failed = _outcome(summed, [{"labels": {"app": "a"}, "entries": metadata}], relation)
        assert failed[1].startswith("Invalid Input Error: pipeline error: 'm' for series:")


@pytest.mark.parametrize(
    ("texts", "error", "details"),
    [
        (
            ["lat=x dur=zz"],
            "SampleExtractionErr",
            'strconv.ParseFloat: parsing \\"x\\": invalid syntax',
        ),
        (["lat=3 dur=zz"], "LabelFilterErr", 'time: invalid duration \\"zz\\"'),
    ],
    ids=["unwrap-error-replaces-filter-error", "filter-error-stays"],
)
def test_unwrap_error_replaces_an_earlier_error(texts, error, details):
    """Loki's extractor sets `SampleExtractionErr` and the conversion's own error text as
    details whenever the value does not convert, over an error an earlier stage set."""
    query = 'sum by (app) (sum_over_time({{app="a"}} | logfmt | dur > 1s{tail} | unwrap lat [1m]))'
    for path in (query.format(tail=""), query.format(tail=" | drop no_such_label")):
        outcome = _outcome(path, _streams(texts), None)
        assert outcome[1].startswith(
            f"Invalid Input Error: pipeline error: '{error}' for series: '{{__error__=\"{error}\", "
            f'__error_details__="{details}", '
        ), outcome


@pytest.mark.parametrize(
    ("conversion", "text", "details"),
    [
        ("duration", "1d", 'time: unknown unit \\"d\\" in duration \\"1d\\"'),
        ("duration_seconds", "12", 'time: missing unit in duration \\"12\\"'),
        ("duration", "99999999999h", 'time: invalid duration \\"99999999999h\\"'),
        ("bytes", "3XB", "unhandled size name: xb"),
        ("bytes", "KB", 'strconv.ParseFloat: parsing \\"\\": invalid syntax'),
    ],
)
def test_unwrap_error_details_are_gos_conversion_errors(conversion, text, details):
    query = f'sum(sum_over_time({{{{app="a"}}}} | logfmt{{tail}} | unwrap {conversion}(v) [1m]))'
    for path in (query.format(tail=""), query.format(tail=" | drop no_such_label")):
        outcome = _outcome(path, _streams([f"v={text}"]), None)
        assert f'__error_details__="{details}"' in outcome[1], outcome


@pytest.mark.parametrize("relation", [None, "streams"])
def test_a_grouped_error_names_every_label_of_the_entry(relation):
    """Once the error state is set, Loki's `GroupedLabels` returns all labels: the message
    names the entry's series, not its group (range aggregations `by (…)` included). The
    logfmt path names the group of a range aggregation's own `by (…)` (a known difference,
    kept for speed: see `Lowerer.logfmt_samples`)."""
    streams = _streams(["lat=x level=info code=7"], extra={"pod": "p"})
    series = (
        '{__error__="SampleExtractionErr", __error_details__="strconv.ParseFloat: parsing '
        '\\"x\\": invalid syntax", app="a", code="7", level="info", pod="p"}'
    )
    query = 'max_over_time({{app="a"}} | logfmt{tail} | unwrap lat [1m]) by (level)'
    prefix = "Invalid Input Error: pipeline error: 'SampleExtractionErr' for series: "
    general = _outcome(query.format(tail=" | drop no_such_label"), streams, relation)
    assert general[1].startswith(f"{prefix}'{series}'"), general
    fast = _outcome(query.format(tail=""), streams, relation)
    assert fast[1].startswith(prefix + "'{level=\"info\"}'"), fast
    summed = 'sum by (level) (sum_over_time({{app="a"}} | logfmt{tail} | unwrap lat [1m]))'
    for path in (summed.format(tail=""), summed.format(tail=" | drop no_such_label")):
        outcome = _outcome(path, streams, relation)
        assert outcome[1].startswith(f"{prefix}'{series}'"), outcome
