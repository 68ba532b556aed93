"""Numbers, durations, byte sizes and lone characters lexed as Loki lexes them.

Every expectation here is what Loki's own parser (`syntax.ParseExpr` of Loki's main branch,
built and run in Go) returned for the same text: the error message, or for accepted queries
the value, written as our canonical LogQL (Loki prints durations and byte sizes in other
units, `took>1h0m0s`, `size>1.5kB`, so the texts differ where the values agree).
"""

from __future__ import annotations

import pytest

import logql2sql
from logql2sql.lexer import loki_duration

FLOAT = "parse error : unable to parse literal as a float: strconv.ParseFloat: parsing "

CASES = [
    ('{a="b"} | took > 1.5d', "parse error at line 1, col 22: syntax error: unexpected $end"),
    ('{a="b"} | took > 1m1d', "parse error at line 1, col 22: syntax error: unexpected $end"),
    ('{a="b"} | took > 2562048h', "parse error at line 1, col 26: syntax error: unexpected $end"),
    ('{a="b"} | took > 2562047h', 'OK {a="b"} | took > 2562047h'),
    ('{a="b"} | took > 1.h', 'OK {a="b"} | took > 1h'),
    ('{a="b"} | took > .5h', 'OK {a="b"} | took > 30m'),
    ('{a="b"} | took > 1h30m', 'OK {a="b"} | took > 1h30m'),
    ('{a="b"} | took > 1d1h', 'OK {a="b"} | took > 25h'),
    ('{a="b"} | took > -1.5h', 'OK {a="b"} | took > -1h30m'),
    ('{a="b"} | took > -1.5d', "parse error at line 1, col 23: syntax error: unexpected $end"),
    (
        'rate({a="b"}[1m] offset -2d)',
        "parse error at line 1, col 25: syntax error: unexpected -, expecting DURATION",
    ),
    (
        'rate({a="b"}[1m] offset 1.5d)',
        "parse error at line 1, col 25: syntax error: unexpected NUMBER, expecting DURATION",
    ),
    ('rate({a="b"}[1m] offset 1d)', 'OK rate({a="b"} [1m] offset 24h)'),
    ("vector(1)-0", "parse error at line 0, col 10: syntax error: unexpected DURATION"),
    (
        '{a="b"} | took == -2w',
        "parse error at line 0, col 20: syntax error: unexpected DURATION, expecting NUMBER",
    ),
    ('{a="b"} | size > 1.MB', 'OK {a="b"} | size > 1000000B'),
    ('{a="b"} | size > 1Ki', 'OK {a="b"} | size > 1024B'),
    ('{a="b"} | size > 2PiB', 'OK {a="b"} | size > 2251799813685248B'),
    ('{a="b"} | size > 1.5KiB', 'OK {a="b"} | size > 1536B'),
    (
        '{a="b"} | size > 99999999999PB',
        "parse error at line 1, col 31: syntax error: unexpected $end",
    ),
    ('{a="b"} | size > 1mB', "parse error at line 1, col 21: syntax error: unexpected $end"),
    ('{a="b"} | took > 1_0', 'OK {a="b"} | took > 10'),
    ('sum(rate({a="b"}[1m])) > 1_0', 'OK sum (rate({a="b"} [1m])) > 10'),
    ('sum(rate({a="b"}[1m])) > 0x1p-2', 'OK sum (rate({a="b"} [1m])) > 0.25'),
    (
        'sum(rate({a="b"}[1m])) > 0x10',
        FLOAT + '"0x10": invalid syntax',
    ),
    (
        'sum(rate({a="b"}[1m])) > 1e400',
        FLOAT + '"1e400": value out of range',
    ),
    (
        '{a="b"} | took > 1e400',
        FLOAT + '"1e400": value out of range',
    ),
    (
        '{a="b"} | took > 0x10',
        FLOAT + '"0x10": invalid syntax',
    ),
    ('topk(1_0, rate({a="b"}[1m]))', "parse error : invalid parameter topk(1_0,"),
    ('topk(010, rate({a="b"}[1m]))', 'OK topk (010, rate({a="b"} [1m]))'),
    ('sum(rate({a="b"}[1m])) > 1EB', "parse error at line 1, col 26: exponent has no digits"),
    (
        'sum(rate({a="b"}[1m])) > 09',
        "parse error at line 1, col 26: invalid digit '9' in octal literal",
    ),
    (
        'sum(rate({a="b"}[1m])) > 0b1',
        "parse error at line 1, col 26: decimal literal has no digits",
    ),
    (
        'sum(rate({a="b"}[1m]))>0b1',
        FLOAT + '"0b1": invalid syntax',
    ),
    ("sum(>= 1)", "parse error at line 0, col 5: syntax error: unexpected >="),
    (
        '{a=~"b" |= "x"}',
        "parse error at line 0, col 9: syntax error: unexpected |=, expecting } or ,",
    ),
    (
        '{a="b"} | json --strict',
        "parse error at line 0, col 16: syntax error: unexpected FUNCTION_FLAG",
    ),
    (
        '{a="b"} | logfmt --strict1',
        "parse error at line 1, col 26: syntax error: unexpected NUMBER",
    ),
    ("{app='foo'}", "parse error at line 1, col 6: invalid char literal"),
    (
        "{app=\"foo\"} |= 'x'",
        "parse error at line 1, col 16: syntax error: unexpected IDENTIFIER, "
        "expecting STRING or ip",
    ),
    ('{app="foo"} | ~="x"', 'OK {app="foo"} | ~="x"'),
    ('{app="foo"} ; ', "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"),
    ('{app="foo"} @ 5', "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"),
    ("{app='foo", "parse error at line 1, col 6: literal not terminated"),
    (
        '{ap.+"}',
        "parse error at line 1, col 4: syntax error: unexpected ., expecting = or =~ or !~ or !=",
    ),
    ('{a="b"} ]', "parse error at line 1, col 9: syntax error: unexpected ]"),
    (
        '{e{env="dev"}',
        "parse error at line 1, col 3: syntax error: unexpected {, expecting = or =~ or !~ or !=",
    ),
    (
        'sum(count_over_time({job="3"}[1m]))))',
        "parse error at line 1, col 36: syntax error: unexpected )",
    ),
    ('rate({a="b"}[3m--])', 'parse error at line 0, col 13: unknown unit "m--" in duration "3m--"'),
    ('rate({a="b"}[1.5h])', 'parse error at line 0, col 13: unknown unit "." in duration "1.5h"'),
    ('rate({a="b"}[1m1h])', 'parse error at line 0, col 13: not a valid duration string: "1m1h"'),
    ('rate({a="b"}[1h1h])', 'parse error at line 0, col 13: not a valid duration string: "1h1h"'),
    ('rate({a="b"}[106752d])', "parse error at line 0, col 13: duration out of range"),
    ('rate({a="b"}[5])', 'parse error at line 0, col 13: not a valid duration string: "5"'),
    ('rate({a="b"}[])', "parse error at line 0, col 13: empty duration string"),
    ('{a="b"}\t|= "x"', 'OK {a="b"} |= "x"'),
    ('{a="b"}|="x"', 'OK {a="b"} |= "x"'),
    # expected tokens as goyacc lists them, after its default reductions
    (
        '{job="test2"="test2"}',
        "parse error at line 1, col 13: syntax error: unexpected =, expecting } or ,",
    ),
    (
        '{foo=~"ba.*"',
        "parse error at line 1, col 13: syntax error: unexpected $end, expecting } or ,",
    ),
    (
        'sum(count_over_time({job="3"}[1m]))))',
        "parse error at line 1, col 36: syntax error: unexpected )",
    ),
    (
        'avg without (pod, zon(count_over_time({app=~"foo|bar"}[1m]))',
        "parse error at line 1, col 22: syntax error: unexpected (, expecting , or )",
    ),
    (
        'max by (ara by (rate({a=~".+"}[2s]))',
        "parse error at line 1, col 13: syntax error: unexpected by, expecting , or )",
    ),
    # a range Loki's lexer cannot read ends the input there
    ('{foo="bar"}[5x]', 'parse error at line 0, col 12: unknown unit "x" in duration "5x"'),
    (
        'first_over_time({name[1jsonm]space="tns"} | json [5m])',
        'parse error at line 0, col 22: unknown unit "jsonm" in duration "1jsonm"',
    ),
    (
        'sum(count_over_time({foo="bar"}[5mar"}[5m]))',
        'parse error at line 0, col 32: unknown unit "mar\\"}[" in duration "5mar\\"}[5m"',
    ),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_as_lokis_parser(query: str, expected: str) -> None:
    try:
        got = "OK " + logql2sql.format(logql2sql.parse(query))
    except logql2sql.LogQLError as err:
        got = str(err)
    assert got == expected


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1d", 86_400 * 10**9),  # Prometheus' units first
        ("1h30m", 5_400 * 10**9),
        ("1.5h", 5_400 * 10**9),  # then Go's syntax
        ("1.h", 3_600 * 10**9),
        ("-0", 0),
        ("2562047h", 2_562_047 * 3_600 * 10**9),
        ("1.5d", None),  # neither: Prometheus takes no fractions, Go no days
        ("1m1d", None),
        ("2562048h", None),  # past int64 nanoseconds in both
    ],
)
def test_loki_duration(text: str, ns: int | None) -> None:
    assert loki_duration(text) == ns


def test_binary_prefix_depends_on_the_preceding_character() -> None:
    """Loki's scanner takes `0b` as a binary prefix only when the character after the
    previous token is `0` or `1`: a number touching the previous token."""
    spaced = 'sum(rate({a="b"}[1m])) > 0b1'
    touching = 'sum(rate({a="b"}[1m]))>0b1'
    with pytest.raises(logql2sql.LogQLError, match="decimal literal has no digits"):
        logql2sql.parse(spaced)
    with pytest.raises(logql2sql.LogQLError, match='parsing "0b1": invalid syntax'):
        logql2sql.parse(touching)
