"""Go time layouts (`2006-01-02T15:04:05Z07:00`) as SQL: formatting and parsing in UTC.

`layout_chunks(layout)` splits a layout the way Go's `time.nextStdChunk` does. `format_time`
prints a time (HUGEINT nanoseconds since the epoch) with a layout, element by element with
civil-date arithmetic valid for every year Go prints with four digits; `parse_time` is
`time.ParseInLocation(layout, value, UTC)` as `toDate` uses it: a regex built from the
layout decides whether Go accepts the value (field widths, ranges, days per month) and the
civil date becomes nanoseconds; a value Go rejects gives Go's zero time, as `toDate`
swallows the error. Loki's process is taken to run in UTC (its images set no time zone), so
`Local` is UTC. `toDateInZone` reads wall-clock times in an IANA zone through DuckDB's
ICU `timezone()`, for the zones whose offsets Go and ICU agree on (`template_zones`).
Layout elements with no exact SQL (zone names in parsing, month and day names in parsing,
`PM` in parsing) raise `UnsupportedInDialect`.
"""

from __future__ import annotations

import re

from sqlglot import exp

from logql2sql.errors import UnsupportedInDialect
from logql2sql.sqlbuild import case, cast, fn, lit, num
from logql2sql.template_values import bound, concat

NS = 1_000_000_000
ZERO_TIME_S = -62135596800
"""Go's zero `time.Time` (January 1, year 1, UTC) in Unix seconds."""

_CHUNKS = [
    ("January", "January"),
    ("Jan", "Jan"),
    ("Monday", "Monday"),
    ("Mon", "Mon"),
    ("MST", "MST"),
    ("2006", "2006"),
    ("002", "002"),
    ("__2", "__2"),
    ("_2", "_2"),
    ("-070000", "-070000"),
    ("-07:00:00", "-07:00:00"),
    ("-0700", "-0700"),
    ("-07:00", "-07:00"),
    ("-07", "-07"),
    ("Z070000", "Z070000"),
    ("Z07:00:00", "Z07:00:00"),
    ("Z0700", "Z0700"),
    ("Z07:00", "Z07:00"),
    ("Z07", "Z07"),
    ("PM", "PM"),
    ("pm", "pm"),
]


def layout_chunks(layout: str) -> list[tuple[str, str]]:
    """The layout as (kind, text) pairs: kind "lit" for literal text, else the std name."""
    out: list[tuple[str, str]] = []
    i = lit_start = 0
    while i < len(layout):
        std = _std_at(layout, i)
        if std is None:
            i += 1
            continue
        kind, length = std
        if kind == "_2006":  # `_2006` is a literal `_` then the year
            if i + 1 > lit_start:
                out.append(("lit", layout[lit_start : i + 1]))
            out.append(("2006", "2006"))
            i += 5
        else:
            if i > lit_start:
                out.append(("lit", layout[lit_start:i]))
            out.append((kind, layout[i : i + length]))
            i += length
        lit_start = i
    if lit_start < len(layout):
        out.append(("lit", layout[lit_start:]))
    return out


def _std_at(layout: str, i: int) -> tuple[str, int] | None:
    rest = layout[i:]
    c = rest[0]
    if c == "J" and rest.startswith("Jan"):
        if rest.startswith("January"):
            return "January", 7
        if not rest[3:4].islower():
            return "Jan", 3
    if c == "M":
        if rest.startswith("Mon"):
            if rest.startswith("Monday"):
                return "Monday", 6
            if not rest[3:4].islower():
                return "Mon", 3
        if rest.startswith("MST"):
            return "MST", 3
    if c == "0":
        if len(rest) >= 2 and "1" <= rest[1] <= "6":
            return {"1": "01", "2": "02", "3": "03", "4": "04", "5": "05", "6": "06"}[rest[1]], 2
        if rest.startswith("002"):
            return "002", 3
    if c == "1":
        return ("15", 2) if rest.startswith("15") else ("1", 1)
    if c == "2":
        return ("2006", 4) if rest.startswith("2006") else ("2", 1)
    if c == "_":
        if rest.startswith("_2"):
            return ("_2006", 5) if rest.startswith("_2006") else ("_2", 2)
        if rest.startswith("__2"):
            return "__2", 3
    if c in "345":
        return c, 1
    if c in "Pp" and rest[:2] in ("PM", "pm"):
        return rest[:2], 2
    if c in "-Z":
        for name in ("070000", "07:00:00", "0700", "07:00", "07"):
            if rest[1:].startswith(name):
                return c + name, 1 + len(name)
    if c in ".," and len(rest) > 1 and rest[1] in "09":
        j = 1
        while j < len(rest) and rest[j] == rest[1]:
            j += 1
        if not rest[j : j + 1].isdigit():
            return ("frac0" if rest[1] == "0" else "frac9"), j
    return None


