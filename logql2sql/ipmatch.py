"""`ip("…")` filters: Loki's address matching, lowered to portable SQL.

Loki (`pkg/logql/log/ip.go`) accepts a pattern that is a single address, a CIDR prefix or an
`a-b` range (IPv4 or IPv6, parsed as Go's `net/netip` and `go4.org/netipx` parse them) and
looks for matching addresses *inside* a text (the line for `|= ip(…)`, the label value for
`| name = ip(…)`). The text is not tokenised on word boundaries; a byte scanner walks it:

- at byte `i`, when there are at least 4 bytes left and `text[i]` is a digit with a `.` in
  one of the next three bytes (the IPv4 hint), the longest run of `[0-9.]` from `i` is parsed
  as an address;
- otherwise, with an IPv6 hint (`::h`, or 1–4 hex digits then `:`; since Loki 3.7.4 bytes
  past the end read as none, so a short address at the end of the text counts), the
  longest run of `[0-9a-fA-F:.]` is parsed;
- a run that parses and lies in the pattern's range is a match; otherwise the scan resumes
  one byte *after* the run (the byte that ended it is skipped).

That scan is reproduced by one RE2 tokenizer whose successive, non-overlapping matches are
exactly the scanner's steps (`TOKENIZER`, alternatives in the scanner's order, each hint
case spelled out so that the bytes a step consumes are the bytes the regex consumes). Non
ASCII characters are first widened to one placeholder per UTF-8 byte so that the "bytes
left" conditions count bytes, as Go does. The candidate runs are then validated and
compared in SQL: an IPv4 run as its four octets, an IPv6 run as its eight 16-bit groups
(`::` expanded, an embedded dotted quad turned into two groups), compared as integer lists
with the pattern's bounds, which Python computes once. Address families never mix (an
IPv4-mapped IPv6 address is IPv6), as in Go.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from logql2sql.errors import LogQLError
from logql2sql.lexical import quote
from logql2sql.sqlbuild import (
    array,
    case,
    cast,
    col,
    fn,
    item,
    lam,
    let,
    lit,
    negate,
    num,
    try_cast,
)

# ------------------------------------------------------------------ the pattern, in Python


@dataclass(frozen=True)
class Addr:
    """A parsed address: `bits` 32 or 128, its integer `value`, and an IPv6 `zone`."""

    bits: int
    value: int
    zone: str = ""


@dataclass(frozen=True)
class IpRange:
    """What an `ip()` pattern matches: addresses of one family between `lo` and `hi`."""

    bits: int
    lo: int
    hi: int


def _parse_v4(s: str) -> int | None:
    """Go's `parseIPv4`: four decimal fields, 0–255, no leading zeros."""
    fields = s.split(".")
    if len(fields) != 4:
        return None
    value = 0
    for f in fields:
        if not f or len(f) > 3 or not f.isascii() or not f.isdigit():
            return None
        if len(f) > 1 and f[0] == "0":
            return None
        n = int(f)
        if n > 255:
            return None
        value = value * 256 + n
    return value


def _hex_group(s: str) -> int | None:
    if not 1 <= len(s) <= 4 or any(c not in "0123456789abcdefABCDEF" for c in s):
        return None
    return int(s, 16)


def _parse_v6(s: str) -> int | None:
    """Go's `parseIPv6` without the zone: hex groups, one `::`, an optional dotted quad."""
    tail: list[int] = []
    if "." in s:
        head, sep, quad = s.rpartition(":")
        v4 = _parse_v4(quad)
        if not sep or v4 is None:
            return None
        tail = [v4 >> 16, v4 & 0xFFFF]
        s = head + ":" if head.endswith(":") else head
        if not s:
            return None
    halves = s.split("::")
    if len(halves) > 2:
        return None

    def groups(text: str) -> list[int] | None:
        if not text:
            return []
        out = [_hex_group(g) for g in text.split(":")]
        return None if any(g is None for g in out) else out  # type: ignore[return-value]

    left = groups(halves[0])
    right = groups(halves[1]) if len(halves) == 2 else []
    if left is None or right is None:
        return None
    if len(halves) == 1 and not halves[0]:
        return None
    total = len(left) + len(right) + len(tail)
    if (len(halves) == 2 and total > 7) or (len(halves) == 1 and total != 8):
        return None
    full = left + [0] * (8 - total) + right + tail
    value = 0
    for g in full:
        value = (value << 16) | g
    return value


def parse_addr(s: str) -> Addr | None:
    """Go's `netip.ParseAddr` (IPv4 dotted quad, IPv6 with an optional `%zone`)."""
    for ch in s:
        if ch == ".":
            v = _parse_v4(s)
            return None if v is None else Addr(32, v)
        if ch == ":":
            text, _, zone = s.partition("%")
            if "%" in s and not zone:
                return None
            v = _parse_v6(text)
            return None if v is None else Addr(128, v, zone)
        if ch == "%":
            return None
    return None


