"""Go's text forms of numbers, durations and byte sizes, as Loki's `String()` methods print them.

Loki prints its AST with Go's formatting verbs, and `/loki/api/v1/format_query` answers with
that text, so `pretty` needs each form exactly:

- `go_float_v(x)`: `fmt.Sprint(x)` (`%v`: shortest digits, exponent form when the decimal
  exponent is below -4 or from 6 up: `1e+06`, `0.5`, `+Inf`);
- `go_float_f(x)`: `strconv.FormatFloat(x, 'f', -1, 64)` (shortest digits, never an
  exponent: `1000000`);
- `go_float_fixed(x)`: `%f` (six decimals, as `vector(1.000000)`);
- `go_duration(ns)`: `time.Duration.String()` (`1h0m0s`, `1.5s`, `250ms`, `1µs`);
- `model_duration(ns)`: Prometheus' `model.Duration.String()` (`1h30m`, `2w`, milliseconds
  at most);
- `humanize_bytes(n)`: go-humanize's `Bytes` with its space removed (`1.0kB`, `83MB`).
"""

from __future__ import annotations

import math
from decimal import Decimal

_SECOND = 1_000_000_000


def _special(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return None


def _shortest(x: float) -> tuple[str, str, int]:
    """Sign, shortest round-trip digits and decimal point position of a finite `x`
    (`x == 0.<digits> * 10**point`), the digits Go's shortest formatting picks too."""
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign, "0", 1
    _, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    return sign, text, len(digits) + int(exponent)


def go_float_f(x: float) -> str:
    """`strconv.FormatFloat(x, 'f', -1, 64)`.

    >>> go_float_f(1e6), go_float_f(0.99), go_float_f(-2.5e-7)
    ('1000000', '0.99', '-0.00000025')
    """
    special = _special(x)
    if special is not None:
        return special
    sign, digits, point = _shortest(x)
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_float_v(x: float) -> str:
    """`fmt.Sprint(x)` of a float64 (`%v`, that is shortest `%g` with the exponent form
    from 1e+06 and below 1e-04).

    >>> go_float_v(1e6), go_float_v(123456.0), go_float_v(0.0001), go_float_v(0.00001)
    ('1e+06', '123456', '0.0001', '1e-05')
    """
    special = _special(x)
    if special is not None:
        return special
    sign, digits, point = _shortest(x)
    exponent = point - 1
    if x != 0 and (exponent < -4 or exponent >= 6):
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return go_float_f(x)


def go_float_fixed(x: float) -> str:
    """`fmt.Sprintf("%f", x)`.

    >>> go_float_fixed(1), go_float_fixed(-0.5)
    ('1.000000', '-0.500000')
    """
    special = _special(x)
    return special if special is not None else f"{x:f}"


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """The `.digits` Go's `fmtFrac` writes for the low `precision` decimal digits of
    `value` (trailing zeros dropped, nothing when all are zero) and the integer rest."""
    scale = 10**precision
    frac = str(value % scale).rjust(precision, "0").rstrip("0")
    return ("." + frac if frac else ""), value // scale


def go_duration(ns: int) -> str:
    """`time.Duration(ns).String()`.

    >>> go_duration(3600 * 10**9), go_duration(1_500_000_000), go_duration(250 * 10**6)
    ('1h0m0s', '1.5s', '250ms')
    >>> go_duration(1500), go_duration(0), go_duration(-90 * 10**9)
    ('1.5µs', '0s', '-1m30s')
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        frac, whole = _fraction(u, 3)
        return f"{sign}{whole}{frac}µs"
    if u < _SECOND:
        frac, whole = _fraction(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, seconds = _fraction(u, 9)
    text = f"{seconds % 60}{frac}s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m" + text
        if minutes // 60:
            text = f"{minutes // 60}h" + text
    return sign + text


_MODEL_UNITS_MS = (
    ("y", 1000 * 60 * 60 * 24 * 365, True),
    ("w", 1000 * 60 * 60 * 24 * 7, True),
    ("d", 1000 * 60 * 60 * 24, False),
    ("h", 1000 * 60 * 60, False),
    ("m", 1000 * 60, False),
    ("s", 1000, False),
    ("ms", 1, False),
)


def model_duration(ns: int) -> str:
    """Prometheus `model.Duration(ns).String()`: whole milliseconds, years and weeks only
    when they divide the rest exactly.

    >>> model_duration(5400 * 10**9), model_duration(14 * 86400 * 10**9), model_duration(10**5)
    ('1h30m', '2w', '0s')
    """
    ms = abs(ns) // 1_000_000  # Go truncates towards zero
    if ms == 0:
        return "0s"
    text = ""
    for unit, size, exact in _MODEL_UNITS_MS:
        if exact and ms % size:
            continue
        if ms // size:
            text += f"{ms // size}{unit}"
            ms %= size
    return ("-" if ns < 0 else "") + text


_SI_SIZES = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def humanize_bytes(n: int, space: str = "") -> str:
    """go-humanize's `Bytes(n)` (SI units), without its space unless `space` is given:
    Loki prints a bytes label filter and rewrites detected byte fields without it, and its
    byte-limit errors with it.

    >>> humanize_bytes(5), humanize_bytes(1000), humanize_bytes(20 * 1024), humanize_bytes(82854982)
    ('5B', '1.0kB', '20kB', '83MB')
    >>> humanize_bytes(82_854_982, " ")
    '83 MB'
    """
    if n < 10:
        return f"{n}{space}B"
    e = math.floor(math.log(float(n)) / math.log(1000.0))
    value = math.floor(float(n) / math.pow(1000.0, e) * 10 + 0.5) / 10
    number = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return number + space + _SI_SIZES[e]
