"""The emitted `clickhouse` SQL, run on a real ClickHouse engine (chDB, in process).

A representative subset of Loki's engine cases (`cases/clickhouse_cases.txt`): each case's
streams are written as a Parquet file with the entry schema and read by ClickHouse's `file()`
table function as the `logs` view; the rows of the ClickHouse SQL are compared with Loki's
expectation, as the DuckDB engine-case test does. Regexes are checked on ClickHouse against
RE2's answers (as Go reads them), and constructs without a ClickHouse form must raise
`UnsupportedInDialect`. Skipped when chdb is absent. chDB runs in this process: no network.

`python -m tests.logql2sql.test_clickhouse --all` runs every engine case on chDB and prints
the pass rate per source file (not a test: it takes minutes); `--streams` has the SQL read
stream labels from a `streams` view, as the executor binds it; `-v` lists the cases that
do not pass.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

import logql2sql
from logql2sql import clickhouse as clickhouse_lowering
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.sqlbuild import fn, lit
from tests.logql2sql.engine_cases import (
    case_bounds,
    case_id,
    compare_rows,
    load_cases,
    write_fixture,
)

chdb_session = pytest.importorskip("chdb.session", reason="chdb not installed")

LISTED = [
    line.split("\t")
    for line in (Path(__file__).parent / "cases" / "clickhouse_cases.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
CASES = {case_id(c): c for c in load_cases()}


class ClickHouseError(Exception):
    """An error ClickHouse raised for a query (chDB raises plain `RuntimeError`s)."""


@pytest.fixture(scope="module")
def clickhouse():
    session = chdb_session.Session()
    yield session
    session.close()


def query(session, sql: str) -> list[tuple]:
    """The rows of `sql` on ClickHouse, maps as lists of pairs; `ClickHouseError` on error."""
    try:
        table = session.query(sql, "ArrowStream")
    except RuntimeError as err:
        # chDB 4.4 answers the query after a failed one with the failed query's leftover
        # (empty) result: drain it, so that the next query reads its own rows.
        session.query("SELECT 1", "CSV")
        # A query error the SQL raises carries Loki's text (`clickhouse.raised_message`).
        raise ClickHouseError(clickhouse_lowering.raised_message(str(err)) or str(err)) from err
    arrow = pa.ipc.open_stream(table.bytes()).read_all() if table.bytes() else None
    if arrow is None:
        return []
    return [tuple(row.values()) for row in arrow.to_pylist()]


def run_on_clickhouse(session, tmp_path: Path, case: dict, streams: bool = False) -> list[tuple]:
    """The rows of a case's query, translated for ClickHouse and run over its streams; with
    `streams`, the SQL reads stream labels from a `streams` view, as the executor binds it
    (see `logql2sql.compile`)."""
    start, end, step = case_bounds(case)
    path = tmp_path / "logs.parquet"
    write_fixture(path, case["streams"])
    session.query(
        "CREATE OR REPLACE VIEW logs AS SELECT * FROM file("
        + exp.Literal.string(str(path)).sql(dialect="clickhouse")
        + ", Parquet)"
    )
    names = None
    if streams:
        session.query(
            "CREATE OR REPLACE VIEW streams AS SELECT DISTINCT fingerprint, labels FROM logs"
        )
        names = frozenset(k for s in case["streams"] for k, v in s["labels"].items() if v != "")
    sql = logql2sql.translate(
        case["query"],
        dialect="clickhouse",
        start=start,
        end=end,
        step=step,
        streams="streams" if streams else None,
        stream_labels=names,
    )
    return query(session, sql)


def _params():
    """Listed cases: `id<TAB>family` must pass, `id<TAB>family<TAB>reason` is a strict xfail."""
    for entry in LISTED:
        marks = [pytest.mark.xfail(strict=True, reason=entry[2])] if len(entry) > 2 else []
        yield pytest.param(entry[0], id=entry[0], marks=marks)


def run_case(session, tmp_path: Path, case: dict, streams: bool = False) -> tuple[str, str]:
    """('pass' | 'fail' | 'unsupported', detail) for one case on ClickHouse."""
    try:
        rows = run_on_clickhouse(session, tmp_path, case, streams)
    except UnsupportedInDialect as err:
        return "unsupported", str(err)
    except (LogQLError, ClickHouseError) as err:
        if case["expected"]["kind"] != "fail":
            return "fail", f"error: {err}"
        want = case["expected"].get("fail_msg_contains") or ""
        return ("pass", "") if want in str(err) else ("fail", f"{want!r} not in {err}")
    return compare_rows(case, rows)


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize("cid", list(_params()))
def test_clickhouse_sql_gives_lokis_result(clickhouse, tmp_path, cid):
    status, detail = run_case(clickhouse, tmp_path, CASES[cid])
    assert status == "pass", detail


# Listed cases also run reading stream labels from a `streams` view, as the executor binds
# it: the families whose SQL changes with it (labels per stream, errors joined per stream).
STREAMS_CASES = [
    "line_filters:7",
    "parsers:25",
    "parsers:224",
    "label_filters:1021",
    "conversions:64",
    "range_aggregations:8",
    "vector_aggregations:471",
    "binary_operations:610",
]


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize("cid", STREAMS_CASES)
def test_clickhouse_sql_reading_the_streams_relation(clickhouse, tmp_path, cid):
    status, detail = run_case(clickhouse, tmp_path, CASES[cid], streams=True)
    assert status == "pass", detail


# (full match?, RE2 pattern, text, RE2's answer): places where ClickHouse's defaults differ
# from Go's RE2, or where anchoring matters.
REGEX_CHECKS = [
    (False, "a.c", "a\nc", False),  # ClickHouse lets `.` match a line break by default
    (False, "a.c", "a\rc", True),
    (True, "(?s:.*)", "a\nb", True),
    (False, "abc$", "abc\n", False),  # `$` is the end of the text
    (False, "(?m)^b$", "a\nb\nc", True),
    (True, "ab|cd", "abcd", False),  # the alternation is anchored as a whole
    (True, "ab|cd", "cd", True),
    (True, "[[:digit:]]+", "123", True),
    (True, "(?i)é", "É", True),
    (True, "\\s", "\x0b", False),  # RE2's \s has no vertical tab
]


def test_regexes_match_as_re2_on_clickhouse(clickhouse):
    columns = [
        fn("regexp_full_match" if full else "regexp_matches", lit(text), lit(pattern)).as_(f"c{i}")
        for i, (full, pattern, text, _) in enumerate(REGEX_CHECKS)
    ]
    sql = clickhouse_lowering.adapt(exp.select(*columns)).sql(dialect="clickhouse")
    got = [bool(v) for v in query(clickhouse, sql)[0]]
    wrong = [(p, t, g) for (_, p, t, want), g in zip(REGEX_CHECKS, got, strict=True) if g != want]
    assert not wrong


# (DuckDB function and arguments, RE2's answer as Go and DuckDB give it): extraction and
# replacement, where ClickHouse's functions count groups and empty matches their own way.
REGEX_FUNCTION_CHECKS = [
    (("regexp_replace", "abc", "x*", "-", "g"), "-a-b-c-"),  # empty matches between chars
    (("regexp_replace", "abcb", "b", "[\\0]"), "a[b]cb"),  # first match only without `g`
    (("regexp_replace", "aaa", "a", "\\0\\0", "g"), "aaaaaa"),
    (("regexp_extract", "aaa", "(?U)(a+)", 1), "a"),  # RE2's ungreedy flag
    (("regexp_extract", "k=v", "(\\w)=(\\w)", 2), "v"),
    (("regexp_extract", "xyz", "(a)", 1), ""),  # no match: empty text, as DuckDB
    (("array_to_string", ("regexp_extract_all", "a=1 b=2", "(\\w)=(\\d)", 2), ","), "1,2"),
    (("array_to_string", ("regexp_extract_all", "a=1 b=2", "\\w=\\d", 0), ","), "a=1,b=2"),
]


def _call(spec) -> exp.Expression:
    name, *args = spec
    return fn(
        name,
        *[
            _call(a)
            if isinstance(a, tuple)
            else lit(a)
            if isinstance(a, str)
            else exp.Literal.number(a)
            for a in args
        ],
    )


def test_regex_functions_give_re2_results_on_clickhouse(clickhouse):
    columns = [_call(spec).as_(f"c{i}") for i, (spec, _) in enumerate(REGEX_FUNCTION_CHECKS)]
    sql = clickhouse_lowering.adapt(exp.select(*columns)).sql(dialect="clickhouse")
    got = list(query(clickhouse, sql)[0])
    assert got == [want for _, want in REGEX_FUNCTION_CHECKS]


@pytest.mark.parametrize(
    "query_text",
    [
        'count_over_time({app="a"} | json [1m])',
        'count_over_time({app="a"} |= ip("10.0.0.0/8") [1m])',
        'count_over_time({app="a"} | logfmt | addr = ip("10.0.0.1") [1m])',
        'count_over_time({app="a"} |~ "a" | regexp "(?P<x>.+)" | line_format "{{ now }}" [1m])',
    ],
)
def test_constructs_without_a_clickhouse_form_are_refused(query_text):
    with pytest.raises(UnsupportedInDialect):
        logql2sql.translate(query_text, dialect="clickhouse", start=0, end=60 * 10**9)


def one_line_case(query: str, line: str) -> dict:
    """A log query over one line of stream `{app="x"}`, as an engine case."""
    second = 10**9
    return {
        "query": query,
        "streams": [{"labels": {"app": "x"}, "entries": [[second, line]]}],
        "type": "range",
        "start_ns": 0,
        "end_ns": 60 * second,
        "step_ns": 0,
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"a": 1.50, "b": {"c": 1e3}, "l": [-0, 2.0]}', ["1.50", "1e3", "-0", "2.0"]),
        ('{"a": 7, "b": {"c": "x\\"1.0\\""}, "l": ["", 3.00]}', ["7", 'x"1.0"', "", "3.00"]),
    ],
)
def test_json_expressions_keep_number_text_as_written(clickhouse, tmp_path, line, expected):
    """As Loki and the DuckDB SQL: ClickHouse reprints the numbers it extracts (`2.0` as
    `2`), the quoted-numbers text keeps them as written."""
    query = '{app="x"} | json a="a", c="b.c", l0="l[0]", l1="l[1]"'
    ((_, _, labels, _),) = run_on_clickhouse(clickhouse, tmp_path, one_line_case(query, line))
    assert [dict(labels)[name] for name in ("a", "c", "l0", "l1")] == expected


@pytest.mark.parametrize(
    ("query", "line", "details"),
    [
        # a quoted value with a non-ASCII character is read whole (characters, not bytes)
        ("v > 1", 'v="1é" w=2', 'strconv.ParseFloat: parsing "1é": invalid syntax'),
        ("v > 1s", 'v="1é"', 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
        ("v > 1s", 'v="1\\t"', 'time: unknown unit "\\x09" in duration "1\\x09"'),
    ],
)
def test_conversion_errors_read_and_quote_the_value_as_loki(
    clickhouse, tmp_path, query, line, details
):
    """As Loki (and the DuckDB SQL): the value, then Go's quoting of it."""
    case = one_line_case('{app="x"} | logfmt | ' + query, line)
    ((_, _, labels, _),) = run_on_clickhouse(clickhouse, tmp_path, case)
    assert dict(labels)["__error_details__"] == details


def main() -> None:
    """Every engine case on chDB: the pass rate per source file."""
    session = chdb_session.Session()
    per_file: dict[str, Counter] = {}
    verbose = "-v" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        for case in load_cases():
            status, detail = run_case(session, Path(tmp), case, "--streams" in sys.argv)
            per_file.setdefault(Path(case["file"]).stem, Counter())[status] += 1
            if verbose and status != "pass":
                print(case_id(case), status, case["query"][:80], "|", detail[:300])
    total: Counter = Counter()
    for name, counts in sorted(per_file.items()):
        total += counts
        print(f"{name:22} {counts['pass']:4}/{sum(counts.values()):4}  {dict(counts)}")
    print(f"{'total':22} {total['pass']:4}/{sum(total.values()):4}  {dict(total)}")


if __name__ == "__main__":
    if "--all" not in sys.argv:
        sys.exit("usage: python -m tests.logql2sql.test_clickhouse --all [--streams] [-v]")
    main()