def _parse_prefix(s: str) -> IpRange | None:
    """Go's `netip.ParsePrefix`: `addr/bits`, no zone, bits without sign or leading zero."""
    addr_text, sep, bits_text = s.rpartition("/")
    if not sep:
        return None
    addr = parse_addr(addr_text)
    if addr is None or addr.zone:
        return None
    if not bits_text.isascii() or not bits_text.isdigit():
        return None
    if len(bits_text) > 1 and bits_text[0] == "0":
        return None
    n = int(bits_text)
    if n > addr.bits:
        return None
    host = addr.bits - n
    lo = (addr.value >> host) << host
    return IpRange(addr.bits, lo, lo | ((1 << host) - 1))


def _parse_range(s: str) -> IpRange | None:
    """`netipx.ParseIPRange`: `from-to`, same family, from <= to."""
    first, sep, second = s.partition("-")
    if not sep:
        return None
    lo, hi = parse_addr(first), parse_addr(second)
    if lo is None or hi is None or lo.bits != hi.bits or lo.zone != hi.zone:
        return None
    if (lo.value, lo.zone) > (hi.value, hi.zone):
        return None
    # An unzoned candidate sorts before a zoned address with the same bits.
    start = lo.value + 1 if lo.zone else lo.value
    return IpRange(lo.bits, start, hi.value)


def parse_pattern(pattern: str) -> IpRange | None:
    """The addresses `ip(pattern)` matches; None when it can match nothing (a zoned address).

    Raises `LogQLError("ip: invalid pattern: …")` as Loki does for anything else.

    >>> parse_pattern("10.0.0.0/8")
    IpRange(bits=32, lo=167772160, hi=184549375)
    >>> parse_pattern("192.168.1.1-192.168.1.9").hi - parse_pattern("192.168.1.1-192.168.1.9").lo
    8
    """
    addr = parse_addr(pattern)
    if addr is not None:
        return None if addr.zone else IpRange(addr.bits, addr.value, addr.value)
    for parse in (_parse_prefix, _parse_range):
        found = parse(pattern)
        if found is not None:
            return found if found.lo <= found.hi else None
    raise LogQLError(f"ip: invalid pattern: {quote(pattern)}")


# ------------------------------------------------------------------ the scanner, as RE2

_ANY = "(?s:.)"
_V4_RUN = r"[0-9.]*"
_V6_RUN = r"[0-9a-fA-F:.]*"
# Successive matches are the scanner's steps; groups 1 and 2 are IPv4 runs, 3 IPv6 runs.
TOKENIZER = "|".join(
    [
        # Near the end (fewer than 4 bytes left) Go's scan takes no IPv4 step while these
        # alternatives may consume a few bytes: no address fits in them either way.
        rf"([0-9]{{1,3}}\.{_V4_RUN}){_ANY}?",  # IPv4 hint, run of digits and dots
        r"[0-9][^0-9.]\.",  # hint true, run "d": skip it and the next byte ('.' follows)
        rf"[0-9][^0-9.]([0-9]\.{_V4_RUN}){_ANY}?",  # run "d", then a hinted run at byte 2
        r"[0-9][^0-9.][^0-9.]\.",  # run "d"; byte 2 can start nothing before the '.'
        r"[0-9][0-9][^0-9.]\.",  # run "dd", skipped with the next byte; '.' follows
        rf"((?:::[0-9a-fA-F]|[0-9a-fA-F]{{1,4}}:){_V6_RUN}){_ANY}?",  # IPv6 hint and run
        _ANY,
    ]
)
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
V4_RE = rf"{_OCTET}(\.{_OCTET}){{3}}"
_HEX_GROUP = "[0-9a-fA-F]{1,4}"


def _bytes_as_chars(text: exp.Expression) -> exp.Expression:
    """Each non-ASCII character widened to one placeholder per UTF-8 byte (`~`)."""
    for pattern, repl in (
        ("[\\x{10000}-\\x{10FFFF}]", "~~~~"),
        ("[\\x{800}-\\x{FFFF}]", "~~~"),
        ("[\\x{80}-\\x{7FF}]", "~~"),
    ):
        text = fn("regexp_replace", text, lit(pattern), lit(repl), lit("g"))
    return text


def _ints(values: list[int]) -> exp.Expression:
    return array(*[num(v) for v in values])


def _v4_key(c: exp.Expression) -> exp.Expression:
    parts = fn("string_split", c, lit("."))
    return fn("list_transform", parts, lam(["o"], try_cast(col("o"), "INTEGER")))


def _hex_values(groups: exp.Expression) -> exp.Expression:
    as_int = try_cast(exp.DPipe(this=lit("0x"), expression=col("g")), "INTEGER")
    return fn("list_transform", groups, lam(["g"], as_int))


def _split_groups(text: exp.Expression) -> exp.Expression:
    return case(
        (exp.EQ(this=text, expression=lit("")), cast(array(), "VARCHAR[]")),
        default=fn("string_split", text, lit(":")),
    )


