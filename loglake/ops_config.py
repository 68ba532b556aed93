"""What the lake's housekeeping reads from the settings: retention policies and delete queries.

The keys are Loki's and live in `loglake.config.Settings`, their one source of truth:

    compactor:
      retention_enabled: true            # Loki's default is false; the delete API needs it
      retention_delete_delay: 2h         # grace before replaced objects are deleted
      delete_request_cancel_period: 24h  # a delete request can be cancelled this long
      delete_max_interval: 24h  # requests with line filters are split into shards this long
      compaction_target_bytes: 128MB     # line bytes per compacted chunk
      compaction_compression_level: 1    # zstd level of compacted chunks (3: ~2% smaller, 1.3x CPU)
    limits_config:
      retention_period: 744h             # 0s keeps forever (Loki's default)
      retention_stream:
      - {selector: '{namespace="dev"}', priority: 1, period: 24h}
      deletion_mode: filter-and-delete   # or filter-only / disabled (403 on the delete API)

Per-tenant `retention_period`, `retention_stream` and `deletion_mode` go in the runtime
`overrides:` file as in Loki; `Settings.limits_for(tenant)` merges them. This module turns
a tenant's `Limits` into the storage-side `RetentionPolicy` (`retention_policy`) and parses
delete-request and retention selectors (`parse_delete_query`, `parse_selector`).
"""

from __future__ import annotations

import logql2sql
from loglake.config import Limits
from logql2sql import ast
from storage.retention import RetentionPolicy, StreamRule
from storage.selection import LabelMatcher, LineFilter


def retention_policy(limits: Limits) -> RetentionPolicy:
    """The storage-side retention policy of a tenant's limits.

    >>> from loglake.config import Limits
    >>> policy = retention_policy(Limits(retention_period="744h", retention_stream=[
    ...     {"selector": '{env="dev"}', "priority": 1, "period": "24h"}]))
    >>> policy.period_ns // 3600_000_000_000, policy.rules[0].period_ns // 3600_000_000_000
    (744, 24)
    """
    return RetentionPolicy(
        period_ns=limits.retention_period,
        rules=tuple(
            StreamRule(parse_selector(r.selector), r.priority, r.period)
            for r in limits.retention_stream
        ),
    )


def parse_delete_query(query: str) -> tuple[tuple[LabelMatcher, ...], tuple[LineFilter, ...]]:
    """A delete request's query: a stream selector with optional line filters.

    Raises `logql2sql.ParseError` when it does not parse, ValueError for stages loglake
    cannot apply to stored lines (parsers, label filters, formatters, `ip()`, patterns).

    >>> parse_delete_query('{app="api"} |= "password"')[1]
    (LineFilter(op='|=', values=('password',)),)
    """
    expr = logql2sql.parse(query)
    if not isinstance(expr, ast.LogExpr):
        raise ValueError("delete query must be a log selector")
    filters = []
    for stage in expr.pipeline:
        if not isinstance(stage, ast.LineFilter) or stage.op not in ("|=", "!=", "|~", "!~"):
            raise ValueError("delete query may only hold line filters |= != |~ !~")
        if any(v.ip for v in stage.values):
            raise ValueError("ip() line filters are not supported in delete queries")
        filters.append(LineFilter(stage.op, tuple(v.value for v in stage.values)))
    matchers = tuple(LabelMatcher(m.name, m.op, m.value) for m in expr.matchers)
    return matchers, tuple(filters)


def parse_selector(selector: str) -> tuple[LabelMatcher, ...]:
    """A `retention_stream` selector: label matchers only."""
    matchers, filters = parse_delete_query(selector)
    if filters:
        raise ValueError(f"retention selector may hold label matchers only: {selector}")
    return matchers
