"""Query limits with Loki's names, defaults and error texts.

The values come from the tenant's `Limits` (`max_query_series` 500,
`max_entries_limit_per_query` 5000, `query_timeout` 1m, `max_query_length` 30d1h,
`max_query_bytes_read` 0 = off). For a multi-tenant query the smallest value of the tenants
applies, as in Loki. Durations and byte sizes are printed the way Loki prints them (Go's
`time.Duration`, Prometheus' `model.Duration`, go-humanize's `Bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from loglake.config import Limits
from loglake.query.errors import QueryError
from logql2sql.gofmt import go_duration, humanize_bytes, model_duration

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
                    go_duration(end - start), model_duration(self.max_query_length)
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
                TOO_MANY_BYTES.format(
                    humanize_bytes(planned, " "), humanize_bytes(self.max_query_bytes_read, " ")
                )
            )
