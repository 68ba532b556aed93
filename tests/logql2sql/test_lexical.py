"""Byte sizes as go-humanize reads them, and durations in the three syntaxes Loki reads
them in: LogQL's (Go's syntax falling back to Prometheus' units), Prometheus' range
brackets, and Go's `time.ParseDuration` (HTTP parameters such as the delete API's
`max_interval`), with the Go parsers' wording."""

from __future__ import annotations

import pytest

from logql2sql.errors import ParseError
from logql2sql.lexical import parse_bytes, parse_duration

S = 1_000_000_000
H = 3600 * S


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h30m", 90 * 60 * S),
        ("1.5s", 1500 * 10**6),
        (".5m", 30 * S),
        ("1.s", S),
        ("+2m", 120 * S),
        ("-2m", -120 * S),
        ("0", 0),
        ("-0", 0),
        ("1µs", 1000),
        ("1μs", 1000),  # Greek mu, as Go also takes
        ("3ns", 3),
        ("2562047h", 2562047 * H),
    ],
)
def test_go_syntax_takes_what_time_parse_duration_takes(text: str, expected: int) -> None:
    assert parse_duration(text, syntax="go") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("1w", 'time: unknown unit "w" in duration "1w"'),
        ("5", 'time: missing unit in duration "5"'),
        ("1H", 'time: unknown unit "H" in duration "1H"'),
        ("1 s", 'time: unknown unit " s" in duration "1 s"'),
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        (".s", 'time: invalid duration ".s"'),
        ("s", 'time: invalid duration "s"'),
        ("2562048h", 'time: invalid duration "2562048h"'),  # past int64 nanoseconds
    ],
)
def test_go_syntax_refuses_with_gos_wording(text: str, message: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_duration(text, syntax="go")
    assert err.value.msg == message


def test_logql_syntax_adds_prometheus_units_and_prometheus_syntax_takes_integers_only() -> None:
    assert parse_duration("1d") == 24 * H
    assert parse_duration("1w1d") == 8 * 24 * H
    assert parse_duration("1y") == 365 * 24 * H
    assert parse_duration("1.5h") == 90 * 60 * S
    assert parse_duration("5m", syntax="prometheus") == 300 * S
    assert parse_duration("0", syntax="prometheus") == 0
    for text in ("1.5h", "-5m", "5us", "", "5"):
        with pytest.raises(ParseError):
            parse_duration(text, syntax="prometheus")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1m1h", 'not a valid duration string: "1m1h"'),
        ("1h1h", 'not a valid duration string: "1h1h"'),
        ("1s1ms1s", 'not a valid duration string: "1s1ms1s"'),
        ("18446744073709551616ms", 'not a valid duration string: "18446744073709551616ms"'),
        ("300000y", "duration out of range"),
        ("1.5h", 'unknown unit "." in duration "1.5h"'),
        ("1h1.m", 'unknown unit ".m" in duration "1h1.m"'),
        (".5h", 'not a valid duration string: ".5h"'),
        ("292y1000w", "duration out of range"),
    ],
)
def test_prometheus_syntax_takes_units_largest_first_and_within_range(text, message) -> None:
    """As Prometheus' `model.ParseDuration`, which Loki's lexer uses for range brackets."""
    with pytest.raises(ParseError) as err:
        parse_duration(text, syntax="prometheus")
    assert err.value.msg == message


def test_prometheus_syntax_sums_units_largest_first() -> None:
    parsed = parse_duration("1y2w3d4h5m6s7ms", syntax="prometheus")
    assert parsed == ((((365 + 14 + 3) * 24 + 4) * 60 + 5) * 60 + 6) * S + 7 * 10**6
    assert parse_duration("292y", syntax="prometheus") == 292 * 365 * 24 * H


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("20KB", 20_000),
        ("20kb", 20_000),
        ("1KiB", 1024),
        ("1.5 MiB", 1_572_864),
        ("1,024 kb", 1_024_000),
        ("3 k ", 3000),
        ("1.", 1),
        ("15EiB", 15 * 2**60),
        (" 5kb", None),  # the number comes first
        ("5 k b", None),
        (".", None),
        ("1.2.3kb", None),
        ("١٢kb", None),  # Go's ParseFloat reads ASCII digits only
        ("16EiB", None),  # 2**64 does not fit go-humanize's uint64
        ("1e3", None),
    ],
)
def test_byte_sizes_read_as_go_humanize_parse_bytes(text: str, expected: int | None) -> None:
    assert parse_bytes(text) == expected
