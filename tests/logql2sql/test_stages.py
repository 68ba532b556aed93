"""Errors of pipeline stages (`parse error : stage '…' : …`), RE2 patterns checked as Go
checks them, and `| logfmt name="expression"` read as Loki reads the expression.

The expected texts were read from Go itself (its `regexp` package; Loki's logfmt expression
parser) and from Loki's source (`MultiStageExpr.stages`, `reorderStages`, the stages'
`String()`), and the stage wrapping from a query Loki answers with 400."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

import logql2sql
from logql2sql.errors import LogQLError
from logql2sql.lexical import quote, unquote
from logql2sql.logfmtexpr import logfmt_expression_key
from logql2sql.regex import RegexError, compile_re2, group_names, matches_empty
from tests.logql2sql.engine_cases import load_fixture

S = 10**9

# pattern → what Go's regexp.Compile says ("" when it accepts the pattern)
GO_REGEXP = {
    "(": "missing closing ): `(`",
    ")": "unexpected ): `)`",
    "a**": "invalid nested repetition operator: `**`",
    "a*{3,2}": "invalid repeat count: `{3,2}`",
    "x{1001}?": "invalid repeat count: `{1001}`",
    "a{2}{1001}": "invalid repeat count: `{1001}`",
    "\\q": "invalid escape sequence: `\\q`",
    "(a)\\1": "invalid escape sequence: `\\1`",
    "a(?=b)": "invalid or unsupported Perl syntax: `(?=`",
    "(?x)a": "invalid or unsupported Perl syntax: `(?x`",
    "[a": "missing closing ]: `[a`",
    "[z-a]": "invalid character class range: `z-a`",
    "\\": "trailing backslash at end of expression: ``",
    "*": "missing argument to repetition operator: `*`",
    "\\p{Foo}": "invalid character class range: `\\p{Foo}`",
    "[\\p": "invalid character class range: `\\p`",
    "(?P<>a)": "invalid named capture: `(?P<>`",
    "\\C": "invalid escape sequence: `\\C`",
    "+\\b\\C": "missing argument to repetition operator: `+`",
    "(?P<n\\C": "invalid named capture: `(?P<n\\C`",
    "\\Z": "invalid escape sequence: `\\Z`",
    "\\x{110000}": "invalid escape sequence: `\\x{110000`",
    "\\pL+\\p{Greek}[[:^alpha:]]": "",
    "(?P<n>a)(?<m>b)": "",
    "(?i)a(?s)b\\z\\Q.*\\E\\x{10FFFF}": "",
    "a{,5}a{1000}[]a]": "",
}


@pytest.mark.parametrize(("pattern", "go_error"), GO_REGEXP.items())
def test_patterns_are_accepted_and_refused_as_go_does(pattern: str, go_error: str) -> None:
    if not go_error:
        compile_re2(pattern)
        return
    with pytest.raises(RegexError) as info:
        compile_re2(pattern)
    assert info.value.go_message == f"error parsing regexp: {go_error}"


def test_group_names_and_empty_matches_follow_re2() -> None:
    assert group_names("(?P<method>\\w+) (\\S+) (?<code>\\d+)") == {"method": 1, "code": 3}
    assert matches_empty("=~", "\\pL*") and not matches_empty("=~", "\\pL+")
    assert matches_empty("!~", "a+") and not matches_empty("!~", "(?:)")


def test_a_unicode_class_runs_in_a_stream_selector() -> None:
    con = duckdb.connect()
    streams = [
        {"labels": {"app": "ω"}, "entries": [[str(10 * S), "x", {}]]},
        {"labels": {"app": "w"}, "entries": [[str(10 * S), "x", {}]]},
    ]
    load_fixture(con, streams)
    sql = logql2sql.translate(
        'count_over_time({app=~"\\\\p{Greek}"}[1m])', start=60 * S, end=60 * S
    )
    assert [(dict(labels), value) for _, labels, value in con.execute(sql).fetchall()] == [
        ({"app": "ω"}, 1.0)
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{a="b"} |~ "("', "stage '|~ \"(\"' : error parsing regexp: missing closing ): `(`"),
        (
            # one run of line filters across parsers, the last failing one reported
            '{a="b"} |= "x" |~ "(" | json |= "y" |~ "[" or "z"',
            'stage \'|= "x" |~ "(" |= "y" |~ "[" or "z"\' : error parsing regexp: '
            "missing closing ]: `[`",
        ),
        (
            # label_format does not end a run; a label filter does
            '{a="b"} |= "x" | label_format c=d |~ "(" | e="f" |~ "a**"',
            'stage \'|= "x" |~ "("\' : error parsing regexp: missing closing ): `(`',
        ),
        (
            '{a="b"} |~ "special" or ip("10.0.0.0/8")',
            'stage \'|~ "special" or ip("10.0.0.0/8")\' : ip: invalid operation',
        ),
        ('{a="b"} |= ip("bogus")', 'stage \'|= ip("bogus")\' : ip: invalid pattern: "bogus"'),
        (
            '{a="b"} | logfmt | addr != ip("bogus")',
            'stage \'| addr!=ip("bogus")\' : ip: invalid pattern: "bogus"',
        ),
        (
            '{a="b"} !> "<_><_> x"',
            "stage '!> \"<_><_> x\"' : found consecutive capture '<_><_>': invalid expression",
        ),
        (
            '{a="b"} | label_format x=y, x="{{.z}}"',
            "stage '| label_format x=y,x=\"{{.z}}\"' : multiple label name 'x' not allowed in "
            "a single format operation",
        ),
        (
            '{a="b"} | label_format __error__=x',
            "stage '| label_format __error__=x' : __error__ cannot be formatted",
        ),
        (
            '{a="b"} | line_format "ok\\n{{ .x"',
            "stage '| line_format \"ok\\n{{ .x\"' : invalid line template: template: line:2: "
            "unclosed action",
        ),
        (
            '{a="b"} | json ok, bad="user["',
            'stage \'| json ok="ok",bad="user["\' : cannot parse expression [user[]: syntax '
            "error: unexpected $end, expecting STRING or INDEX",
        ),
        (
            '{a="b"} | logfmt --strict x="a b"',
            "stage '| logfmt --strict x=\"a b\"' : cannot parse expression [a b]: syntax error: "
            "unexpected KEY",
        ),
        (
            # the left leg's pipeline is built first
            'count_over_time({a="b"} |~ "(" [1m]) / count_over_time({a="b"} |= ip("x") [1m])',
            "stage '|~ \"(\"' : error parsing regexp",
        ),
    ],
)
def test_stage_errors_carry_lokis_stage_text(query: str, message: str) -> None:
    logql2sql.parse(query)  # Loki's parser accepts these; building the stage fails
    with pytest.raises(logql2sql.ParseError) as info:
        logql2sql.translate(query, start=0, end=S)
    assert str(info.value).startswith("parse error : " + message)


def test_an_invalid_ip_inside_and_or_keeps_no_line_as_loki() -> None:
    """Only an `ip()` filter that is a whole stage fails the query; inside `or` Loki's filter
    has no addresses and is false (true once an error is set)."""
    con = duckdb.connect()
    lines = ["addr=10.0.0.1 x=1", "addr=10.0.0.2 x=2", "x=3"]
    streams = [
        {"labels": {"app": "a"}, "entries": [[str(i * S), v, {}] for i, v in enumerate(lines, 1)]}
    ]
    load_fixture(con, streams)
    query = '{app="a"} | logfmt | addr = ip("bogus") or x="2"'
    rows = con.execute(logql2sql.translate(query, start=0, end=60 * S)).fetchall()
    assert [line for _, line, _, _ in rows] == ["addr=10.0.0.2 x=2"]


# expression → the key Loki's logfmt expression parser yields, or its error
LOGFMT_EXPRESSIONS = {
    "app": "app",
    '"a.b"': "a.b",
    '"x]': "x",
    '"x]"': "x%!(EXTRA string=)",
    "  _k9  ": "_k9",
    '"a" "b"': "a%!(EXTRA string=b)",
    'a "b" "c"': "a%!(EXTRA string=b, string=c)",
    "": "ERR syntax error: unexpected $end, expecting STRING or KEY",
    "a b": "ERR syntax error: unexpected KEY",
    '"x]y"': "ERR syntax error: unexpected KEY",
    "b[": "ERR unexpected char [",
    "a.b": "ERR unexpected char .",
    "9a": "ERR syntax error: unexpected $end, expecting STRING or KEY",
}


@pytest.mark.parametrize(("text", "key"), LOGFMT_EXPRESSIONS.items())
def test_logfmt_expressions_read_as_loki_reads_them(text: str, key: str) -> None:
    if not key.startswith("ERR "):
        assert logfmt_expression_key(text) == key
        return
    with pytest.raises(LogQLError) as info:
        logfmt_expression_key(text)
    assert str(info.value) == f"cannot parse expression [{text}]: {key[4:]}"


def test_a_quoted_logfmt_expression_extracts_a_dotted_key() -> None:
    con = duckdb.connect()
    streams = [{"labels": {"app": "a"}, "entries": [[str(S), "a.b=1 c=2", {}]]}]
    load_fixture(con, streams)
    query = '{app="a"} | logfmt x="\\"a.b\\"", c'
    [(_, _, labels, _)] = con.execute(logql2sql.translate(query, start=0, end=60 * S)).fetchall()
    assert labels["x"] == "1" and labels["c"] == "2"


@given(st.text())
def test_quote_is_gos_and_reads_back(text: str) -> None:
    quoted = quote(text)
    assert unquote(quoted) == text
    assert all(ch.isprintable() or ch == " " for ch in quoted)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [("\a\b\f\v", '"\\a\\b\\f\\v"'), ("\x01\x7f", '"\\x01\\x7f"'), ("\u00a0é", '"\\u00a0é"')],
)
def test_quote_uses_gos_escapes(text: str, quoted: str) -> None:
    assert quote(text) == quoted


def test_keep_empty_gives_a_bare_key_the_empty_value() -> None:
    """`| logfmt --keep-empty` keeps `flag` of `flag b=1` with the value "" (Loki's), not
    a NULL from the regex group that did not match."""
    con = duckdb.connect()
    load_fixture(con, [{"labels": {"app": "a"}, "entries": [[str(S), "flag b=1", {}]]}])
    query = '{app="a"} | logfmt --keep-empty'
    [(_, _, labels, _)] = con.execute(logql2sql.translate(query, start=0, end=60 * S)).fetchall()
    assert labels == {"app": "a", "b": "1", "flag": ""}
