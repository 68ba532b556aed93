"""HTTP parameter parsers, one small function per parameter, as Loki's `pkg/loghttp/params.go`.

Every parser takes the request's form (query string and form body merged; anything with
`get(name)` and `getlist(name)`) and returns nanoseconds or plain values, raising
`QueryError` with Loki's message when a value is malformed. Defaults are Loki's: `limit`
100, `direction` backward, `since` 1h, `end` now, `step` `max(floor((end-start)/250s), 1)`
seconds, at most 11,000 points per series.

>>> form = {"start": "1700000000", "end": "1700000600.5", "step": "1m"}
>>> q = range_query(_Form(form), now=0)
>>> q.start, q.end, q.step
(1700000000000000000, 1700000600500000000, 60000000000)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from loglake.ingest.labels import go_quote
from loglake.query.errors import QueryError
from logql2sql.errors import ParseError
from logql2sql.lexical import parse_duration

DEFAULT_QUERY_LIMIT = 100
DEFAULT_LIMIT = 1000
DEFAULT_SINCE = 3600 * 10**9
MAX_POINTS = 11_000
MAX_UINT32 = 2**32 - 1
_NS = 10**9

ERR_END_BEFORE_START = "end timestamp must not be before or equal to start time"
ERR_ZERO_STEP = (
    "zero or negative query resolution step widths are not accepted. Try a positive integer"
)
ERR_STEP_TOO_SMALL = (
    "exceeded maximum resolution of 11,000 points per time series. "
    "Try increasing the value of the step parameter"
)
ERR_NEGATIVE_INTERVAL = "interval must be >= 0"


class Form(Protocol):
    """What the parsers read: a multi-valued mapping of strings."""

    def get(self, key: str, default: str | None = None) -> str | None: ...

    def getlist(self, key: str) -> list[str]: ...


class _Form(dict):
    """A plain dict as a `Form` (doctests, CLI)."""

    def getlist(self, key: str) -> list[str]:
        value = self.get(key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


def form_of(values: dict[str, str | list[str]]) -> Form:
    """A `Form` over a dict (single values or lists)."""
    return _Form(values)


def _value(form: Form, name: str) -> str:
    return form.get(name) or ""


@dataclass(frozen=True)
class InstantQuery:
    """`/loki/api/v1/query` parameters."""

    query: str
    time: int
    limit: int
    direction: str


@dataclass(frozen=True)
class RangeQuery:
    """`/loki/api/v1/query_range` parameters (times in ns, unaligned)."""

    query: str
    start: int
    end: int
    step: int
    interval: int
    limit: int
    direction: str


def parse_int(value: str, default: int, func: str = "Atoi") -> int:
    """Go's `strconv.Atoi` with a default for the empty string.

    >>> parse_int("", 7), parse_int("+12", 7)
    (7, 12)
    """
    if value == "":
        return default
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise QueryError(f"strconv.{func}: parsing {go_quote(value)}: invalid syntax")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise QueryError(f"strconv.{func}: parsing {go_quote(value)}: value out of range")
    return number


def _positive_uint32(value: int, name: str) -> int:
    if value <= 0:
        raise QueryError("limit must be a positive value")
    if value > MAX_UINT32:
        raise QueryError(f"{name} value {value} is out of range [0, {MAX_UINT32}]")
    return value


def limit(form: Form) -> int:
    """`limit` (default 100): entries for log queries, > 0."""
    return _positive_uint32(parse_int(_value(form, "limit"), DEFAULT_QUERY_LIMIT), "limit")


def volume_limit(form: Form) -> int:
    """`limit` of the volume API (default 100): 0 also means the default, a negative
    value is refused (Loki's `volumeLimit`, checked before the range parameters)."""
    value = parse_int(_value(form, "limit"), DEFAULT_QUERY_LIMIT)
    if value == 0:
        return DEFAULT_QUERY_LIMIT
    if value < 0:
        raise QueryError("limit must be a positive value")
    return value


class _WithValue:
    """A `Form` with one parameter replaced (as Go's handlers `r.Form.Set` it)."""

    def __init__(self, form: Form, name: str, value: str) -> None:
        self.form, self.name, self.value = form, name, value

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.value if key == self.name else self.form.get(key, default)

    def getlist(self, key: str) -> list[str]:
        return [self.value] if key == self.name else self.form.getlist(key)


def with_value(form: Form, name: str, value: str) -> Form:
    """`form` with parameter `name` set to `value`.

    >>> form = with_value(form_of({"limit": "0", "query": "q"}), "limit", "100")
    >>> form.get("limit"), form.get("query")
    ('100', 'q')
    """
    return _WithValue(form, name, value)


def line_limit(form: Form) -> int:
    """`line_limit` (default 100) of the detected-fields API."""
    value = parse_int(_value(form, "line_limit"), DEFAULT_QUERY_LIMIT)
    return _positive_uint32(value, "line_limit")


def detected_fields_limit(form: Form) -> int:
    """`limit` (or the older `field_limit`, default 1000) of the detected-fields API."""
    text = _value(form, "limit") or _value(form, "field_limit")
    return _positive_uint32(parse_int(text, DEFAULT_LIMIT), "limit")


def direction(form: Form) -> str:
    """`direction`: `forward` or `backward` (any case), default backward."""
    value = _value(form, "direction")
    if value == "":
        return "backward"
    if value.upper() not in ("FORWARD", "BACKWARD"):
        raise QueryError(f"invalid direction '{value}'")
    return value.lower()


def _go_round(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)


def _rfc3339(value: str) -> int | None:
    m = _RFC3339.fullmatch(value)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    zone = m.group(8)
    offset = timedelta(0)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:
        return None
    fraction = int((m.group(7) or "0").ljust(9, "0"))
    return int(moment.timestamp()) * _NS + fraction


def parse_timestamp(value: str, default: int) -> int:
    """A timestamp as Loki reads one: float seconds when it holds a dot (rounded to ms),
    an integer of at most 10 digits as seconds, longer as nanoseconds, else RFC3339Nano.

    >>> parse_timestamp("1.5", 0), parse_timestamp("10", 0), parse_timestamp("12345678901", 0)
    (1500000000, 10000000000, 12345678901)
    >>> parse_timestamp("1970-01-01T00:00:01.000000002Z", 0)
    1000000002
    """
    if value == "":
        return default
    if "." in value:
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            seconds = math.trunc(number)
            ms = _go_round((number - seconds) * 1000)
            return int(seconds) * _NS + int(ms) * 10**6
    if re.fullmatch(r"[+-]?[0-9]+", value) and -(2**63) <= int(value) < 2**63:
        nanos = int(value)
        return nanos * _NS if len(value) <= 10 else nanos
    parsed = _rfc3339(value)
    if parsed is not None:
        return parsed
    reason = "value out of range" if re.fullmatch(r"[+-]?[0-9]+", value) else "invalid syntax"
    raise QueryError(f"strconv.ParseInt: parsing {go_quote(value)}: {reason}")


def prom_duration(value: str) -> int:
    """Prometheus' `model.ParseDuration` (`1h30m`, `2d`, `500ms`, `0`) in nanoseconds, as
    Loki reads `since` and the duration form of `step`/`interval`: integers only, units
    from `y` down to `ms`, each at most once, no sign; Prometheus' error texts.

    >>> prom_duration("1h30m"), prom_duration("0")
    (5400000000000, 0)
    >>> prom_duration("1.5h")
    Traceback (most recent call last):
    ...
    loglake.query.errors.QueryError: unknown unit "." in duration "1.5h"
    """
    try:
        return parse_duration(value, syntax="prometheus")
    except ParseError as exc:
        raise QueryError(exc.msg) from None


def parse_seconds_or_duration(value: str) -> int:
    """`step`/`interval`: float seconds or a Prometheus duration, in nanoseconds.

    >>> parse_seconds_or_duration("0.5"), parse_seconds_or_duration("1m")
    (500000000, 60000000000)
    """
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None and "_" not in value:
        ns = seconds * _NS
        if not math.isfinite(ns) or not -(2.0**63) <= ns < 2.0**63:
            raise QueryError(
                f"cannot parse {go_quote(value)} to a valid duration. It overflows int64"
            )
        return int(ns)
    try:
        return prom_duration(value)
    except QueryError:
        raise QueryError(f"cannot parse {go_quote(value)} to a valid duration") from None


def ts(form: Form, now: int) -> int:
    """`time` of an instant query (default now)."""
    return parse_timestamp(_value(form, "time"), now)


def bounds(form: Form, now: int) -> tuple[int, int]:
    """`start`/`end`/`since`: end defaults to now, start to min(end, now) - since (1h)."""
    since = DEFAULT_SINCE
    since_text = _value(form, "since")
    if since_text:
        try:
            since = prom_duration(since_text)
        except QueryError as exc:
            raise QueryError(f"could not parse 'since' parameter: {exc.message}") from None
    try:
        end = parse_timestamp(_value(form, "end"), now)
    except QueryError as exc:
        raise QueryError(f"could not parse 'end' parameter: {exc.message}") from None
    try:
        start = parse_timestamp(_value(form, "start"), min(end, now) - since)
    except QueryError as exc:
        raise QueryError(f"could not parse 'start' parameter: {exc.message}") from None
    return start, end


def default_step(start: int, end: int) -> int:
    """Loki's default step: `max(floor((end - start) / 250s), 1)` seconds."""
    return max(math.floor((end - start) / _NS / 250), 1) * _NS


def step(form: Form, start: int, end: int) -> int:
    """`step` in nanoseconds (default from the range)."""
    value = _value(form, "step")
    if value == "":
        return default_step(start, end)
    return parse_seconds_or_duration(value)


def interval(form: Form) -> int:
    """`interval` in nanoseconds (0 when absent)."""
    value = _value(form, "interval")
    return parse_seconds_or_duration(value) if value else 0


def query(form: Form) -> str:
    """`query`, as given."""
    return _value(form, "query")


def instant_query(form: Form, now: int) -> InstantQuery:
    """All parameters of `/loki/api/v1/query`, checked in Loki's order."""
    text = query(form)
    the_limit = limit(form)
    the_time = ts(form, now)
    return InstantQuery(text, the_time, the_limit, direction(form))


def range_query(form: Form, now: int) -> RangeQuery:
    """All parameters of `/loki/api/v1/query_range`, checked in Loki's order."""
    text = query(form)
    start, end = bounds(form, now)
    if end < start:
        raise QueryError(ERR_END_BEFORE_START)
    the_limit = limit(form)
    the_direction = direction(form)
    the_step = step(form, start, end)
    if the_step <= 0:
        raise QueryError(ERR_ZERO_STEP)
    # Go divides Durations as integers.
    if (end - start) // the_step > MAX_POINTS:
        raise QueryError(ERR_STEP_TOO_SMALL)
    the_interval = interval(form)
    if the_interval < 0:
        raise QueryError(ERR_NEGATIVE_INTERVAL)
    return RangeQuery(text, start, end, the_step, the_interval, the_limit, the_direction)


def align_to_step(start: int, end: int, step_ns: int) -> tuple[int, int]:
    """Loki's query-frontend alignment of metric range queries: start down and end up to
    multiples of the step (in whole milliseconds) since the Unix epoch.

    >>> align_to_step(67 * 10**9, 1013 * 10**9, 120 * 10**9)
    (0, 1080000000000)
    """
    step_ns = (step_ns // 10**6) * 10**6
    if step_ns <= 0:
        return start, end
    if end % step_ns:
        end += step_ns - end % step_ns
    return start - start % step_ns, end


def match_selectors(form: Form) -> list[str]:
    """`match[]` (or `match`) selectors of the series API."""
    return [*form.getlist("match[]"), *form.getlist("match")]


MAX_TAIL_DELAY = 5


@dataclass(frozen=True)
class TailQuery:
    """`/loki/api/v1/tail` parameters."""

    query: str
    start: int
    limit: int
    delay_for: int


def tail_query(form: Form, now: int) -> TailQuery:
    """All parameters of `/loki/api/v1/tail`, checked in Loki's order."""
    text = query(form)
    the_limit = limit(form)
    start, _ = bounds(form, now)
    delay = parse_int(_value(form, "delay_for"), 0)
    if delay < 0 or delay > MAX_UINT32:
        raise QueryError(f"delay_for value {delay} is out of range [0, {MAX_UINT32}]")
    if delay > MAX_TAIL_DELAY:
        raise QueryError(f"delay_for can't be greater than {MAX_TAIL_DELAY}")
    return TailQuery(text, start, the_limit, delay * _NS)
