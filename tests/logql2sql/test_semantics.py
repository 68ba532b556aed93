"""Loki semantics pinned down case by case, beyond the engine corpus: vector-matching errors
with Loki's exact texts, label-name clashes, `printf`, partial `pattern` matches, `json`
parameter expressions, and the checks Loki makes when it builds a pipeline stage."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

import logql2sql
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.jsonexpr import parse_json_expression
from logql2sql.lexical import quote
from tests.logql2sql.engine_cases import load_fixture

S = 10**9


def _run(query: str, streams: list[dict], at: int = 60) -> list[tuple]:
    con = duckdb.connect()
    load_fixture(con, streams)
    sql = logql2sql.translate(query, start=at * S, end=at * S)
    return con.execute(sql).fetchall()


def _stream(labels: dict, lines: list[str], meta: dict | None = None) -> dict:
    entries = [[str((i + 1) * 10 * S), line, meta or {}] for i, line in enumerate(lines)]
    return {"labels": labels, "entries": entries}


MACHINES = [
    _stream({"app": "foo", "machine": "a", "pool": "x"}, ["l"] * 3),
    _stream({"app": "foo", "machine": "b", "pool": "y"}, ["l"] * 2),
]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            'sum by (app, machine) (count_over_time({app="foo"}[1m]))'
            ' > bool ignoring (machine) sum by (app) (count_over_time({app="foo"}[1m]))',
            "multiple matches for labels: many-to-one matching must be explicit "
            "(group_left/group_right)",
        ),
        (
            'sum by (app) (count_over_time({app="foo"}[1m]))'
            ' + ignoring (machine) sum by (app, machine) (count_over_time({app="foo"}[1m]))',
            "found duplicate series on the right hand-side;many-to-many matching not allowed: "
            "matching labels must be unique on one side",
        ),
        (
            'sum by (app, machine) (count_over_time({app="foo"}[1m]))'
            ' + on (app) group_right sum by (app, pool) (count_over_time({app="foo"}[1m]))',
            "found duplicate series on the left hand-side;",
        ),
        (
            'sum by (app, machine) (count_over_time({app="foo"}[1m]))'
            ' / on (app) group_left (machine) sum by (app) (count_over_time({app="foo"}[1m]))',
            "multiple matches for labels: grouping labels must ensure unique matches",
        ),
    ],
)
def test_ambiguous_vector_matching_fails_with_lokis_text(query, message):
    with pytest.raises(duckdb.Error) as info:
        _run(query, MACHINES)
    assert message in str(info.value)


def test_unambiguous_matching_still_evaluates():
    rows = _run(
        'sum by (app, machine) (count_over_time({app="foo"}[1m]))'
        ' / on (app) group_left sum by (app) (count_over_time({app="foo"}[1m]))',
        MACHINES,
    )
    assert sorted((dict(r[1])["machine"], r[2]) for r in rows) == [("a", 0.6), ("b", 0.4)]


def test_comparison_filter_does_not_hide_an_ambiguous_match():
    """Loki checks matching before the comparison drops anything."""
    query = (
        'sum by (app, machine) (count_over_time({app="foo"}[1m]))'
        ' > ignoring (machine) sum by (app) (count_over_time({app="foo"}[1m]))'
    )
    with pytest.raises(duckdb.Error, match="many-to-one matching must be explicit"):
        _run(query, MACHINES)


@pytest.mark.parametrize("dialect", ["trino", "spark", "clickhouse"])
def test_matching_guard_is_emitted_for_every_dialect(dialect):
    sql = logql2sql.translate(
        'sum by (a) (rate({x="y"}[1m])) / on (a) group_left sum by (a) (rate({x="z"}[1m]))',
        dialect=dialect,
        start=60 * S,
        end=120 * S,
        step=60 * S,
    )
    assert "grouping labels must ensure unique matches" in sql
    assert sqlglot.parse_one(sql, read=dialect) is not None
    # ClickHouse's raise tests its own branch condition (`clickhouse._guard`)
    raise_fn = {"trino": "FAIL(", "spark": "RAISE_ERROR(", "clickhouse": "throwIf(ifNull("}
    assert raise_fn[dialect] in sql


def test_label_name_clashes_keep_the_loser_under_extracted():
    """Base name: stream > metadata > parsed; `_extracted`: parsed > metadata > stream."""
    streams = [
        _stream({"app": "a", "sm": "s", "tri": "s"}, ["tri=p x=1"], {"sm": "m", "tri": "m"}),
    ]
    (row,) = _run('count_over_time({app="a"} [1m])', streams)
    assert dict(row[1]) == {"app": "a", "sm": "s", "sm_extracted": "m", "tri": "s",
                            "tri_extracted": "m"}  # fmt: skip
    (row,) = _run('count_over_time({app="a"} | logfmt [1m])', streams)
    assert dict(row[1])["tri_extracted"] == "p" and dict(row[1])["sm_extracted"] == "m"


@pytest.mark.parametrize(
    ("parser", "line"),
    [
        ("json", '{"app":"z","app_extracted":"q"}'),
        ("logfmt", "app=z app_extracted=q"),
    ],
)
def test_a_key_named_like_a_renamed_clash_is_skipped_not_a_failure(parser, line):
    """`app` becomes `app_extracted`; the literal `app_extracted` after it is a name
    already extracted, which Loki's parsers skip (the query used to fail on a map with
    two equal keys)."""
    (row,) = _run(f'count_over_time({{app="a"}} | {parser} [1m])', [_stream({"app": "a"}, [line])])
    assert dict(row[1]) == {"app": "a", "app_extracted": "z"}


def test_logfmt_empty_value_claims_no_name():
    """Loki's logfmt parser skips an empty value before it records the name as extracted,
    so a later value of the same key is kept; with --keep-empty the first one wins."""
    streams = [_stream({"app": "a"}, ["k= k=2 n=1 n=3"])]
    (row,) = _run('count_over_time({app="a"} | logfmt [1m])', streams)
    assert dict(row[1]) == {"app": "a", "k": "2", "n": "1"}
    (row,) = _run('count_over_time({app="a"} | logfmt --keep-empty [1m])', streams)
    assert dict(row[1]) == {"app": "a", "k": "", "n": "1"}


@pytest.mark.parametrize(
    ("line", "after", "labels"),
    [
        # no packed `_entry` string: Loki's unpack adds nothing and keeps the line
        ('{"level":"info","msg":"hi"}', '{"level":"info","msg":"hi"}', {}),
        ('{"_entry":5,"a":"b"}', '{"_entry":5,"a":"b"}', {}),
        ('{"_entry":"line","level":"warn","n":1}', "line", {"level": "warn"}),
        # the pairs are set in order: of two equal names the last one wins
        ('{"_entry":"x","app":"z","app_extracted":"q"}', "x", {"app_extracted": "q"}),
    ],
)
def test_unpack_adds_labels_only_for_a_packed_entry(line, after, labels):
    con = duckdb.connect()
    load_fixture(con, [_stream({"app": "a"}, [line])])
    sql = logql2sql.translate('{app="a"} | unpack', start=0, end=60 * S)
    ((_, got_line, got_labels, _),) = con.execute(sql).fetchall()
    assert (got_line, dict(got_labels)) == (after, {"app": "a", **labels})


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ("\x1b[31mred\x1b[0m plain", "red plain"),
        ("\x1b[?25lhidden\x1b[?25h", "hidden"),  # private modes
        ("\x1b(Bz", "z"),  # a charset pick
        ("\x1b]0;title\x07y", "y"),  # an OSC title ending in BEL
        ("\x9b31mx", "x"),  # the one-character CSI
        ("\x1b[12345mz", "mz"),  # at most four digits a parameter
    ],
)
def test_decolorize_removes_what_lokis_pattern_matches(line, after):
    con = duckdb.connect()
    load_fixture(con, [_stream({"app": "a"}, [line])])
    sql = logql2sql.translate('{app="a"} | decolorize', start=0, end=60 * S)
    ((_, got, _, _),) = con.execute(sql).fetchall()
    assert got == after


@pytest.mark.parametrize(
    ("line", "labels"),
    [
        # JSON null is ""; an object or array value is its text; a missing path is ""
        ('{"x":{"y":null},"a":"1"}', {"y": "", "a": "1", "f": ""}),
        ('["x"]', {"y": "", "a": "", "f": "x"}),
        # an empty line is left alone
        ("", {}),
        # a line that cannot start JSON: the error without details, and no labels
        ('  {"a":"sp"}', {"__error__": "JSONParserErr"}),
        ("123", {"__error__": "JSONParserErr"}),
        # a stream label's name: a value found goes to `_extracted`, none sets nothing
        ('{"app":"z"}', {"y": "", "a": "", "f": "", "app_extracted": "z"}),
    ],
)
def test_json_expressions_follow_lokis_expression_parser(line, labels):
    con = duckdb.connect()
    load_fixture(con, [_stream({"app": "a"}, [line])])
    query = '{app="a"} | json y="x.y", a="a", app="app", f="[0]"'
    ((_, _, got, _),) = con.execute(logql2sql.translate(query, start=0, end=60 * S)).fetchall()
    assert dict(got) == {"app": "a", **labels}


PATTERN_LINES = ["GET /api 200", "10.0.0.1 GET /index.html", "an error", "", "x bar y bar",
                 " bar ", "foo bar baz", "GET /api"]  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "kept"),
    [
        # a leading literal may sit anywhere; the line must end right after a final one
        ("GET <_>", ["10.0.0.1 GET /index.html", "GET /api 200", "GET /api"]),
        ("error", ["an error"]),
        ("GET /api", ["GET /api"]),
        # first occurrences, no backtracking: " bar" is found at 1, then " y bar" is left
        ("<_> bar", []),
        ("<_> baz", ["foo bar baz"]),
        # a capture after a literal must not be empty: " bar " has nothing before " bar"
        ("<_> bar <_>", ["x bar y bar", "foo bar baz"]),
        ("<_>bar<_>", ["x bar y bar", " bar ", "foo bar baz"]),
        ("<_>", [line for line in PATTERN_LINES if line]),
    ],
)
def test_pattern_line_filters_match_as_lokis_matcher_tests(pattern, kept):
    """Loki's `pattern.Matcher.Test`, which is no anchored regex match."""
    entries = [[str((i + 1) * S), line, {}] for i, line in enumerate(PATTERN_LINES)]
    streams = [{"labels": {"app": "a"}, "entries": entries}]
    con = duckdb.connect()
    load_fixture(con, streams)
    for op, want in (("|>", kept), ("!>", [x for x in PATTERN_LINES if x not in kept])):
        sql = logql2sql.translate(f'{{app="a"}} {op} {quote(pattern)}', start=0, end=60 * S)
        assert sorted(r[1] for r in con.execute(sql).fetchall()) == sorted(want), op


