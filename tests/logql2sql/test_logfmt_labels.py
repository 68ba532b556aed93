"""Labels read by `logfmt_labels` equal the general logfmt lowering's, line by line.

The general lowering (every pair parsed into lists and merged into a label map) is the
reference: it is what every other query shape runs and what the engine corpus checks. A
`| drop` of a name no line holds keeps a query on the general path without changing it.
"""

from __future__ import annotations

import duckdb
from hypothesis import example, given, settings
from hypothesis import strategies as st

import logql2sql
from tests.logql2sql.engine_cases import load_fixture, takes_logfmt_path, values_close

S = 10**9

# Small pieces that make quoting, escapes, `=` runs, clashes and sanitised keys likely.
_PIECES = [
    "level",
    "level=",
    "lvl",
    "a-b",
    "a_b",
    "a.b",
    "=",
    '"',
    '\\"',
    "\\",
    " ",
    "  ",
    "\t",
    "info",
    "err",
    "x",
    "error",
    "error__",
    '"q w"',
    "msg=",
    "1a",
    "é",
]
lines = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


def _series(query: str, streams: list[dict]) -> dict[tuple, float]:
    con = duckdb.connect()
    load_fixture(con, streams)
    sql = logql2sql.translate(query, start=60 * S, end=120 * S, step=30 * S)
    return {(t, tuple(sorted(dict(lbls).items()))): v for t, lbls, v in con.execute(sql).fetchall()}


def _outcome(query: str, streams: list[dict]):
    try:
        return _series(query, streams)
    except duckdb.Error as error:
        return ("error", str(error).split("\n")[0])


def _check(grouping: str, pipeline: str, streams: list[dict]) -> None:
    fast = f'sum{grouping} (count_over_time({{app="a"}} {pipeline} [1m]))'
    general = f'sum{grouping} (count_over_time({{app="a"}} {pipeline} | drop no_such_label [1m]))'
    assert takes_logfmt_path(fast)
    assert not takes_logfmt_path(general)
    got, want = _outcome(fast, streams), _outcome(general, streams)
    if isinstance(want, tuple) or isinstance(got, tuple):
        assert got == want
    else:
        assert got.keys() == want.keys()
        assert all(values_close(got[k], want[k]) for k in want)


def _streams(texts: list[str], meta: dict | None = None, extra: dict | None = None):
    entries = [[str((61 + i) * S), text, meta or {}] for i, text in enumerate(texts)]
    return [{"labels": {"app": "a", **(extra or {})}, "entries": entries}]


@settings(max_examples=50, deadline=None)
@given(st.lists(lines, min_size=1, max_size=8), st.sampled_from(["level", "a_b", "lvl"]))
@example(['msg="a level=bad" level=good'], "level")
@example(['msg="a level=bad"'], "level")
@example(["level level=x"], "level")
@example(['xlevel=1 level="q\\" w" z'], "level")
@example(['a="oops level=x'], "level")
@example(['level=a"b level=c'], "level")
@example(["==level=a=b"], "level")
@example(["a.b=1 a-b=2"], "a_b")
@example(["level= level=x", 'level="" a level level=y', 'msg="q" level= level=z'], "level")
def test_one_label_by_regex_equals_the_general_parse(texts, name):
    _check(f" by ({name})", "| logfmt", _streams(texts))


@settings(max_examples=25, deadline=None)
@given(st.lists(lines, min_size=1, max_size=6))
@example(["error__=boom level=x"])
def test_errors_and_filters_agree(texts):
    streams = _streams(texts)
    _check(" by (level)", '| logfmt | level!="info"', streams)
    _check("", "| logfmt", streams)
    _check(" by (level)", '|= "l" | logfmt | __error__=""', streams)


@settings(max_examples=20, deadline=None)
@given(st.lists(lines, min_size=1, max_size=6))
def test_stream_labels_and_metadata_take_precedence(texts):
    _check(" by (level)", "| logfmt", _streams(texts, extra={"level": "stream"}))
    _check(" by (level, lvl)", "| logfmt", _streams(texts, meta={"level": "meta", "lvl": "m"}))


_CONVERTED = [
    "level=info",
    "level=warn",
    "took=1s",
    "took=250ms",
    "took=1.5h",
    "took=bad",
    "took=",
    "status=500",
    "status=200",
    "status=5e2",
    "status=x",
    "size=10KB",
    "size=3",
    "size=oops",
    'msg="a took=9s"',
    "took",
]
converted = st.lists(st.sampled_from(_CONVERTED), max_size=6).map(" ".join)


@settings(max_examples=25, deadline=None)
@given(st.lists(converted, min_size=1, max_size=6))
@example(["level=info took=bad", "level=warn took=2s"])
@example(["status=x took=1s", "status=500"])
@example(["took= took=2s", 'took="" level=info took=1h'])
def test_converting_filters_agree(texts):
    """Numeric, duration and bytes filters on the logfmt path: the lines they keep, the
    `LabelFilterErr` they set (first one wins, string filters read it, a query that keeps
    it fails with the general path's words) as the general lowering has them."""
    streams = _streams(texts, extra={"pod": "p"})
    _check(" by (level)", "| logfmt | took > 1s", streams)
    _check(" by (level)", '| logfmt | took >= 250ms | __error__=""', streams)
    _check("", '| logfmt | status >= 500 | size < 5KB | __error__!="x"', streams)
    _check(" by (level)", '| logfmt | status == 500 | __error__="" | level="info"', streams)
    _check(" by (pod)", "| logfmt | size > 1KB", streams)
    _check(" by (level)", '| logfmt | took < 1h | __error_details__=""', streams)
