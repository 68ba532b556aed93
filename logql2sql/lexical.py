"""Lexical values of LogQL: Go string literals, durations, byte sizes and numbers.

Loki's lexer reads strings with Go escapes (`"..."`) or raw (`` `...` ``), durations with
Prometheus' units plus Go's (`1h30m`, `250ms`, `1d`, `-5s`), byte sizes with humanize units
(`20KB`, `1MiB`), and numbers with Go's float syntax. This module converts their text to Python
values and back (`quote`, `format_duration`), so `format()` can print canonical LogQL.
loglake reuses the parsers where Loki uses the same Go ones: Go-syntax durations of HTTP
parameters (`parse_duration(..., syntax="go")`), humanize byte sizes of detected fields.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from logql2sql.errors import ParseError

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def unquote(token: str) -> str:
    """The value of a Go string literal (double-quoted with escapes, or back-quoted raw).

    >>> unquote('"a\\\\tb\\\\u00e9"')
    'a\\tbé'
    >>> unquote('`C:\\\\x`')
    'C:\\\\x'
    """
    if token.startswith("`"):
        return token[1:-1]
    body = token[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ParseError("invalid syntax")
        esc = body[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[esc].encode()
            i += 2
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ParseError("invalid syntax")
            value = int(digits, 16)
            if esc == "x":
                out.append(value)
            else:
                if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    raise ParseError("invalid syntax")
                out += chr(value).encode()
            i += 2 + width
        elif esc in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                raise ParseError("invalid syntax")
            value = int(digits, 8)
            if value > 255:
                raise ParseError("invalid syntax")
            out.append(value)
            i += 4
        else:
            raise ParseError("invalid syntax")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("invalid UTF-8 encoding") from None


GO_ESCAPES = {  # the characters Go writes with a one-letter escape
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def go_escape(ch: str, quote: str = '"') -> str:
    """One character as Go's `strconv.Quote` (or `QuoteRune`, with `quote` `'`) writes it;
    a lone surrogate from `surrogateescape` is the byte it stands for (`\\xff`)."""
    if ch == quote:
        return "\\" + ch
    if ch in GO_ESCAPES:
        return GO_ESCAPES[ch]
    if ch == " " or ch.isprintable():
        return ch
    cp = ord(ch)
    if cp < 0x80:
        return f"\\x{cp:02x}"
    if 0xDC80 <= cp <= 0xDCFF:
        return f"\\x{cp - 0xDC00:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def quote(value: str) -> str:
    """A double-quoted Go literal for `value`, as Go's `strconv.Quote` writes it (the
    inverse of `unquote`).

    >>> quote('say "hi"\\n')
    '"say \\\\"hi\\\\"\\\\n"'
    """
    return '"' + "".join(go_escape(ch) for ch in value) + '"'


GO_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu: Go takes both
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
"""The units of Go's `time.ParseDuration`, in nanoseconds."""
_UNIT_NS = GO_DURATION_UNITS_NS | {
    "d": 86_400_000_000_000,
    "w": 7 * 86_400_000_000_000,
    "y": 365 * 86_400_000_000_000,
}
_PROMETHEUS_UNITS = ("y", "w", "d", "h", "m", "s", "ms")  # largest first
_ASCII_DIGITS = re.compile(r"[0-9]+")
_NON_DIGITS = re.compile(r"[^0-9]*")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([a-zµ]*)", re.IGNORECASE)
_GO_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([^0-9.]*)")

DurationSyntax = Literal["logql", "prometheus", "go"]


def parse_duration(text: str, *, syntax: DurationSyntax = "logql") -> int:
    """Nanoseconds of a duration (`1h30m`, `250ms`, `1d`, `-5s`) in one of three syntaxes:

    - `logql`: durations in LogQL outside range brackets, and loglake's configuration:
      Go's syntax (fractions, ns us µs) falling back to Prometheus' units (d w y);
    - `prometheus`: range brackets, Prometheus' `model.ParseDuration` (integers, ms to y);
    - `go`: Go's `time.ParseDuration` (ns to h, a `+` or `-` sign), as Loki reads HTTP
      parameters such as the delete API's `max_interval`.

    Errors are worded as the Go parsers word them.

    >>> parse_duration("1h30m") // 10**9, parse_duration("1d", syntax="logql") // 10**9
    (5400, 86400)
    >>> parse_duration("+1.5s", syntax="go")
    1500000000
    >>> parse_duration("1d", syntax="go")
    Traceback (most recent call last):
    ...
    logql2sql.errors.ParseError: parse error : time: unknown unit "d" in duration "1d"
    >>> parse_duration("5minutes", syntax="prometheus")
    Traceback (most recent call last):
    ...
    logql2sql.errors.ParseError: parse error : unknown unit "minutes" in duration "5minutes"
    """
    if syntax == "prometheus":
        return _prometheus_duration(text)
    src = text
    go = syntax == "go"
    sign = 1
    if text[:1] and text[0] in ("+-" if go else "-"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    if text == "0" or (text == "" and not go):
        return 0
    quoted = quote(src)
    invalid = f"time: invalid duration {quoted}" if go else f"not a valid duration string: {quoted}"
    if text == "":
        raise ParseError(invalid)
    units = GO_DURATION_UNITS_NS if go else _UNIT_NS
    part = _GO_DURATION_PART if go else _DURATION_PART
    pos = 0
    total = 0
    while pos < len(text):
        m = part.match(text, pos)
        if not m or m.end() == pos:
            raise ParseError(invalid)
        number, unit = m.group(1), m.group(2)
        if unit == "":
            raise ParseError(f"time: missing unit in duration {quote(src)}")
        if unit not in units:
            prefix = "time: " if go else ""
            raise ParseError(f"{prefix}unknown unit {quote(unit)} in duration {quote(src)}")
        whole, _, frac = number.partition(".")
        total += int(whole or "0") * _UNIT_NS[unit] + go_fraction_ns(frac, _UNIT_NS[unit])
        pos = m.end()
    if go and total > 2**63 - (sign > 0):  # Go's int64 nanoseconds
        raise ParseError(invalid)
    return sign * total


def _prometheus_duration(text: str) -> int:
    """Prometheus' `model.ParseDuration`: whole numbers, each followed by one of the units
    `y w d h m s ms` in that order, or a lone `0`; within int64 nanoseconds."""
    if text == "0":
        return 0
    if text == "":
        raise ParseError("empty duration string")
    invalid = ParseError(f"not a valid duration string: {quote(text)}")
    total, last_rank, pos = 0, -1, 0
    while pos < len(text):
        digits = _ASCII_DIGITS.match(text, pos)
        if digits is None or int(digits.group()) >= 2**64:
            raise invalid
        unit = _NON_DIGITS.match(text, digits.end()).group()
        if unit == "":
            raise invalid
        if unit not in _PROMETHEUS_UNITS:
            raise ParseError(f"unknown unit {quote(unit)} in duration {quote(text)}")
        rank = _PROMETHEUS_UNITS.index(unit)
        if rank <= last_rank:  # units from the largest to the smallest, each once
            raise invalid
        last_rank = rank
        value, size = int(digits.group()), _UNIT_NS[unit]
        if value > 2**63 // size or total + value * size > 2**63 - 1:
            raise ParseError("duration out of range")
        total += value * size
        pos = digits.end() + len(unit)
    return total


def go_fraction_ns(digits: str, unit_ns: int) -> int:
    """Nanoseconds of a duration number's fraction digits (`5` of `1.5s`), as Go's
    `time.ParseDuration` computes them: the digits as an integer `f` (digits past the
    uint64 range are ignored), then `uint64(float64(f) * (float64(unit) / 10^digits))`,
    a float product truncated, which is not always the exact quotient.

    >>> go_fraction_ns("5", 10**9), go_fraction_ns("209", 10**6), go_fraction_ns("", 1)
    (500000000, 209000, 0)
    """
    f, scale = 0, 1.0
    for ch in digits:
        if f > (2**63 - 1) // 10 or f * 10 + int(ch) > 2**63:
            break  # Go stops counting digits at the first one that would overflow
        f, scale = f * 10 + int(ch), scale * 10
    return int(float(f) * (float(unit_ns) / scale))


def format_duration(ns: int) -> str:
    """Canonical text of a duration in nanoseconds, largest units first.

    >>> format_duration(5400 * 10**9), format_duration(250 * 10**6), format_duration(0)
    ('1h30m', '250ms', '0s')
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    rest = abs(ns)
    parts = []
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        size = _UNIT_NS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return sign + "".join(parts)


# Byte-size units as humanize.ParseBytes reads them (lower-cased), shared with the SQL that
# converts label values at query time and with the detected-fields API.
BYTES_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
    "p": 1000**5,
    "pb": 1000**5,
    "pi": 1024**5,
    "pib": 1024**5,
    "e": 1000**6,
    "eb": 1000**6,
    "ei": 1024**6,
    "eib": 1024**6,
}


def parse_bytes(text: str) -> int | None:
    """Bytes in a humanize-style size (`20KB`, `1.5MiB`, `1,024 kb`, `42`), or None where
    go-humanize's `ParseBytes` fails: the leading run of digits, dots and commas is the
    number (commas dropped), the trimmed, lower-cased rest the unit, the product below 2**64.

    >>> parse_bytes("20KB"), parse_bytes("1KiB"), parse_bytes("1,024 kb"), parse_bytes("x")
    (20000, 1024, 1024000, None)
    """
    digits = 0
    for ch in text:
        if not (ch.isdigit() or ch in ".,"):
            break
        digits += 1
    number = text[:digits].replace(",", "")
    unit = text[digits:].strip().lower()
    if not number.isascii() or unit not in BYTES_UNITS:
        return None
    try:
        size = float(number) * BYTES_UNITS[unit]
    except ValueError:
        return None
    return int(size) if size < 2**64 else None


def format_bytes(n: int) -> str:
    """Canonical text of a byte size literal.

    >>> format_bytes(20000)
    '20000B'
    """
    return f"{n}B"


def parse_float(text: str) -> float:
    """A LogQL number literal as Go's `strconv.ParseFloat` reads it: decimal with `_`
    between digits, hexadecimal only with a `p` exponent; anything else, and values past
    float64's range, fail with Go's error inside Loki's message.

    >>> parse_float("1e3"), parse_float("1_0"), parse_float("0x1p-2")
    (1000.0, 10.0, 0.25)
    >>> parse_float("0x10")
    Traceback (most recent call last):
    ...
    logql2sql.errors.ParseError: parse error : unable to parse literal as a float: \
strconv.ParseFloat: parsing "0x10": invalid syntax
    """

    def fail(reason: str) -> ParseError:
        return ParseError(
            "unable to parse literal as a float: strconv.ParseFloat: "
            f"parsing {quote(text)}: {reason}"
        )

    lowered = text.lower()
    if "_" in text and not _underscores_ok(lowered):
        raise fail("invalid syntax")
    plain = lowered.replace("_", "")
    try:
        if plain.startswith("0x"):
            if "p" not in plain:
                raise ValueError(plain)
            value = float.fromhex(plain)
        elif plain.startswith(("0b", "0o")) or not _DECIMAL_FLOAT.fullmatch(plain):
            raise ValueError(plain)
        else:
            value = float(plain)
    except ValueError:
        raise fail("invalid syntax") from None
    except OverflowError:
        raise fail("value out of range") from None
    if math.isinf(value):
        raise fail("value out of range")
    return value


_DECIMAL_FLOAT = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?")


def _underscores_ok(lowered: str) -> bool:
    """Go's rule for `_` in a number: only between digits, a base prefix counting as one."""
    body, hex_digits, prev = lowered, False, "^"
    if len(body) >= 2 and body[0] == "0" and body[1] in "box":
        body, hex_digits, prev = body[2:], body[1] == "x", "0"
    for ch in body:
        if "0" <= ch <= "9" or (hex_digits and "a" <= ch <= "f"):
            prev = "0"
        elif ch == "_":
            if prev != "0":
                return False
            prev = "_"
        elif prev == "_":
            return False
        else:
            prev = "!"
    return prev != "_"


def format_float(value: float) -> str:
    """Shortest text that parses back to `value` as a LogQL number.

    >>> format_float(2.0), format_float(0.99), format_float(1e21)
    ('2', '0.99', '1e+21')
    """
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)
