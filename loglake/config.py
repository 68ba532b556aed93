"""Settings: one typed object loaded from a YAML file whose sections reuse Loki's names.

A Loki operator recognises the file: `auth_enabled`, `server`, `querier`, `limits_config`
and a `runtime_config` file with per-tenant `overrides`, all with Loki's names and defaults.
loglake's own settings live in `storage` (where the lake is) and `lake` (how it is laid out).

    auth_enabled: false
    server: {http_listen_address: 127.0.0.1, http_listen_port: 3100}
    storage: {lake: s3://logs/prod, s3: {endpoint: http://127.0.0.1:9000, region: us-east-1}}
    lake: {partition_labels: [service_name], flush_interval: 30s}
    querier: {max_concurrent: 4}
    limits_config: {ingestion_rate_mb: 8, max_line_size: 256KB}
    runtime_config: {file: overrides.yaml}   # overrides: {tenant-a: {ingestion_rate_mb: 16}}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

import logql2sql
from logql2sql.errors import LogQLError
from logql2sql.lexical import parse_duration

DEFAULT_DISCOVER_SERVICE_NAME = (
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
)
"""Loki 3's default `discover_service_name` list, in its order of preference."""

DEFAULT_LEVEL_FIELDS = (
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
)
"""Loki's default `log_level_fields`: where `detected_level` discovery looks for a level."""

DEFAULT_JSON_MAX_DEPTH = 2
"""Loki's default `log_level_from_json_max_depth`."""

_BYTES_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1024,
    "mb": 1024**2,
    "gb": 1024**3,
    "tb": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
"""Byte-size units of Loki's flags (`flagext.ByteSize`): KB, MB, … are binary multiples."""


def parse_duration_ns(text: str | int | float) -> int:
    """Parse a Prometheus/Go duration (`1h30m`, `10s`, `1w`) into nanoseconds, as Loki
    parses durations in its configuration; bare numbers are seconds.

    >>> parse_duration_ns("1h30m")
    5400000000000
    >>> parse_duration_ns("0s")
    0
    """
    if isinstance(text, int | float):
        return int(text * 1_000_000_000)
    try:
        return parse_duration(text.strip())
    except LogQLError as exc:
        raise ValueError(str(exc)) from None


def parse_bytes(text: str | int) -> int:
    """Parse a byte size as Loki's flags do (`256KB` is 256 KiB, as in Loki's flagext).

    >>> parse_bytes("256KB")
    262144
    >>> parse_bytes(1024)
    1024
    """
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _BYTES_UNITS:
        raise ValueError(f"invalid byte size: {text!r}")
    return int(float(m.group(1)) * _BYTES_UNITS[m.group(2).lower()])


Duration = Annotated[
    int, BeforeValidator(lambda v: parse_duration_ns(v) if isinstance(v, str) else int(v))
]
"""A duration setting in nanoseconds: text as `parse_duration_ns` reads it (`1h30m`), or a
number of nanoseconds (as `model_dump` gives it back when overrides are merged)."""
ByteSize = Annotated[
    int, BeforeValidator(lambda v: parse_bytes(v) if isinstance(v, str) else int(v))
]
"""A byte-size setting: text as `parse_bytes` reads it (`256KB`), or a number of bytes."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


DELETION_MODES = ("disabled", "filter-only", "filter-and-delete")
_DAY_NS = 24 * 3600 * 1_000_000_000


class StreamRetention(_Section):
    """One `retention_stream` entry, as in Loki's limits: a selector of label matchers only,
    a priority and a period of at least a day."""

    selector: str
    priority: int = 0
    period: Duration

    @field_validator("period")
    @classmethod
    def _at_least_a_day(cls, v: int) -> int:
        if v < _DAY_NS:
            raise ValueError("retention period must be >= 24h")
        return v

    @field_validator("selector")
    @classmethod
    def _label_matchers_only(cls, v: str) -> str:
        expr = logql2sql.parse(v)
        if not isinstance(expr, logql2sql.ast.LogExpr) or expr.pipeline:
            raise ValueError(f"retention selector may hold label matchers only: {v}")
        return v


class Limits(_Section):
    """Per-tenant limits, with Loki's `limits_config` names and defaults."""

    ingestion_rate_mb: float = 4.0
    ingestion_burst_size_mb: float = 6.0
    max_line_size: ByteSize = 256 * 1024
    max_line_size_truncate: bool = False
    reject_old_samples: bool = True
    reject_old_samples_max_age: Duration = parse_duration_ns("1w")
    creation_grace_period: Duration = parse_duration_ns("10m")
    max_label_names_per_series: int = 15
    max_label_name_length: int = 1024
    max_label_value_length: int = 2048
    allow_structured_metadata: bool = True
    max_structured_metadata_size: ByteSize = 64 * 1024
    max_structured_metadata_entries_count: int = 128
    discover_service_name: tuple[str, ...] = DEFAULT_DISCOVER_SERVICE_NAME
    # Loki's default is true; off here by default, as adding `detected_level` to every entry
    # costs push and flush throughput (see the README).
    discover_log_levels: bool = False
    log_level_fields: tuple[str, ...] = DEFAULT_LEVEL_FIELDS
    log_level_from_json_max_depth: int = DEFAULT_JSON_MAX_DEPTH
    max_query_series: int = 500
    max_entries_limit_per_query: int = 5000
    query_timeout: Duration = parse_duration_ns("1m")
    max_query_length: Duration = parse_duration_ns("30d1h")
    max_query_bytes_read: ByteSize = 0
    retention_period: Duration = 0
    retention_stream: tuple[StreamRetention, ...] = ()
    deletion_mode: str = "filter-and-delete"

    @field_validator("deletion_mode")
    @classmethod
    def _deletion_mode(cls, v: str) -> str:
        if v not in DELETION_MODES:
            raise ValueError(f"invalid deletion mode {v!r}, expected one of {DELETION_MODES}")
        return v


