"""Parser behaviour that the corpora do not pin down on their own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import logql2sql
from logql2sql import ast
from logql2sql.errors import LogQLError, ParseError


def test_error_carries_line_and_column():
    with pytest.raises(ParseError) as info:
        logql2sql.parse('{app="foo"}\n  |= test')
    assert (info.value.line, info.value.col) == (2, 6)
    assert str(info.value).startswith("parse error at line 2, col 6: syntax error: unexpected")


def test_function_names_are_identifiers_unless_called():
    expr = logql2sql.parse('{a="b"} | logfmt | rate="x" | ip="y"')
    names = [s.filter.matcher.name for s in expr.pipeline[1:]]
    assert names == ["rate", "ip"]


def test_keywords_are_case_insensitive():
    assert logql2sql.parse('SUM(Count_Over_Time({foo="bar"}[5m])) BY (foo)') == logql2sql.parse(
        'sum by (foo) (count_over_time({foo="bar"}[5m]))'
    )


def test_precedence_follows_loki():
    expr = logql2sql.parse("1 + 2 * 3 ^ 2 ^ 2")
    assert isinstance(expr, ast.BinOp) and expr.op == "+"
    assert expr.right.op == "*" and expr.right.right.op == "^"
    assert expr.right.right.right.op == "^"  # right-associative


def test_label_filter_and_binds_tighter_than_or():
    expr = logql2sql.parse('{a="b"} | x="1" or y="2", z="3"')
    f = expr.pipeline[0].filter
    assert isinstance(f, ast.OrLabelFilter) and isinstance(f.right, ast.AndLabelFilter)


def test_or_line_filter_alternatives_share_the_operator():
    expr = logql2sql.parse('{a="b"} != "x" or "y"')
    assert expr.pipeline[0] == ast.LineFilter(
        "!=", (ast.LineFilterValue("x"), ast.LineFilterValue("y"))
    )


def test_strings_with_go_escapes_round_trip():
    q = '{a="q\\"\\\\\\t\\u00e9"} |= `raw\\n`'
    expr = logql2sql.parse(q)
    assert expr.matchers[0].value == 'q"\\\té'
    assert expr.pipeline[0].values[0].value == "raw\\n"
    assert logql2sql.parse(logql2sql.format(expr)) == expr


def test_input_size_limit():
    with pytest.raises(ParseError, match="input size too long"):
        logql2sql.parse('{a="' + "x" * 131072 + '"}')


_TOKENS = st.sampled_from(
    [
        "{",
        "}",
        "(",
        ")",
        "[5m]",
        "|",
        "|=",
        "!~",
        "=",
        "=~",
        ",",
        '"x"',
        "`y`",
        "a",
        "sum",
        "rate",
        "by",
        "json",
        "logfmt",
        "unwrap",
        "1",
        "-",
        "+",
        ">",
        "bool",
        "on",
        "offset",
        "5m",
        "1KB",
        "or",
        "and",
        " ",
        "#c\n",
        '"\\q"',
        "[",
        "ip",
        "count_over_time",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=14).map(" ".join) | st.text(max_size=40))
def test_random_input_raises_only_typed_errors(text):
    """Whatever the input, parse either succeeds (and round-trips) or raises a LogQLError."""
    try:
        expr = logql2sql.parse(text)
    except LogQLError:
        return
    assert logql2sql.parse(logql2sql.format(expr)) == expr