# ------------------------------------------------------------------ formatting


def _floor_div(a: exp.Expression, b: int) -> exp.Expression:
    """Integer division rounding down (SQL's `//` truncates toward zero)."""
    remainder = exp.Mod(
        this=exp.Add(this=exp.Mod(this=a, expression=num(b)), expression=num(b)), expression=num(b)
    )
    return exp.IntDiv(this=exp.Sub(this=a.copy(), expression=remainder), expression=num(b))


def split_time(ns: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    """(Unix seconds, nanoseconds 0..999999999) of a time in nanoseconds."""
    secs = cast(_floor_div(cast(ns, "HUGEINT"), NS), "BIGINT")
    nanos = cast(
        exp.Mod(
            this=exp.Add(
                this=exp.Mod(this=cast(ns.copy(), "HUGEINT"), expression=num(NS)),
                expression=num(NS),
            ),
            expression=num(NS),
        ),
        "BIGINT",
    )
    return secs, nanos


def _pad(value: exp.Expression, width: int, fill: str = "0") -> exp.Expression:
    return fn("lpad", cast(value, "VARCHAR"), num(width), lit(fill))


def format_time(ns: exp.Expression, layout: str) -> exp.Expression:
    """Go's `t.Format(layout)` of a UTC time given in nanoseconds (HUGEINT)."""
    secs, nanos = split_time(ns)
    ts = fn("make_timestamp", exp.Mul(this=secs, expression=num(1_000_000)))
    parts: list[exp.Expression] = []
    for kind, text in layout_chunks(layout):
        parts.append(_format_chunk(kind, text, ts, nanos))
    return concat(*parts)


def _format_chunk(
    kind: str, text: str, ts: exp.Expression, nanos: exp.Expression
) -> exp.Expression:
    def part(name: str) -> exp.Expression:
        return fn(name, ts.copy())

    hour12 = case(
        (exp.EQ(this=exp.Mod(this=part("hour"), expression=num(12)), expression=num(0)), num(12)),
        default=exp.Mod(this=part("hour"), expression=num(12)),
    )
    simple = {
        "lit": lambda: lit(text),
        "2006": lambda: _pad(part("year"), 4),
        "06": lambda: _pad(exp.Mod(this=part("year"), expression=num(100)), 2),
        "01": lambda: _pad(part("month"), 2),
        "1": lambda: cast(part("month"), "VARCHAR"),
        "Jan": lambda: fn("strftime", ts.copy(), lit("%b")),
        "January": lambda: fn("strftime", ts.copy(), lit("%B")),
        "02": lambda: _pad(part("day"), 2),
        "2": lambda: cast(part("day"), "VARCHAR"),
        "_2": lambda: _pad(part("day"), 2, " "),
        "002": lambda: _pad(part("dayofyear"), 3),
        "__2": lambda: _pad(part("dayofyear"), 3, " "),
        "15": lambda: _pad(part("hour"), 2),
        "3": lambda: cast(hour12, "VARCHAR"),
        "03": lambda: _pad(hour12, 2),
        "04": lambda: _pad(part("minute"), 2),
        "4": lambda: cast(part("minute"), "VARCHAR"),
        "05": lambda: _pad(part("second"), 2),
        "5": lambda: cast(part("second"), "VARCHAR"),
        "PM": lambda: case(
            (exp.GTE(this=part("hour"), expression=num(12)), lit("PM")), default=lit("AM")
        ),
        "pm": lambda: case(
            (exp.GTE(this=part("hour"), expression=num(12)), lit("pm")), default=lit("am")
        ),
        "Mon": lambda: fn("strftime", ts.copy(), lit("%a")),
        "Monday": lambda: fn("strftime", ts.copy(), lit("%A")),
        "MST": lambda: lit("UTC"),
    }
    if kind in simple:
        return simple[kind]()
    if kind.startswith("Z"):
        return lit("Z")
    if kind.startswith("-"):
        return lit("+" + re.sub(r"\d", "0", kind[1:]))
    digits = _pad(nanos, 9)
    n = len(text) - 1
    if kind == "frac0":
        return concat(lit(text[0]), fn("left", digits, num(n)))
    trimmed = fn("rtrim", fn("left", digits, num(n)), lit("0"))
    return case(
        (exp.EQ(this=trimmed, expression=lit("")), lit("")),
        default=concat(lit(text[0]), trimmed.copy()),
    )


# ------------------------------------------------------------------ parsing


_FIELDS = {
    "2006": ("year", r"(\d{4})"),
    "01": ("month", r"(\d{2})"),
    "1": ("month", r"(\d{1,2})"),
    "02": ("day", r"(\d{2})"),
    "2": ("day", r"(\d{1,2})"),
    "_2": ("day", r" ?(\d{1,2})"),
    "15": ("hour", r"(\d{1,2})"),
    "04": ("minute", r"(\d{2})"),
    "4": ("minute", r"(\d{1,2})"),
    "05": ("second", r"(\d{2})"),
    "5": ("second", r"(\d{1,2})"),
}
_ZONES = {
    "Z07:00": r"(Z|[+-]\d{2}:\d{2})",
    "-07:00": r"([+-]\d{2}:\d{2})",
    "-0700": r"([+-]\d{4})",
    "Z0700": r"(Z|[+-]\d{4})",
    "-07": r"([+-]\d{2})",
    "Z07": r"(Z|[+-]\d{2})",
}


def parse_time(
    layout: str, value: exp.Expression, dialect: str, zone: str | None = None
) -> exp.Expression:
    """`time.ParseInLocation(layout, value, loc)` in nanoseconds; Go's zero time (as
    `toDate` returns it) where Go fails. `loc` is UTC, or the IANA `zone` (one of
    `template_zones.ZONES`, DuckDB only), which places a wall-clock time without an offset
    in the layout as Go's `time.Date` does (see `_zone_wall_clock`)."""
    chunks = layout_chunks(layout)
    pattern, groups = "", []
    for i, (kind, text) in enumerate(chunks):
        if kind == "lit":
            pattern += re.escape(text)
        elif kind in _FIELDS:
            name, rx = _FIELDS[kind]
            if name in (g for g, _ in groups):
                raise UnsupportedInDialect(f"toDate layout repeating {kind}", dialect)
            pattern += rx
            groups.append((name, None))
            nxt = chunks[i + 1][0] if i + 1 < len(chunks) else ""
            if name == "second" and nxt not in ("frac0", "frac9"):
                # Go reads a fraction after the seconds even when the layout has none
                pattern += r"(?:[.,](\d+))?"
                groups.append(("frac", None))
        elif kind in ("frac0", "frac9"):
            n = len(text) - 1
            pattern += rf"[.,](\d{{{n}}})" if kind == "frac0" else r"(?:[.,](\d+))?"
            groups.append(("frac", None))
        elif kind in _ZONES:
            pattern += _ZONES[kind]
            groups.append(("zone", None))
        else:
            raise UnsupportedInDialect(f"toDate layout element {text!r}", dialect)
    names = [g for g, _ in groups]

    def group(name: str, default: int) -> exp.Expression:
        if name not in names:
            return num(default)
        idx = names.index(name) + 1
        return cast(fn("regexp_extract", value.copy(), lit(f"^{pattern}$"), num(idx)), "BIGINT")

    year, month, day = group("year", 0), group("month", 1), group("day", 1)
    hour, minute, second = group("hour", 0), group("minute", 0), group("second", 0)
    frac = lit("0")
    if "frac" in names:
        raw = fn("regexp_extract", value.copy(), lit(f"^{pattern}$"), num(names.index("frac") + 1))
        frac = fn("rpad", fn("left", concat(raw, lit("")), num(9)), num(9), lit("0"))
    offset: exp.Expression = num(0)
    if "zone" in names:
        z = fn("regexp_extract", value.copy(), lit(f"^{pattern}$"), num(names.index("zone") + 1))
        digits = fn("replace", fn("substr", z, num(2)), lit(":"), lit(""))
        hh = cast(fn("left", digits, num(2)), "BIGINT")
        mm = exp.Coalesce(
            this=exp.TryCast(
                this=fn("substr", digits.copy(), num(3), num(2)), to=exp.DataType.build("BIGINT")
            ),
            expressions=[num(0)],
        )
        mag = exp.Add(
            this=exp.Mul(this=hh, expression=num(3600)),
            expression=exp.Mul(this=mm, expression=num(60)),
        )
        offset = case(
            (exp.EQ(this=z.copy(), expression=lit("Z")), num(0)),
            (fn("starts_with", z.copy(), lit("-")), exp.Neg(this=exp.Paren(this=mag))),
            default=mag.copy(),
        )
    days = _days_from_civil(year, month, day)
    secs = exp.Sub(
        this=exp.Add(
            this=exp.Mul(this=days, expression=num(86400)),
            expression=exp.Add(
                this=exp.Add(
                    this=exp.Mul(this=hour, expression=num(3600)),
                    expression=exp.Mul(this=minute, expression=num(60)),
                ),
                expression=second,
            ),
        ),
        expression=offset,
    )
    if zone is not None and "zone" not in names:
        if dialect != "duckdb":
            raise UnsupportedInDialect("toDate in a time zone other than UTC", dialect)
        secs = _zone_wall_clock(secs, zone)
    ns = exp.Add(
        this=exp.Mul(this=cast(secs, "HUGEINT"), expression=num(NS)),
        expression=cast(frac, "BIGINT"),
    )
    valid = fn("regexp_full_match", value.copy(), lit(pattern))
    checks = [valid]
    if "month" in names:
        checks.append(exp.Between(this=month.copy(), low=num(1), high=num(12)))
    if "day" in names:
        last = fn(
            "day",
            fn(
                "last_day",
                fn(
                    "make_date",
                    exp.Greatest(this=year.copy(), expressions=[num(1)]),
                    month.copy(),
                    num(1),
                ),
            ),
        )
        checks.append(exp.Between(this=day.copy(), low=num(1), high=last))
    if "hour" in names:
        checks.append(exp.LT(this=hour.copy(), expression=num(24)))
    if "minute" in names:
        checks.append(exp.LT(this=minute.copy(), expression=num(60)))
    if "second" in names:
        checks.append(exp.LT(this=second.copy(), expression=num(60)))
    ok = checks[0]
    for c in checks[1:]:
        # each check runs only where the previous ones passed (the casts need the match)
        ok = case((ok, c), default=exp.false())
    return case((ok, ns), default=cast(num(ZERO_TIME_S * NS), "HUGEINT"))


def _zone_wall_clock(local: exp.Expression, zone: str) -> exp.Expression:
    """Seconds since the epoch of wall-clock time `local` (seconds, read as if UTC) in
    `zone`, as Go's `time.Date` resolves it: offset `o1` in effect at instant `local`, then
    the offset in effect at `local - o1` (which differs from `o1` only when `local` falls
    in or next to a transition: a skipped time moves forward by the gap, a repeated time
    takes the offset before the transition). That is `local - offset(local - offset(local))`.
    """

    def offset(at: exp.Expression) -> exp.Expression:
        wall = fn("timezone", lit(zone), fn("to_timestamp", at))
        return exp.Sub(
            this=exp.IntDiv(this=fn("epoch_us", wall), expression=num(1_000_000)),
            expression=at.copy(),
        )

    def build(t: exp.Expression) -> exp.Expression:
        first = exp.Sub(this=t.copy(), expression=exp.Paren(this=offset(t.copy())))
        return exp.Sub(this=t.copy(), expression=exp.Paren(this=offset(exp.Paren(this=first))))

    return bound(cast(local, "BIGINT"), "_wall", build)


def _days_from_civil(y: exp.Expression, m: exp.Expression, d: exp.Expression) -> exp.Expression:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    yy = exp.Sub(
        this=y, expression=case((exp.LTE(this=m, expression=num(2)), num(1)), default=num(0))
    )
    era = _floor_div(yy, 400)
    yoe = exp.Sub(this=yy.copy(), expression=exp.Mul(this=era, expression=num(400)))
    mp = exp.Mod(this=exp.Add(this=m.copy(), expression=num(9)), expression=num(12))
    doy = exp.Add(
        this=exp.IntDiv(
            this=exp.Add(this=exp.Mul(this=num(153), expression=mp), expression=num(2)),
            expression=num(5),
        ),
        expression=exp.Sub(this=d, expression=num(1)),
    )
    doe = exp.Add(
        this=exp.Sub(
            this=exp.Add(
                this=exp.Mul(this=yoe, expression=num(365)),
                expression=exp.IntDiv(this=yoe.copy(), expression=num(4)),
            ),
            expression=exp.IntDiv(this=yoe.copy(), expression=num(100)),
        ),
        expression=doy,
    )
    return exp.Sub(
        this=exp.Add(this=exp.Mul(this=era.copy(), expression=num(146097)), expression=doe),
        expression=num(719468),
    )