class ServerConfig(_Section):
    """Loki's `server` block: where the HTTP API listens."""

    http_listen_address: str = "127.0.0.1"
    http_listen_port: int = 3100


class S3Config(_Section):
    """Endpoint and credentials for an `s3://` lake; unset fields fall back to AWS_* env."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class StorageConfig(_Section):
    """Where the lake lives: a local directory or `s3://bucket/prefix`."""

    lake: str = "./lake"
    s3: S3Config = S3Config()


class LakeConfig(_Section):
    """How the lake is laid out and maintained."""

    partition_labels: tuple[str, ...] = ("service_name",)
    max_partition_values: int = 512
    flush_interval: Duration = 0
    group_commit_max_bytes: int = 64 * 1024 * 1024


class CompactorConfig(_Section):
    """Loki's `compactor` block (the keys loglake uses) plus compaction's own settings."""

    retention_enabled: bool = False
    retention_delete_delay: Duration = parse_duration_ns("2h")
    delete_request_cancel_period: Duration = parse_duration_ns("24h")
    delete_max_interval: Duration = parse_duration_ns("24h")
    compaction_target_bytes: ByteSize = 128 * 1024 * 1024
    compaction_compression_level: int = 1


class QuerierConfig(_Section):
    """Loki's `querier` block (the key loglake uses): how many queries run at once in a
    process; more wait for a slot, and the wait is their stats' `queueTime`."""

    max_concurrent: int = Field(4, ge=1)


class RuntimeConfig(_Section):
    """Loki's `runtime_config`: a file of per-tenant `overrides`."""

    file: str | None = None


class Settings(_Section):
    """The whole configuration file."""

    auth_enabled: bool = False
    no_auth_tenant: str = "fake"
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    lake: LakeConfig = LakeConfig()
    compactor: CompactorConfig = CompactorConfig()
    querier: QuerierConfig = QuerierConfig()
    limits_config: Limits = Limits()
    runtime_config: RuntimeConfig = RuntimeConfig()
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    _tenant_limits: dict[str, Limits] = PrivateAttr(default_factory=dict)

    def limits_for(self, tenant: str) -> Limits:
        """The limits in force for `tenant`: `limits_config` with its overrides applied
        (validated once per tenant: this is on every push's path)."""
        override = self.overrides.get(tenant)
        if not override:
            return self.limits_config
        cached = self._tenant_limits.get(tenant)
        if cached is None:
            cached = Limits.model_validate({**self.limits_config.model_dump(), **override})
            self._tenant_limits[tenant] = cached
        return cached


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load settings from a YAML file (optional), then the runtime overrides file, then
    `LOGLAKE_LAKE` from the environment, then keyword overrides (CLI flags)."""
    data: dict[str, Any] = {}
    base = Path(".")
    if path is not None:
        base = Path(path).parent
        data = yaml.safe_load(Path(path).read_text()) or {}
    settings = Settings.model_validate(data)
    if settings.runtime_config.file:
        runtime_path = base / settings.runtime_config.file
        runtime = yaml.safe_load(runtime_path.read_text()) or {}
        settings.overrides = dict(runtime.get("overrides") or {})
        for tenant in settings.overrides:  # a bad override fails the load, as in Loki
            settings.limits_for(tenant)
    env_lake = os.environ.get("LOGLAKE_LAKE")
    if env_lake and path is None:
        settings.storage.lake = env_lake
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "lake":
            settings.storage.lake = value
        elif key == "host":
            settings.server.http_listen_address = value
        elif key == "port":
            settings.server.http_listen_port = value
        else:
            raise TypeError(f"unknown settings override {key!r}")
    return settings
