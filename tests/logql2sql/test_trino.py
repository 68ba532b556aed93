"""The emitted `trino` SQL, run on a real Trino server over `VALUES` fixtures.

`scripts/trino-server` starts Trino (its core server from Maven Central, Java 24+) on
127.0.0.1 with `regex-library=RE2J`, once for the module. A representative subset of
Loki's engine cases (`cases/trino_cases.txt`): each case's streams become the rows of a
`logs` relation with the entry schema (a `WITH logs AS (VALUES …)` in front of the
translated query: the core server has no connector to read files), and the rows are compared
with Loki's expectation, as the DuckDB engine-case test does. Regexes are checked on Trino
against RE2's answers, and constructs without a Trino form must raise `UnsupportedInDialect`.
Skipped, saying why, where Maven or a Java new enough for Trino is missing.

`python -m tests.logql2sql.test_trino --all` runs every engine case on a running server
(`--addr 127.0.0.1:PORT`) and prints the pass rate per source file (not a test: it takes
many minutes); `-v` lists the cases that do not pass.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlglot import exp

import logql2sql
from logql2sql import trino as trino_lowering
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.sqlbuild import fn, lit
from tests.logql2sql.engine_cases import (
    _fingerprint,
    case_bounds,
    case_id,
    compare_rows,
    load_cases,
)
from tests.logql2sql.regex_checks import REGEX_CHECKS

trino_dbapi = pytest.importorskip("trino.dbapi", reason="the trino client is not installed")
TrinoError = pytest.importorskip("trino.exceptions").TrinoQueryError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "trino-server"
LISTED = [
    line.split("\t")
    for line in (Path(__file__).parent / "cases" / "trino_cases.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
CASES = {case_id(c): c for c in load_cases()}
_COLUMNS = "fingerprint, ts, line, labels, structured_metadata"
_EMPTY_MAP = "CAST(MAP() AS MAP(VARCHAR, VARCHAR))"


@pytest.fixture(scope="module")
def trino(tmp_path_factory: pytest.TempPathFactory):
    """A DB-API connection to a Trino server on 127.0.0.1, stopped after the module."""
    if shutil.which("mvn") is None:
        pytest.skip("a real Trino server needs mvn on PATH")
    run = tmp_path_factory.mktemp("trino-server")
    started = subprocess.run(
        [sys.executable, str(SCRIPT), "start", "--dir", str(run)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if started.returncode != 0 and "needs Java" in started.stderr:
        pytest.skip(started.stderr.strip())
    if started.returncode != 0:
        pytest.fail(f"trino-server start failed:\n{started.stderr}\n{started.stdout}")
    host, port = started.stdout.strip().splitlines()[-1].rsplit(":", 1)
    connection = trino_dbapi.connect(host=host, port=int(port), user="loglake-tests")
    yield connection
    connection.close()
    subprocess.run([sys.executable, str(SCRIPT), "stop", "--dir", str(run)], timeout=120)


def _string(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="trino")


def _map(items: list[tuple[str, str]]) -> str:
    if not items:
        return _EMPTY_MAP
    keys = ", ".join(_string(k) for k, _ in items)
    values = ", ".join(_string(v) for _, v in items)
    return f"MAP(ARRAY[{keys}], ARRAY[{values}])"


def with_fixture(sql: str, streams: list[dict]) -> str:
    """`sql` reading a `logs` relation that holds `streams` (empty label values dropped)."""
    rows = []
    for stream in streams:
        labels = sorted((k, v) for k, v in stream["labels"].items() if v != "")
        fingerprint = _fingerprint(dict(labels))
        for item in stream["entries"]:
            meta = sorted((item[2] if len(item) > 2 and item[2] else {}).items())
            rows.append(
                f"(BIGINT '{fingerprint}', BIGINT '{int(item[0])}', {_string(item[1])}, "
                f"{_map(labels)}, {_map(meta)})"
            )
    if rows:
        relation = f"SELECT * FROM (VALUES {', '.join(rows)}) AS t({_COLUMNS})"
    else:
        empty = f"(BIGINT '0', BIGINT '0', '', {_EMPTY_MAP}, {_EMPTY_MAP})"
        relation = f"SELECT * FROM (VALUES {empty}) AS t({_COLUMNS}) WHERE false"
    if sql.startswith("WITH "):
        return f"WITH logs AS ({relation}), {sql[len('WITH ') :]}"
    return f"WITH logs AS ({relation}) {sql}"


def run_on_trino(connection, case: dict) -> list[tuple]:
    """The rows of a case's query, translated for Trino and run over its streams."""
    start, end, step = case_bounds(case)
    sql = logql2sql.translate(case["query"], dialect="trino", start=start, end=end, step=step)
    cursor = connection.cursor()
    cursor.execute(with_fixture(sql, case["streams"]))
    return [(ts, dict(labels or {}), value) for ts, labels, value in cursor.fetchall()]