def _v6_match(c: exp.Expression, rng: IpRange) -> exp.Expression:
    """An IPv6 run `c` is a valid address inside `rng` (as Go's `parseIPv6` reads it)."""
    has4 = fn("contains", c, lit("."))
    q = col("q")
    v4_ok = exp.or_(negate(has4), exp.NEQ(this=q, expression=lit("")), copy=False)
    head0 = fn("left", c, exp.Sub(this=fn("length", c), expression=fn("length", q)))
    head = case(
        (
            exp.And(this=has4, expression=negate(fn("ends_with", head0, lit("::")))),
            fn("left", head0, exp.Sub(this=fn("length", head0), expression=num(1))),
        ),
        default=head0,
    )
    halves = fn("string_split", col("h"), lit("::"))
    n_halves = fn("len", halves)
    left = _split_groups(item(halves, 1))
    right = case(
        (
            exp.EQ(this=n_halves, expression=num(2)),
            _split_groups(item(halves, 2)),
        ),
        default=cast(array(), "VARCHAR[]"),
    )
    octets = _v4_key(col("q"))

    def octet(i: int) -> exp.Expression:
        return item(octets, i)

    quad_groups = case(
        (
            has4,
            array(
                exp.Add(this=exp.Mul(this=octet(1), expression=num(256)), expression=octet(2)),
                exp.Add(this=exp.Mul(this=octet(3), expression=num(256)), expression=octet(4)),
            ),
        ),
        default=cast(array(), "INTEGER[]"),
    )
    all_groups = fn("list_concat", col("lg"), col("rg"))
    bad_group = fn(
        "list_filter",
        all_groups,
        lam(["g"], negate(fn("regexp_full_match", col("g"), lit(_HEX_GROUP)))),
    )
    total = exp.Paren(
        this=exp.Add(
            this=exp.Add(this=fn("len", col("lg")), expression=fn("len", col("rg"))),
            expression=fn("len", col("qg")),
        )
    )
    count_ok = case(
        (
            exp.EQ(this=fn("len", col("hv")), expression=num(2)),
            exp.LTE(this=total, expression=num(7)),
        ),
        default=exp.EQ(this=total, expression=num(8)),
    )
    zeros = fn(
        "list_transform",
        fn("range", exp.Sub(this=num(8), expression=total)),
        lam(["z"], cast(num(0), "INTEGER")),
    )
    key = fn(
        "list_concat",
        fn("list_concat", _hex_values(col("lg")), zeros),
        fn("list_concat", _hex_values(col("rg")), col("qg")),
    )
    lo = _ints([(rng.lo >> (16 * (7 - i))) & 0xFFFF for i in range(8)])
    hi = _ints([(rng.hi >> (16 * (7 - i))) & 0xFFFF for i in range(8)])
    inside = case(
        (
            exp.And(
                this=exp.And(
                    this=exp.LTE(this=fn("len", col("hv")), expression=num(2)),
                    expression=exp.EQ(this=fn("len", bad_group), expression=num(0)),
                ),
                expression=count_ok,
            ),
            exp.And(
                this=exp.GTE(this=key, expression=lo), expression=exp.LTE(this=key, expression=hi)
            ),
        ),
        default=exp.false(),
    )
    # Bind the intermediate values once each: h (head), hv (its halves), lg/rg (groups), qg.
    body = let(right, "rg", let(quad_groups, "qg", inside))
    body = let(left, "lg", body)
    body = let(halves, "hv", body)
    body = let(head, "h", exp.and_(v4_ok, body, copy=False))
    quad = fn("regexp_extract", c, lit(f":({V4_RE})$"), num(1))
    return let(quad, "q", body)


def _v4_match(c: exp.Expression, rng: IpRange) -> exp.Expression:
    lo = _ints([(rng.lo >> (8 * (3 - i))) & 0xFF for i in range(4)])
    hi = _ints([(rng.hi >> (8 * (3 - i))) & 0xFF for i in range(4)])
    key = _v4_key(c)
    return exp.And(
        this=fn("regexp_full_match", c, lit(V4_RE)),
        expression=exp.And(
            this=exp.GTE(this=key, expression=lo), expression=exp.LTE(this=key, expression=hi)
        ),
    )


def ip_contains(text: exp.Expression, rng: IpRange | None) -> exp.Expression:
    """True when Loki's scanner finds an address of `rng` in `text` (NULL text: false)."""
    if rng is None:
        return exp.false()
    scanned = _bytes_as_chars(text)
    groups = (1, 2) if rng.bits == 32 else (3,)
    runs: exp.Expression | None = None
    for g in groups:
        found = fn("regexp_extract_all", scanned, lit(TOKENIZER), num(g))
        runs = found if runs is None else fn("list_concat", runs, found)
    assert runs is not None
    c = col("c")
    valid = negate(exp.Is(this=c, expression=exp.Null()))
    test = _v4_match(c, rng) if rng.bits == 32 else _v6_match(c, rng)
    hits = fn("list_filter", runs, lam(["c"], exp.And(this=valid, expression=test)))
    return exp.Coalesce(
        this=exp.GT(this=fn("len", hits), expression=num(0)), expressions=[exp.false()]
    )