def test_pattern_fills_the_captures_a_short_line_reaches():
    streams = [
        _stream({"app": "a"}, ["GET"]),
        _stream({"app": "b"}, ["GET /x"]),
        _stream({"app": "c"}, ["GET /x 200 extra"]),
        _stream({"app": "d"}, ["POST"], {}),
    ]
    rows = _run('count_over_time({app=~".+"} | pattern `<m> <p> <s>` [1m])', streams)
    got = {r[1]["app"]: {k: v for k, v in r[1].items() if k != "app"} for r in rows}
    assert got["a"] == {"m": "GET"}
    assert got["b"] == {"m": "GET", "p": "/x"}
    assert got["c"] == {"m": "GET", "p": "/x", "s": "200 extra"}
    rows = _run('count_over_time({app="a"} | pattern `x<m> <p>` [1m])', streams)
    assert [dict(r[1]) for r in rows] == [{"app": "a"}]


@pytest.mark.parametrize("pattern", ["<x>", "<x> <y>", "<x> end"])
def test_pattern_extracts_nothing_from_an_empty_line(pattern):
    """Loki's matcher returns no captures for an empty line, even for a pattern that is one
    capture and so would match it whole."""
    streams = [_stream({"app": "a"}, [""]), _stream({"app": "b"}, ["abc end"])]
    rows = _run(f'count_over_time({{app=~".+"}} | pattern `{pattern}` [1m])', streams)
    got = {r[1]["app"]: {k: v for k, v in r[1].items() if k != "app"} for r in rows}
    assert got["a"] == {}
    assert got["b"] == {"<x>": {"x": "abc end"}, "<x> <y>": {"x": "abc", "y": "end"}}.get(
        pattern, {"x": "abc"}
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ printf "[%s|%5s|%-4s|%.2s] 100%%" .a .b .a .b }}', "[hi|  bye|hi  |by] 100%"),
        ('{{ .a | printf "<%v>" }}', "<hi>"),
        ('{{ printf "%s %s" .a }}', "hi %!s(MISSING)"),
        ('{{ printf "x" .a .b }}', "x%!(EXTRA string=hi, string=bye)"),
        ("{{ printf `\\x1b[31m%s\\x1b[0m` .a }}", "\\x1b[31mhi\\x1b[0m"),
        ('{{ printf "\\x1b[1m%s" .a }}', "\x1b[1mhi"),
    ],
)
def test_printf_formats_like_go(template, expected):
    streams = [_stream({"app": "z", "a": "hi", "b": "bye"}, ["line"])]
    query = '{app="z"} | line_format ' + quote(template)
    con = duckdb.connect()
    load_fixture(con, streams)
    sql = logql2sql.translate(query, start=0, end=60 * S)
    assert [r[1] for r in con.execute(sql).fetchall()] == [expected]


