"""Query limits with Loki's names, defaults and error texts.

The values come from the tenant's `Limits` (`max_query_series` 500,
`max_entries_limit_per_query` 5000, `query_timeout` 1m, `max_query_length` 30d1h,
`max_query_bytes_read` 0 = off). For a multi-tenant query the smallest value of the tenants
applies, as in Loki. Durations and byte sizes are printed the way Loki prints them (Go's
`time.Duration`, Prometheus' `model.Duration`, go-humanize's `Bytes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loglake.config import Limits
from loglake.query.errors import QueryError

SERIES_LIMIT = (
    "maximum number of series ({}) reached for a single query; consider reducing query "
    "cardinality by adding more specific stream selectors, reducing the time range, or "
    "aggregating results with functions like sum(), count() or topk()"
)
ENTRIES_LIMIT = (
    "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {})"
)
QUERY_TOO_LONG = "the query time range exceeds the limit (query length: {}, limit: {})"
TOO_MANY_BYTES = (
    "the query would read too many bytes (query: {}, limit: {}); consider adding more "
    "specific stream selectors or reduce the time range of the query"
)


@dataclass(frozen=True)
class QueryLimits:
    """The limits one query runs under."""

    max_query_series: int = 500
    max_entries_limit_per_query: int = 5000
    query_timeout: int = 60 * 10**9
    max_query_length: int = (30 * 24 + 1) * 3600 * 10**9
    max_query_bytes_read: int = 0

    @classmethod
    def of(cls, limits: list[Limits]) -> QueryLimits:
        """The strictest of the tenants' limits (0 means unlimited where Loki says so)."""

        def smallest(values: list[int]) -> int:
            positive = [v for v in values if v > 0]
            return min(positive) if positive else 0

        return cls(
            max_query_series=smallest([lim.max_query_series for lim in limits]),
            max_entries_limit_per_query=smallest(
                [lim.max_entries_limit_per_query for lim in limits]
            ),
            query_timeout=smallest([lim.query_timeout for lim in limits]),
            max_query_length=smallest([lim.max_query_length for lim in limits]),
            max_query_bytes_read=smallest([lim.max_query_bytes_read for lim in limits]),
        )

    def check_entries(self, limit: int) -> None:
        """Log queries asking for more entries than allowed fail before running."""
        if 0 < self.max_entries_limit_per_query < limit:
            raise QueryError(ENTRIES_LIMIT.format(limit, self.max_entries_limit_per_query))

    def check_length(self, start: int, end: int) -> None:
        """A query range longer than `max_query_length` fails before running."""
        if self.max_query_length > 0 and end - start > self.max_query_length:
            raise QueryError(
                QUERY_TOO_LONG.format(
                    go_duration(end - start), format_prom_duration(self.max_query_length)
                )
            )

    def check_series(self, count: int) -> None:
        """More result series than `max_query_series` fail the query."""
        if 0 < self.max_query_series < count:
            raise QueryError(SERIES_LIMIT.format(self.max_query_series))

    def check_bytes(self, planned: int) -> None:
        """A query that would read more than `max_query_bytes_read` fails before running."""
        if 0 < self.max_query_bytes_read < planned:
            raise QueryError(
                TOO_MANY_BYTES.format(human_bytes(planned), human_bytes(self.max_query_bytes_read))
            )


def go_duration(ns: int) -> str:
    """Go's `time.Duration.String()`.

    >>> go_duration(721 * 3600 * 10**9), go_duration(1_500_000_000), go_duration(0)
    ('721h0m0s', '1.5s', '0s')
    >>> go_duration(1500), go_duration(2_500_000)
    ('1.5µs', '2.5ms')
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns, size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _trim(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def format_prom_duration(ns: int) -> str:
    """Prometheus' `model.Duration.String()`: years and weeks only when exact.

    >>> format_prom_duration((30 * 24 + 1) * 3600 * 10**9)
    '30d1h'
    >>> format_prom_duration(14 * 86400 * 10**9)
    '2w'
    """
    ms = ns // 10**6
    if ms == 0:
        return "0s"
    out = []
    day = 86400 * 1000
    for unit, size, exact in (
        ("y", 365 * day, True),
        ("w", 7 * day, True),
        ("d", day, False),
        ("h", 3600 * 1000, False),
        ("m", 60 * 1000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    ):
        if exact and ms % size:
            continue
        if ms // size > 0:
            out.append(f"{ms // size}{unit}")
            ms -= (ms // size) * size
    return "".join(out)


def human_bytes(n: int) -> str:
    """go-humanize's `Bytes` (SI units), as Loki prints byte limits.

    >>> human_bytes(5), human_bytes(82_854_982), human_bytes(1000)
    ('5 B', '83 MB', '1.0 kB')
    """
    if n < 10:
        return f"{n} B"
    sizes = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    e = min(math.floor(math.log(n) / math.log(1000)), len(sizes) - 1)
    value = math.floor(n / 1000**e * 10 + 0.5) / 10
    return f"{value:.1f} {sizes[e]}" if value < 10 else f"{value:.0f} {sizes[e]}"
