"""Settings of the lake's housekeeping: Loki's `compactor` block and retention limits.

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
`overrides:` file as in Loki. The keys are validated by `loglake.config.Settings`;
`OpsSettings.from_settings(settings)` turns them into what the operations use.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

import logql2sql
from loglake.config import (
    DELETION_MODES,
    CompactorConfig,
    Settings,
    StreamRetention,
    load_settings,
    parse_duration_ns,
)
from logql2sql import ast
from storage.retention import RetentionPolicy, StreamRule
from storage.selection import LabelMatcher, LineFilter

RETENTION_LIMIT_KEYS = ("retention_period", "retention_stream", "deletion_mode")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetentionLimits(_Section):
    """Retention and deletion limits, with Loki's `limits_config` names and defaults."""

    retention_period: int = 0
    retention_stream: tuple[StreamRetention, ...] = ()
    deletion_mode: str = "filter-and-delete"

    @field_validator("retention_period", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration_ns(v) if isinstance(v, str) else int(v)

    @field_validator("deletion_mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v not in DELETION_MODES:
            raise ValueError(f"invalid deletion mode {v!r}, expected one of {DELETION_MODES}")
        return v

    def policy(self) -> RetentionPolicy:
        """The storage-side retention policy of these limits."""
        return RetentionPolicy(
            period_ns=self.retention_period,
            rules=tuple(
                StreamRule(parse_selector(r.selector), r.priority, r.period)
                for r in self.retention_stream
            ),
        )


class OpsSettings(_Section):
    """Compactor settings, global retention limits and per-tenant overrides of them."""

    compactor: CompactorConfig = CompactorConfig()
    limits: RetentionLimits = RetentionLimits()
    overrides: dict[str, RetentionLimits] = Field(default_factory=dict)

    def limits_for(self, tenant: str) -> RetentionLimits:
        """A tenant's limits: its overrides on top of the global ones, as Loki merges."""
        return self.overrides.get(tenant, self.limits)

    @classmethod
    def build(
        cls, compactor: dict, limits: dict, overrides: dict[str, dict[str, Any]]
    ) -> OpsSettings:
        """From raw sections: tenant overrides are merged over the global limits."""
        base = RetentionLimits.model_validate(limits)
        per_tenant = {}
        for tenant, override in overrides.items():
            keys = {k: v for k, v in (override or {}).items() if k in RETENTION_LIMIT_KEYS}
            if keys:
                per_tenant[tenant] = RetentionLimits.model_validate({**base.model_dump(), **keys})
        return cls(
            compactor=CompactorConfig.model_validate(compactor), limits=base, overrides=per_tenant
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpsSettings:
        """From a `Settings`: its `compactor` section and retention limits."""
        limits = settings.limits_config.model_dump()
        return cls.build(
            settings.compactor.model_dump(),
            {k: v for k, v in limits.items() if k in RETENTION_LIMIT_KEYS},
            settings.overrides,
        )


def load_with_ops(
    path: str | os.PathLike[str] | None, lake: str | None = None
) -> tuple[Settings, OpsSettings]:
    """Settings and ops settings from one configuration file."""
    settings = load_settings(path, lake=lake)
    return settings, OpsSettings.from_settings(settings)


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