def test_printf_verbs_for_other_types_are_named_as_unsupported():
    with pytest.raises(UnsupportedInDialect, match="printf verb '%d'"):
        logql2sql.translate('{a="b"} | line_format "{{ printf \\"%d\\" .x }}"', start=0, end=S)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            '{a="b"} | label_format x="{{"',
            "invalid template for label 'x': template: label:1: unclosed action",
        ),
        ('{a="b"} | line_format "ok\\n{{ .x"', "invalid line template: template: line:2: unclosed"),
        ('{a="b"} |> "<verb> /api"', "named captures are not allowed: found '<verb>'"),
        ('{a="b"} |> "<_><_> x"', "found consecutive capture '<_><_>': invalid expression"),
        (
            '{a="b"} | json bad="user["',
            "cannot parse expression [user[]: syntax error: unexpected $end, expecting STRING or "
            "INDEX",
        ),
    ],
)
def test_stage_construction_errors_are_worded_as_loki(query, message):
    logql2sql.parse(query)  # Loki's parser accepts these; building the stage fails
    with pytest.raises(LogQLError) as info:
        logql2sql.translate(query, start=0, end=S)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("user.id", ("user", "id")),
        ("tags[0]", ("tags", 0)),
        ('a["b c"].d[12]', ("a", "b c", "d", 12)),
        ('["x"]', ("x",)),
    ],
)
def test_json_expressions_parse_to_paths(text, path):
    assert parse_json_expression(text) == path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a-b", "unexpected char -"),
        ("x.", "syntax error: unexpected $end, expecting FIELD"),
        (".x", "syntax error: unexpected DOT, expecting LSB or FIELD"),
        ("a]", "syntax error: unexpected RSB"),
        ("a[1x]", "syntax error: unexpected $end, expecting STRING or INDEX"),
        ("a[1]@", "unexpected char @"),
    ],
)
def test_bad_json_expressions_fail_as_loki(text, message):
    with pytest.raises(LogQLError, match="^cannot parse expression ") as info:
        parse_json_expression(text)
    assert str(info.value).endswith(message)


