"""Lexical values of LogQL: Go string literals, durations, byte sizes and numbers.

Loki's lexer reads strings with Go escapes (`"..."`) or raw (`` `...` ``), durations with
Prometheus' units plus Go's (`1h30m`, `250ms`, `1d`, `-5s`), byte sizes with humanize units
(`20KB`, `1MiB`), and numbers with Go's float syntax. This module converts their text to Python
values and back (`quote`, `format_duration`), so `format()` can print canonical LogQL.
"""

from __future__ import annotations

import math
import re

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


def quote(value: str) -> str:
    """A double-quoted Go literal for `value` (the inverse of `unquote`).

    >>> quote('say "hi"\\n')
    '"say \\\\"hi\\\\"\\\\n"'
    """
    parts = ['"']
    for ch in value:
        if ch == '"':
            parts.append('\\"')
        elif ch == "\\":
            parts.append("\\\\")
        elif ch == "\n":
            parts.append("\\n")
        elif ch == "\r":
            parts.append("\\r")
        elif ch == "\t":
            parts.append("\\t")
        elif ch.isprintable():
            parts.append(ch)
        elif ord(ch) < 0x10000:
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(f"\\U{ord(ch):08x}")
    parts.append('"')
    return "".join(parts)


_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 7 * 86_400_000_000_000,
    "y": 365 * 86_400_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zµ]*)", re.IGNORECASE)
_GO_UNITS = {"ns", "us", "µs", "ms", "s", "m", "h"}


def parse_duration(text: str, *, prometheus_only: bool = False) -> int:
    """Nanoseconds of a LogQL duration (`1h30m`, `250ms`, `1d`, `-5s`).

    Range brackets use Prometheus' parser (integers, units ms s m h d w y), other durations
    fall back to Go's (fractions, ns us µs). Errors are worded as the Go parsers word them.

    >>> parse_duration("1h30m") // 10**9
    5400
    >>> parse_duration("5minutes", prometheus_only=True)
    Traceback (most recent call last):
    ...
    logql2sql.errors.ParseError: parse error : unknown unit "minutes" in duration "5minutes"
    """
    src = text
    sign = 1
    if text.startswith("-") and not prometheus_only:
        sign, text = -1, text[1:]
    if text in ("", "0") and not prometheus_only:
        return 0
    if text == "":
        raise ParseError("empty duration string")
    pos = 0
    total = 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m or m.end() == pos:
            raise ParseError(f'not a valid duration string: "{src}"')
        number, unit = m.group(1), m.group(2)
        if unit == "":
            if prometheus_only:
                raise ParseError(f'not a valid duration string: "{src}"')
            raise ParseError(f'time: missing unit in duration "{src}"')
        if unit not in _UNIT_NS or (prometheus_only and unit in ("ns", "us", "µs")):
            raise ParseError(f'unknown unit "{unit}" in duration "{src}"')
        if prometheus_only and "." in number:
            raise ParseError(f'not a valid duration string: "{src}"')
        if "." in number:
            whole, _, frac = number.partition(".")
            total += int(whole or "0") * _UNIT_NS[unit]
            if frac:
                total += int(frac) * _UNIT_NS[unit] // 10 ** len(frac)
        else:
            total += int(number) * _UNIT_NS[unit]
        pos = m.end()
    return sign * total


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
# converts label values at query time.
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
_BYTES_RE = re.compile(r"^\s*([0-9.,]*\d[0-9.]*)\s*([a-zA-Z]*)\s*$")


def parse_bytes(text: str) -> int | None:
    """Bytes in a humanize-style size (`20KB`, `1.5MiB`, `42`), or None when unparsable.

    >>> parse_bytes("20KB"), parse_bytes("1KiB"), parse_bytes("1mb"), parse_bytes("x")
    (20000, 1024, 1000000, None)
    """
    m = _BYTES_RE.match(text)
    if not m:
        return None
    unit = m.group(2).lower()
    if unit not in BYTES_UNITS:
        return None
    try:
        value = float(m.group(1).replace(",", ""))
    except ValueError:
        return None
    return int(value * BYTES_UNITS[unit])


def format_bytes(n: int) -> str:
    """Canonical text of a byte size literal.

    >>> format_bytes(20000)
    '20000B'
    """
    return f"{n}B"


def parse_float(text: str) -> float:
    """A LogQL number literal, rejecting what Go's `strconv.ParseFloat` rejects.

    >>> parse_float("1e3"), parse_float("2")
    (1000.0, 2.0)
    >>> parse_float("0x10")
    Traceback (most recent call last):
    ...
    logql2sql.errors.ParseError: parse error : unable to parse literal as a float: \
strconv.ParseFloat: parsing "0x10": invalid syntax
    """
    lowered = text.lower()
    if lowered.startswith("0x") and "p" in lowered and "_" not in text:
        return float.fromhex(text)
    if lowered.startswith(("0x", "0b", "0o")) or "_" in text:
        raise ParseError(
            f'unable to parse literal as a float: strconv.ParseFloat: parsing "{text}": '
            "invalid syntax"
        )
    value = float(text)
    if math.isinf(value):
        raise ParseError(
            f'unable to parse literal as a float: strconv.ParseFloat: parsing "{text}": '
            "value out of range"
        )
    return value


def format_float(value: float) -> str:
    """Shortest text that parses back to `value` as a LogQL number.

    >>> format_float(2.0), format_float(0.99), format_float(1e21)
    ('2', '0.99', '1e+21')
    """
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)
