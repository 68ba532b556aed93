"""`ip("…")` matching: the pattern parser, and the SQL scanner against a byte-level reference.

The reference below walks the text byte by byte the way Loki's `ipFilter.filter` does (hint,
run of address characters, parse, skip one byte after the run); the SQL that `ip_contains`
emits must agree with it on every text, including runs that start inside words, short IPv6
addresses at the very end of a text (whose hint reads past it), and non-ASCII bytes.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from logql2sql.errors import LogQLError
from logql2sql.ipmatch import IpRange, ip_contains, parse_addr, parse_pattern

_V4 = frozenset(b"0123456789.")
_V6 = frozenset(b"0123456789abcdefABCDEF:.")
_HEX = frozenset(b"0123456789abcdefABCDEF")


def reference(text: str, rng: IpRange | None) -> bool:
    """Loki's scan of `text` for an address inside `rng`, on UTF-8 bytes."""
    if rng is None:
        return False
    b = text.encode()
    n = len(b)

    def run(i: int, charset: frozenset[int]) -> tuple[bool, int]:
        j = i
        while j < n and b[j] in charset:
            j += 1
        addr = parse_addr(b[i:j].decode())
        inside = (
            addr is not None
            and not addr.zone
            and addr.bits == rng.bits
            and rng.lo <= addr.value <= rng.hi
        )
        return inside, j - i

    i = 0
    while i < n:
        c = (b[i : i + 5] + bytes(5))[:5]  # bytes past the end read as 0 (Loki 3.7.4+)
        v4_hint = i + 3 < n and c[0] in b"0123456789" and ord(".") in c[1:4]
        v6_hint = (c[0] == c[1] == ord(":") and c[2] in _HEX) or any(
            all(x in _HEX for x in c[:k]) and c[k] == ord(":") for k in range(1, 5)
        )
        if v4_hint or v6_hint:
            inside, length = run(i, _V4 if v4_hint else _V6)
            if inside:
                return True
            i += length + 1
        else:
            i += 1
    return False


def sql_matches(texts: list[str], pattern: str) -> list[bool]:
    rng = parse_pattern(pattern)
    query = exp.select(ip_contains(exp.column("t"), rng).as_("m")).from_("texts")
    con = duckdb.connect()
    con.execute("CREATE TABLE texts (i INTEGER, t VARCHAR)")
    con.executemany("INSERT INTO texts VALUES (?, ?)", list(enumerate(texts)))
    rows = con.execute(query.order_by("i").sql(dialect="duckdb")).fetchall()
    return [bool(r[0]) for r in rows]


PATTERNS = [
    "10.0.0.0/8",
    "192.168.1.5",
    "1.2.3.0-1.2.3.9",
    "2001:db8::/32",
    "::1",
    "::ffff:0.0.0.0/96",
    "0.0.0.0/0",
    "a::b",
]
EXAMPLES = [
    "src 192.168.1.10 ok",
    "client 10.0.0.7:80",
    "2001:db8::1",
    "x ::1",
    "::1",
    "::1é",
    "::1 é",
    "dead:1.2.3.4",
    "1x5.6.7.8",
    "1.a:b::1 z",
    "a::b xx",
    "::ffff:1.2.3.4 ",
    "10.0.0.01 x",
    "010.0.0.1 x",
    "10.0.0.1é",
    "1:2:3:4:5:6:1.2.3.4 ",
    "1:::2 xxxxx",
    "",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_examples_agree_with_reference(pattern):
    rng = parse_pattern(pattern)
    assert sql_matches(EXAMPLES, pattern) == [reference(t, rng) for t in EXAMPLES]


_PIECES = st.sampled_from(
    ["1", "0", "2", "5", "9", ".", ":", "::", "a", "f", "F", "x", " ", "é", "1.2.3.4", "ffff:"]
)


@settings(max_examples=10, deadline=None)
@given(texts=st.lists(st.lists(_PIECES, max_size=12).map("".join), min_size=20, max_size=40))
def test_random_texts_agree_with_reference(texts):
    for pattern in ("10.0.0.0/8", "::/0", "::ffff:0.0.0.0/96", "1.2.3.4"):
        rng = parse_pattern(pattern)
        assert sql_matches(texts, pattern) == [reference(t, rng) for t in texts]


@pytest.mark.parametrize(
    ("pattern", "lo", "hi"),
    [
        ("10.0.0.0/8", "10.0.0.0", "10.255.255.255"),
        ("192.168.1.5/24", "192.168.1.0", "192.168.1.255"),
        ("1.2.3.4", "1.2.3.4", "1.2.3.4"),
        ("1.2.3.1-1.2.3.9", "1.2.3.1", "1.2.3.9"),
        ("2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4", "::ffff:1.2.3.4"),
    ],
)
def test_pattern_bounds(pattern, lo, hi):
    rng = parse_pattern(pattern)
    assert rng is not None
    low, high = parse_addr(lo), parse_addr(hi)
    assert low is not None and high is not None
    assert (rng.bits, rng.lo, rng.hi) == (low.bits, low.value, high.value)


@pytest.mark.parametrize(
    "pattern",
    ["", "bogus", "1.2.3", "01.2.3.4", "1.2.3.256", "1.2.3.4/33", "1.2.3.4/08", "1.2.3.4/",
     "1.2.3.9-1.2.3.1", "1.2.3.4-::1", "1:2:3:4:5:6:7:8::", "1::2::3", "1.2.3.4 - 1.2.3.5"],
)  # fmt: skip
def test_invalid_patterns_fail_like_loki(pattern):
    with pytest.raises(LogQLError, match=r'^ip: invalid pattern: ".*"$'):
        parse_pattern(pattern)


def test_zoned_address_matches_nothing():
    """Go's ParseAddr takes anything after `%` as the zone; an unzoned text never equals it."""
    assert parse_pattern("fe80::1%eth0") is None
    assert parse_pattern("::1%eth0/64") is None
    assert sql_matches(["fe80::1 x", "fe80::1%eth0 x"], "fe80::1%eth0") == [False, False]