@pytest.mark.parametrize(
    ("matcher", "count"),
    [('app=~"a.b"', 1.0), ('app!~"a.b"', None), ('app=~".+"', 1.0), ('app!~".*"', None)],
)
def test_regex_matchers_let_dot_match_a_newline(matcher, count):
    """Prometheus parses matcher regexes with `DotNL`: `.` matches `\\n` in a label value."""
    streams = [_stream({"app": "a\nb", "x": "1"}, ["l"])]
    rows = _run(f'count_over_time({{x="1", {matcher}}}[1m])', streams)
    assert [r[2] for r in rows] == ([count] if count is not None else [])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Loki keeps a number's text as written; DuckDB's JSON functions print its value
        # (integers as written, but for `-0`, which DuckDB prints `0`).
        (
            '{"a": 1.50, "b": 1E+2, "c": -0, "d": 7, "z": 0, "y": -0.0}',
            {"a": "1.50", "b": "1E+2", "c": "-0", "d": "7", "z": "0", "y": "-0.0"},
        ),
        ('{"z": 0, "n": -0}', {"z": "0", "n": "-0"}),
        # digits inside strings (and escaped quotes) are not number tokens
        ('{"s": "x 2.0 \\" 3.0", "n": 0.250}', {"s": 'x 2.0 " 3.0', "n": "0.250"}),
        # numbers in arrays count in document order although arrays are not extracted
        ('{"l": [1.0, 2.50], "o": {"p": 3.10}}', {"o_p": "3.10"}),
        ('{"t": true, "f": 1.0e-3}', {"t": "true", "f": "1.0e-3"}),
    ],
)
def test_json_parser_keeps_number_text_as_written(line, expected):
    con = duckdb.connect()
    load_fixture(con, [_stream({"app": "a"}, [line])])
    rows = con.execute(logql2sql.translate('{app="a"} | json', start=0, end=60 * S)).fetchall()
    (labels,) = [dict(r[2]) for r in rows]
    assert labels == {"app": "a", **expected}