def _params():
    """Listed cases: `id<TAB>family` must pass, `id<TAB>family<TAB>reason` is a strict xfail."""
    for entry in LISTED:
        marks = [pytest.mark.xfail(strict=True, reason=entry[2])] if len(entry) > 2 else []
        yield pytest.param(entry[0], id=entry[0], marks=marks)


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize("cid", list(_params()))
def test_trino_sql_gives_lokis_result(trino, cid):
    case = CASES[cid]
    if case["expected"]["kind"] == "fail":
        # Loki fails the query: so must the translation or Trino, with Loki's words.
        with pytest.raises((LogQLError, TrinoError)) as err:
            run_on_trino(trino, case)
        assert case["expected"].get("fail_msg_contains", "") in str(err.value)
        return
    status, detail = compare_rows(case, run_on_trino(trino, case))
    assert status == "pass", detail


# Log queries (Loki's engine cases are metric queries): Trino must return DuckDB's rows.
LOG_STREAMS = [
    {
        "labels": {"app": "api", "env": "prod"},
        "entries": [
            [str(10**9 * i), line]
            for i, line in enumerate(
                [
                    'level=info msg="GET /a" took=12ms size=1KB',
                    'level=error msg="boom \\"x\\"" took=1.5s size=2MB',
                    '{"level":"warn","user":{"id":"u1","age":41.5},"tags":["a","b"]}',
                    "\x1b[31mred\x1b[0m plain text 10.0.0.1",
                    "level=debug msg=ok took=bad",
                ],
                start=1,
            )
        ],
    },
    {
        "labels": {"app": "web", "env": "dev"},
        "entries": [
            [str(10**9 * i + 5), line, {"trace": "t" + str(i)}]
            for i, line in enumerate(["GET /index 200", "POST /form 500", "GET /x 404"], start=1)
        ],
    },
]
LOG_QUERIES = [
    '{env=~"prod|dev"}',
    '{app="api"} |= "level" != "debug"',
    '{app="api"} |~ "(?i)ERROR|warn"',
    '{app="api"} | logfmt | level="error" or took > 10ms',
    '{app="api"} | logfmt --strict | size >= 1KB',
    '{app="api"} | json who="user.id", age="user.age", tag="tags[1]"',
    '{app="api"} | decolorize | line_format "{{.app}}: {{__line__ | upper}}"',
    '{app="web"} | pattern "<method> <path> <status>" | status >= 400',
    r'{app="web"} | regexp `(?P<verb>[A-Z]+) (?P<path>\S+)` | label_format p="{{.path}}"',
    '{app="web"} | trace=~"t[12]" | keep trace, app',
]


@pytest.mark.parametrize("direction", ["backward", "forward"])
@pytest.mark.parametrize("query", LOG_QUERIES)
def test_log_queries_give_duckdbs_rows(trino, query, direction):
    import duckdb

    from tests.logql2sql.engine_cases import load_fixture

    def normal(rows):
        return [(ts, line, dict(labels), fp) for ts, line, labels, fp in rows]

    params = {"start": 0, "end": 10 * 10**9, "limit": 6, "direction": direction}
    con = duckdb.connect()
    load_fixture(con, LOG_STREAMS)
    want = normal(con.execute(logql2sql.translate(query, **params)).fetchall())
    cursor = trino.cursor()
    cursor.execute(with_fixture(logql2sql.translate(query, dialect="trino", **params), LOG_STREAMS))
    assert normal(cursor.fetchall()) == want
    assert want  # every query selects something


def test_json_numbers_keep_their_text_as_in_loki(trino):
    """Loki's `json` parser keeps a number's text (`41.50`, `1E+2`); Trino's SQL does too
    (Trino's `json_extract` keeps it; DuckDB's JSON functions print numbers their own way,
    `41.5` and `100.0`, and its SQL reads them from the text with numbers quoted)."""
    streams = [{"labels": {"app": "a"}, "entries": [["1", '{"n":41.50,"e":1E+2,"o":{"k":1}}']]}]
    sql = logql2sql.translate(
        '{app="a"} | json n="n", e="e", o="o"', dialect="trino", start=0, end=10
    )
    cursor = trino.cursor()
    cursor.execute(with_fixture(sql, streams))
    (row,) = cursor.fetchall()
    assert dict(row[2]) == {"app": "a", "n": "41.50", "e": "1E+2", "o": '{"k":1}'}


