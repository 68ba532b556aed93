"""Loki's `GET /loki/api/v1/drilldown-limits`: the tenant's limits Grafana Logs Drilldown
reads to size its time picker and line limit and to decide which tabs to show.

Loki answers with the tenant's limits (`limits_config` with the tenant's overrides) as JSON,
cut to the fields of its default `tenant_limits_allow_publish` list, next to
`pattern_ingester_enabled` and its version. The values are loglake's where loglake has the
setting (log-level discovery at ingestion among them); for the rest they say what loglake
does, in Loki's words: no pattern ingester, no aggregated metrics, and no limit on query
lookback or range (Loki's defaults).
Durations print as Prometheus' `model.Duration` does (`30d1h`), byte sizes as Loki's
`flagext.ByteSize` (`0B`, `150GB`), and the body as Go's `json.Encoder` writes it: keys
sorted, `<`, `>` and `&` escaped, a newline at the end.

Loki reads the tenant from the `X-Scope-OrgID` header even with auth disabled (the route
has no auth middleware), so `no org id` (401) without one, and 401 for a header naming
several tenants, as `tenant.ExtractTenantIDFromHTTPRequest` answers.
"""

from __future__ import annotations

import json
from typing import Any

from loglake.config import Limits, Settings
from loglake.ingest.errors import PushError
from loglake.ingest.labels import validate_tenant_id
from loglake.kafka.otlp import LOKI_DEFAULT_INDEX_ATTRIBUTES
from loglake.query.errors import QueryError

VOLUME_MAX_SERIES = 1000
"""Loki's default `volume_max_series`."""

_MS = 1_000_000
_DURATION_UNITS = (
    ("y", 365 * 24 * 3600 * 1000, True),
    ("w", 7 * 24 * 3600 * 1000, True),
    ("d", 24 * 3600 * 1000, False),
    ("h", 3600 * 1000, False),
    ("m", 60 * 1000, False),
    ("s", 1000, False),
    ("ms", 1, False),
)
_BYTE_UNITS = (("EB", 1 << 60), ("PB", 1 << 50), ("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20))


def model_duration(ns: int) -> str:
    """Prometheus' `model.Duration.String()`: milliseconds, largest units first, years and
    weeks only when they divide the whole.

    >>> model_duration(721 * 3600 * 10**9), model_duration(60 * 10**9), model_duration(0)
    ('30d1h', '1m', '0s')
    >>> model_duration(14 * 24 * 3600 * 10**9), model_duration(90 * 24 * 3600 * 10**9)
    ('2w', '90d')
    """
    ms = ns // _MS
    if ms == 0:
        return "0s"
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    out = []
    for unit, size, exact in _DURATION_UNITS:
        if exact and ms % size:
            continue
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return sign + "".join(out)


def byte_size(n: int) -> str:
    """Loki's `flagext.ByteSize` text: the largest binary unit dividing it exactly.

    >>> byte_size(0), byte_size(150 * 2**30), byte_size(256 * 1024), byte_size(1500)
    ('0B', '150GB', '256KB', '1500B')
    """
    if n == 0:
        return "0B"
    for unit, size in (*_BYTE_UNITS, ("KB", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def header_tenant(org_id: str | None) -> str:
    """The one tenant of an `X-Scope-OrgID` header (metadata after `:` dropped), or
    Loki's 401."""
    if not org_id:
        raise QueryError("no org id", 401)
    tenants = {part.split(":", 1)[0] for part in org_id.split("|")}
    tenant = org_id.split("|", 1)[0].split(":", 1)[0]
    try:
        validate_tenant_id(tenant)
    except PushError as exc:
        raise QueryError(str(exc), 401) from None
    if len(tenants) > 1:
        raise QueryError("multiple org IDs present", 401)
    return tenant


def published_limits(limits: Limits) -> dict[str, Any]:
    """The fields of Loki's default publish allowlist, valued for `limits`."""
    published: dict[str, Any] = {
        "discover_log_levels": limits.discover_log_levels,
        "discover_service_name": list(limits.discover_service_name),
        "log_level_fields": list(limits.log_level_fields),
        "max_entries_limit_per_query": limits.max_entries_limit_per_query,
        "max_line_size_truncate": limits.max_line_size_truncate,
        "max_query_bytes_read": byte_size(limits.max_query_bytes_read),
        "max_query_length": model_duration(limits.max_query_length),
        "max_query_lookback": model_duration(0),
        "max_query_range": model_duration(0),
        "max_query_series": limits.max_query_series,
        "metric_aggregation_enabled": False,
        "otlp_config": {
            "resource_attributes": {
                "attributes_config": [
                    {
                        "action": "index_label",
                        "attributes": list(LOKI_DEFAULT_INDEX_ATTRIBUTES),
                        "regex": "",
                    }
                ]
            }
        },
        "pattern_persistence_enabled": False,
        "query_timeout": model_duration(limits.query_timeout),
        "retention_period": model_duration(limits.retention_period),
        "volume_enabled": True,
        "volume_max_series": VOLUME_MAX_SERIES,
    }
    if limits.retention_stream:  # `omitempty` in Loki's limits
        published["retention_stream"] = [
            {"period": model_duration(r.period), "priority": r.priority, "selector": r.selector}
            for r in limits.retention_stream
        ]
    return published


def drilldown_limits(settings: Settings, org_id: str | None, version: str) -> bytes:
    """The response body for a request with header `org_id`; `QueryError` 401 as Loki's."""
    tenant = header_tenant(org_id)
    body = {
        "limits": dict(sorted(published_limits(settings.limits_for(tenant)).items())),
        "pattern_ingester_enabled": False,
        "version": version,
    }
    return go_json(body)


def go_json(value: Any) -> bytes:
    """`json.NewEncoder(w).Encode(value)`: compact, HTML characters and U+2028/U+2029
    escaped, a trailing newline (map keys must already be in sorted order)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return (text + "\n").encode()