# Each expectation is what Loki's own pipeline code returned for the line.
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '{"a": 1.50, "b": {"c": 1e3}, "l": [-0, 2.0], "z": 0}',
            {"a": "1.50", "c": "1e3", "l0": "-0", "l1": "2.0", "z": "0"},
        ),
        (
            '{"a": -0, "b": {"c": -0.0}, "l": [7], "z": -0}',
            {"a": "-0", "c": "-0.0", "l0": "7", "l1": "", "z": "-0"},
        ),
        # strings (empty ones, escaped quotes, digits) next to numbers keep their places
        (
            '{"s": "", "a": 0.10, "b": {"c": "x\\"1.0\\""}, "l": ["", 3.00]}',
            {"a": "0.10", "c": 'x"1.0"', "l0": "", "l1": "3.00", "z": ""},
        ),
        ('[1.10, ""]', {"a": "", "c": "", "l0": "", "l1": "", "z": ""}),
    ],
)
def test_json_expressions_keep_number_text_as_written(line, expected):
    query = '{app="x"} | json a="a", c="b.c", l0="l[0]", l1="l[1]", z="z"'
    assert _parsed(query, line) == expected


def _parsed(query: str, line: str, labels: dict | None = None) -> dict:
    """The labels of the one entry of a log query over one line, stream labels left out."""
    labels = labels or {"app": "x"}
    con = duckdb.connect()
    load_fixture(con, [_stream(labels, [line])])
    sql = logql2sql.translate(query, start=0, end=60 * S, direction="forward")
    ((_, _, got, *_),) = con.execute(sql).fetchall()
    return {k: v for k, v in got.items() if k not in labels}