def test_regexes_match_as_re2_on_trino(trino):
    columns = [
        fn("regexp_full_match" if full else "regexp_matches", lit(text), lit(pattern)).as_(f"c{i}")
        for i, (full, pattern, text, _) in enumerate(REGEX_CHECKS)
    ]
    sql = trino_lowering.adapt(exp.select(*columns)).sql(dialect="trino")
    cursor = trino.cursor()
    cursor.execute(sql)
    got = list(cursor.fetchall()[0])
    wrong = [(p, t, g) for (_, p, t, want), g in zip(REGEX_CHECKS, got, strict=True) if g != want]
    assert not wrong


def test_a_series_longer_than_trinos_sequence_limit(trino):
    """`generate_series` past 10,000 entries (Trino's `sequence` limit), and an empty one."""
    series = exp.GenerateSeries(
        start=exp.Literal.number(5), end=exp.Literal.number(25_008), step=exp.Literal.number(1)
    )
    empty = exp.GenerateSeries(start=exp.Literal.number(3), end=exp.Literal.number(2))
    sql = trino_lowering.adapt(
        exp.select(fn("cardinality", series).as_("n"), fn("cardinality", empty).as_("e"))
    ).sql(dialect="trino")
    cursor = trino.cursor()
    cursor.execute(sql)
    assert cursor.fetchall() == [[25_004, 0]]


def test_absent_keys_and_indexes_are_null_as_in_duckdb(trino):
    """Trino's `m['k']` and `x[i]` fail where DuckDB's give NULL."""
    labels = exp.Map(
        keys=exp.Array(expressions=[lit("a")]), values=exp.Array(expressions=[lit("1")])
    )
    items = exp.Array(expressions=[lit("x")])
    lookups = [
        exp.Bracket(this=labels, expressions=[lit("b")], offset=1),
        exp.Bracket(this=items, expressions=[exp.Literal.number(3)], offset=1),
        exp.Bracket(this=items.copy(), expressions=[exp.Literal.number(0)], offset=1),
        fn("list_position", items.copy(), lit("y")),
        fn("regexp_extract", lit("abc"), lit("x(y)"), exp.Literal.number(1)),
    ]
    sql = trino_lowering.adapt(exp.select(*lookups)).sql(dialect="trino")
    cursor = trino.cursor()
    cursor.execute(sql)
    assert cursor.fetchall() == [[None, None, None, None, ""]]


@pytest.mark.parametrize(
    "query",
    [
        'count_over_time({app="a"} | json [1m])',
        'count_over_time({app="a"} | unpack [1m])',
        'count_over_time({app="a"} |= ip("10.0.0.0/8") [1m])',
        'count_over_time({app="a"} | logfmt | addr = ip("10.0.0.1") [1m])',
    ],
)
def test_constructs_without_a_trino_form_are_refused(query):
    with pytest.raises(UnsupportedInDialect):
        logql2sql.translate(query, dialect="trino", start=0, end=60 * 10**9)


def main() -> None:
    parser = argparse.ArgumentParser(description="Every engine case on a running Trino.")
    parser.add_argument("--all", action="store_true", required=True)
    parser.add_argument("--addr", default="127.0.0.1:8080")
    parser.add_argument("-v", action="store_true", help="list the cases that do not pass")
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    connection = trino_dbapi.connect(host=host, port=int(port), user="loglake-tests")
    per_file: dict[str, Counter] = {}
    for cid, case in CASES.items():
        try:
            if case["expected"]["kind"] == "fail":
                try:
                    run_on_trino(connection, case)
                    status, detail = "fail", "no error"
                except (LogQLError, TrinoError) as err:
                    want = case["expected"].get("fail_msg_contains", "")
                    status, detail = ("pass", "") if want in str(err) else ("fail", str(err))
            else:
                status, detail = compare_rows(case, run_on_trino(connection, case))
        except UnsupportedInDialect as err:
            status, detail = "unsupported", str(err)
        except (LogQLError, TrinoError) as err:
            status, detail = "fail", f"error: {err}"
        per_file.setdefault(case["file"].rsplit("/", 1)[-1], Counter())[status] += 1
        if args.v and status != "pass":
            print(f"{status:<11} {cid}  {case['query']}\n            {detail[:300]}")
    for name, counts in sorted(per_file.items()):
        total = sum(counts.values())
        print(f"{name:<34} {counts['pass']:>4}/{total:<4} {dict(counts)}")


if __name__ == "__main__":
    main()
