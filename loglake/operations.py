"""The lake's housekeeping as the service runs it: compaction, retention, deletes and GC
with the settings applied — what the CLI commands and the Dagster assets both call.

    compact_lake(lake)    every tenant's days with small chunks (storage.compaction)
    apply_retention(lake) per-tenant policies, only with `retention_enabled` (as Loki)
    process_deletes(lake) due delete requests of tenants in `filter-and-delete` mode
    collect_garbage(lake) unreferenced objects older than `retention_delete_delay`

Each reads the lake's own settings (`lake.settings`: the `compactor` section and the
per-tenant limits), so the service, the CLI and Dagster apply one configuration. A tenant
(a tenant's day, a delete request) whose step fails does not hold back the others: they
are done, then `HousekeepingError` names the failures with what the others did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loglake.config import CompactorConfig
from loglake.lake import Lake
from loglake.ops_config import retention_policy
from storage import compaction, deletes, gc, manifest, retention
from storage.delete_requests import tenants_with_requests


def compaction_options(compactor: CompactorConfig) -> compaction.CompactionOptions:
    """Compaction's options from the `compactor` settings."""
    return compaction.CompactionOptions(
        target_bytes=compactor.compaction_target_bytes,
        compression_level=compactor.compaction_compression_level,
        max_merge_bytes=4 * compactor.compaction_target_bytes,
    )


Progress = Callable[[int, int, str], None]
"""`progress(done, total, what)` for long-running operations."""


class HousekeepingError(Exception):
    """`operation` failed for some of its steps; `result` is what the other steps did (what
    the operation returns) and `errors` the failure of each failed step, by a name such as
    `tenant 'a', day 2024-05-01` (the first failure is also the `__cause__`)."""

    def __init__(self, operation: str, result: Any, errors: dict[str, Exception]) -> None:
        self.operation, self.result, self.errors = operation, result, errors
        failures = "; ".join(f"{step}: {err}" for step, err in errors.items())
        super().__init__(f"{operation} failed for {len(errors)} step(s): {failures}")
        self.__cause__ = next(iter(errors.values()))


def compact_lake(
    lake: Lake,
    *,
    tenants: list[str] | None = None,
    days: list[str] | None = None,
    progress: Progress | None = None,
) -> list[compaction.CompactionResult]:
    """Compact the chosen tenants' days (default: all of them)."""
    work = [
        (tenant, day)
        for tenant in (tenants if tenants is not None else manifest.tenants(lake.store))
        for day in manifest.days(lake.store, tenant)
        if days is None or day in days
    ]
    options = compaction_options(lake.settings.compactor)
    results = []
    errors: dict[str, Exception] = {}
    for done, (tenant, day) in enumerate(work, 1):
        try:
            results.append(
                compaction.compact_day(lake.store, tenant, day, options, lake.chunk_options)
            )
        except Exception as err:  # reported once the other days are compacted
            errors[f"tenant {tenant!r}, day {day}"] = err
        if progress:
            progress(done, len(work), f"{tenant}/{day}")
    if errors:
        raise HousekeepingError("compaction", results, errors)
    return results


def days_to_compact(lake: Lake) -> list[tuple[str, str]]:
    """(tenant, day) pairs whose latest version has small chunks to merge."""
    options = compaction_options(lake.settings.compactor)
    return [
        (tenant, day)
        for tenant in manifest.tenants(lake.store)
        for day in manifest.days(lake.store, tenant)
        if compaction.plan_merges(manifest.load_latest(lake.store, tenant, day).refs, options)
    ]


@dataclass
class RetentionRun:
    """Retention over the lake: skipped when disabled, else one result per tenant."""

    enabled: bool
    results: list[retention.RetentionResult] = field(default_factory=list)


def apply_retention(
    lake: Lake, *, now_ns: int | None = None, progress: Progress | None = None
) -> RetentionRun:
    """Apply each tenant's retention policy, when `retention_enabled`."""
    if not lake.settings.compactor.retention_enabled:
        return RetentionRun(enabled=False)
    run = RetentionRun(enabled=True)
    errors: dict[str, Exception] = {}
    tenants = manifest.tenants(lake.store)
    for done, tenant in enumerate(tenants, 1):
        policy = retention_policy(lake.settings.limits_for(tenant))
        try:
            run.results.append(
                retention.apply_retention(
                    lake.store, tenant, policy, lake.chunk_options, now_ns=now_ns
                )
            )
        except Exception as err:  # reported once the other tenants are done
            errors[f"tenant {tenant!r}"] = err
        if progress:
            progress(done, len(tenants), tenant)
    if errors:
        raise HousekeepingError("retention", run, errors)
    return run


def process_deletes(lake: Lake, *, now_ns: int | None = None) -> list[deletes.DeleteResult]:
    """Apply due delete requests of tenants whose `deletion_mode` deletes data.

    Nothing runs without `retention_enabled` (the delete API does not exist then either).
    """
    settings = lake.settings
    if not settings.compactor.retention_enabled:
        return []
    tenants = [
        t
        for t in tenants_with_requests(lake.store)
        if settings.limits_for(t).deletion_mode == "filter-and-delete"
    ]
    errors: dict[str, Exception] = {}

    def failed(request: deletes.DeleteRequest, err: Exception) -> None:
        errors[f"tenant {request.tenant!r}, request {request.request_id}"] = err

    results = deletes.process_deletes(
        lake.store,
        lake.chunk_options,
        cancel_period_ns=settings.compactor.delete_request_cancel_period,
        now_ns=now_ns,
        tenants=tenants,
        on_error=failed,
    )
    if errors:
        raise HousekeepingError("deletes", results, errors)
    return results


def collect_garbage(
    lake: Lake, *, grace_ns: int | None = None, dry_run: bool = False
) -> gc.GcResult:
    """Delete what no live manifest version references, after the grace period
    (`retention_delete_delay` unless given)."""
    grace = lake.settings.compactor.retention_delete_delay if grace_ns is None else grace_ns
    return gc.collect_garbage(lake.store, grace, dry_run=dry_run)