# Each expectation is what Loki's own pipeline code returned for the line.
@pytest.mark.parametrize(
    ("line", "labels"),
    [
        ("path=/x?a=1 status=200", {"status": "200"}),  # `=` in an unquoted value
        ('a=b"c d=1', {"d": "1"}),  # `"` in an unquoted value
        ('ke"y=1 d=2', {"d": "2"}),  # `"` in a key
        ("==level=a b=2", {"b": "2"}),  # no key before `=`
        ("k==v d=1", {"d": "1"}),
        ('a="x\\q" b=1', {"b": "1"}),  # an escape Go's unquoting rejects
        ('a="\\u00" b=1', {"b": "1"}),
        ('a="it\\\'s" b=1', {"a": "it's", "b": "1"}),
        ('a="x\ty" b=1', {"a": "x\ty", "b": "1"}),  # a raw tab, no escape
        ('a="x\\ty\tz" b=1', {"a": "x\ty\tz", "b": "1"}),
        ('a="x\\u0041\\ud800\\u0041"', {"a": "xA A"}),  # lone surrogate → U+FFFD → " "
        ('a="\\ud83d\\ude00"', {"a": "\U0001f600"}),
        ("a=x\ufffdy b=1", {"a": "x y", "b": "1"}),
        ("k\ufffd=1 b=2", {"b": "2"}),  # U+FFFD in a key: invalid key
        ('a="unterminated b=1', {}),
        ('a="x"b=2', {"a": "x", "b": "2"}),  # the next unit may follow a closing quote
        ("a=1\x0bb=2 c=3\x00d=4", {"a": "1", "b": "2", "c": "3", "d": "4"}),
        ("a=1\u00a0b=2", {}),  # NBSP is no separator: `=` in the value
        ("x=1 \u00a0ab=2", {"x": "1", "ab": "2"}),  # but it is trimmed off a key
        ("a:b=1 c.d=2", {"a_b": "1", "c_d": "2"}),
    ],
)
def test_logfmt_reads_a_line_as_lokis_decoder(line, labels):
    assert _parsed('{app="x"} | logfmt', line) == labels


@pytest.mark.parametrize(
    ("line", "labels"),
    [
        ("a=1 b=x=y c=3", {"a": "1", "pos": 8, "message": "unexpected '='"}),
        ('a=1 "x e=2', {"a": "1", "pos": 5, "message": "unexpected '\"'"}),
        ("a=1 =x", {"a": "1", "pos": 5, "message": "unexpected '='"}),
        ('a="x\\q" b=1', {"pos": 8, "message": "invalid quoted value"}),
        ('a=1 b="xx', {"a": "1", "pos": 10, "message": "unterminated quoted value"}),
        ("a=1 k\ufffd=2 c=3", {"a": "1", "pos": 9, "message": "invalid key"}),
        ("a=1\tb=2\n", {"a": "1", "b": "2"}),
    ],
)
def test_strict_logfmt_stops_at_the_first_error_with_lokis_details(line, labels):
    got = _parsed('{app="x"} | logfmt --strict', line)
    want = {k: v for k, v in labels.items() if k not in ("pos", "message")}
    if "pos" in labels:
        want["__error__"] = "LogfmtParserErr"
        want["__error_details__"] = (
            f"logfmt syntax error at pos {labels['pos']} : {labels['message']}"
        )
    assert got == want


@pytest.mark.parametrize(
    ("query", "line", "labels"),
    [
        ('{app="x"} | logfmt a', "a=1 a=2", {"a": "2"}),  # the last one wins
        ('{app="x"} | logfmt a', "a=1 a", {"a": ""}),
        ('{app="x"} | logfmt x="a"', "a=2 x=1", {"x": "1"}),  # the label's own name too
        ('{app="x"} | logfmt a', "a=x\ufffdy", {"a": ""}),
    ],
)
def test_logfmt_with_expressions_reads_as_loki(query, line, labels):
    assert _parsed(query, line) == labels


@pytest.mark.parametrize(
    ("line", "labels"),
    [
        ('{"":"v","_entry":"x"}', {"": "v"}),
        ('{"a\\"b":"v","_entry":"x"}', {"a_b": "v"}),
        ('{"*":"v","b/c~d":"w","_entry":"x"}', {"_": "v", "b_c_d": "w"}),
    ],
)
def test_unpack_reads_any_key(line, labels):
    """Keys that are no valid JSON path failed the whole query."""
    assert _parsed('{app="x"} | unpack', line) == labels


@pytest.mark.parametrize(
    ("line", "labels"),
    [
        (' {"_entry":"x","a":"1"}', {"error": "expecting json object(6), but it is not"}),
        ("[1]", {"error": "expecting json object(6), but it is not"}),
        ('{"a":1', {"error": "invalid JSON object"}),
        ("", {}),  # an empty line is passed through
    ],
)
def test_unpack_reads_only_an_object_that_starts_the_line(line, labels):
    want = {}
    if "error" in labels:
        want = {"__error__": "JSONParserErr", "__error_details__": labels["error"]}
    assert _parsed('{app="x"} | unpack', line) == want


# Each expectation is what Loki's own pipeline code returned for the line.
@pytest.mark.parametrize(
    ("query", "line", "labels"),
    [
        # the left side passed: the right one does not run, so `c` sets no conversion error
        ("(a > 1 or b > 1) or c > 1", "a=0 b=5 c=zz", {"a": "0", "b": "5", "c": "zz"}),
        # the left side failed: the right one runs, and `c` sets its conversion error
        (
            "(a > 1 and b > 1) or c > 1",
            "a=0 b=0 c=zz",
            {
                "__error__": "LabelFilterErr",
                "__error_details__": 'strconv.ParseFloat: parsing "zz": invalid syntax',
                "a": "0",
                "b": "0",
                "c": "zz",
            },
        ),
    ],
)
def test_an_or_runs_its_right_side_as_its_compound_left_side_says(query, line, labels):
    assert _parsed('{app="x"} | logfmt | ' + query, line) == labels


MALFORMED_OBJECT = "Value looks like object, but can't find closing '}' symbol"


# Each expectation is what Loki's own pipeline code returned for the line.
@pytest.mark.parametrize(
    ("parser", "line", "details"),
    [
        ("json", "level=info msg=x", MALFORMED_OBJECT),  # no `{` first
        ("json", "", MALFORMED_OBJECT),
        ("json", "  [1]", MALFORMED_OBJECT),
        ("json", "{a:1}", MALFORMED_OBJECT),  # neither a key nor `}` after the `{`
        ("json", " { ", "Malformed JSON error"),  # nothing after the `{`
        ("json", "{} x", None),  # jsonparser's walk ends at the `}`
        ("unpack", "{", "Malformed JSON error"),
        ("unpack", "{a:1}", MALFORMED_OBJECT),
        ("unpack", "{ }}", None),
    ],
)
def test_json_errors_for_a_line_that_opens_no_object_are_lokis(parser, line, details):
    want = {} if details is None else {"__error__": "JSONParserErr", "__error_details__": details}
    assert _parsed('{app="x"} | ' + parser, line) == want


# Each expectation is what Loki's own pipeline code returned for the line: `strconv`
# quotes with Go's escapes, the `time` package writes every byte of a control or non-ASCII
# character as `\xhh`.
@pytest.mark.parametrize(
    ("query", "line", "details"),
    [
        ("v > 1", 'v="1\\t"', 'strconv.ParseFloat: parsing "1\\t": invalid syntax'),
        ("v > 1", 'v="1\\té"', 'strconv.ParseFloat: parsing "1\\té": invalid syntax'),
        ("v > 1s", 'v="1é"', 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
        ("v > 1s", 'v="1\\t"', 'time: unknown unit "\\x09" in duration "1\\x09"'),
        ("v > 1s", 'v="a\\"b"', 'time: invalid duration "a\\"b"'),
        ("v > 1s", "v=1x", 'time: unknown unit "x" in duration "1x"'),
    ],
)
def test_conversion_errors_quote_the_value_as_go_does(query, line, details):
    labels = _parsed('{app="x"} | logfmt | ' + query, line)
    assert (labels["__error__"], labels["__error_details__"]) == ("LabelFilterErr", details)
