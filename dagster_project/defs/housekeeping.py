"""Retention, deletes and garbage collection as Dagster assets with schedules, and the
asset checks that watch the lake's health.

All three write to the lake and sit in the `lake_writer` pool with compaction. The logic
lives in `loglake.operations` (the CLI runs the same functions).
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    ScheduleDefinition,
    asset,
    asset_check,
    define_asset_job,
)

from dagster_project.defs.compaction import LAKE_WRITER_POOL, lake_compaction
from dagster_project.defs.resources import LakeResource
from loglake.operations import (
    HousekeepingError,
    RetentionRun,
    apply_retention,
    collect_garbage,
    process_deletes,
)
from storage import manifest
from storage.deletes import DeleteResult
from storage.landing import list_landing

LANDING_BACKLOG_LIMIT = 1000
"""More landing objects than this waiting means flushes are not keeping up."""


@asset(group_name="housekeeping", deps=["lake_flush"], pool=LAKE_WRITER_POOL)
def lake_retention(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Apply retention (when `compactor.retention_enabled`) with Loki's per-chunk rule: a
    stream's rows in a chunk leave the lake once the newest of them is older than the
    stream's period — Loki's `retention_stream` rules by priority, else the tenant's
    `retention_period`. Wholly expired days and chunks leave the manifest unread; chunks
    where only some streams expired are rewritten without them."""
    try:
        run = apply_retention(lake.open())
    except HousekeepingError as err:  # the other tenants were done: say what was done
        raise _failure(err, _retention_metadata(err.result)) from err
    if not run.enabled:
        context.log.info("retention is disabled (compactor.retention_enabled: false)")
    return MaterializeResult(metadata=_retention_metadata(run))


def _retention_metadata(run: RetentionRun) -> dict[str, object]:
    results = run.results
    return {
        "enabled": run.enabled,
        "tenants": len(results),
        "rows_removed": sum(r.rows_removed for r in results),
        "days_dropped": sum(r.days_dropped for r in results),
        "chunks_dropped": sum(r.chunks_dropped for r in results),
        "chunks_rewritten": sum(r.chunks_rewritten for r in results),
        "manifest_commits": sum(r.commits for r in results),
    }


def _failure(err: HousekeepingError, metadata: dict[str, object]) -> Failure:
    """The run's failure, with what the steps that did not fail did."""
    return Failure(description=str(err), metadata={**metadata, "failed": "; ".join(err.errors)})


@asset(group_name="housekeeping", deps=["lake_flush"], pool=LAKE_WRITER_POOL)
def lake_deletes(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Process delete requests (`/loki/api/v1/delete`) of `filter-and-delete` tenants whose
    `delete_request_cancel_period` is over: the tenant's landing data is flushed, then
    chunks holding selected lines are rewritten without them, one manifest commit per day
    and shard, and the request is marked processed. Queries hide the lines from the moment
    a request is received (in `filter-only` mode too, where nothing is rewritten)."""
    try:
        results = process_deletes(lake.open())
    except HousekeepingError as err:  # the other requests were processed
        _log_deletes(context, err.result)
        raise _failure(err, _deletes_metadata(err.result)) from err
    _log_deletes(context, results)
    return MaterializeResult(metadata=_deletes_metadata(results))


def _log_deletes(context: AssetExecutionContext, results: list[DeleteResult]) -> None:
    for r in results:
        context.log.info(f"{r.tenant} {r.request_id}: {r.lines_deleted} lines deleted")


def _deletes_metadata(results: list[DeleteResult]) -> dict[str, object]:
    return {
        "requests_processed": len(results),
        "shards_processed": sum(r.shards for r in results),
        "landing_objects_flushed": sum(r.landing_flushed for r in results),
        "lines_deleted": sum(r.lines_deleted for r in results),
        "chunks_dropped": sum(r.chunks_dropped for r in results),
        "chunks_rewritten": sum(r.chunks_rewritten for r in results),
    }


@asset(
    group_name="housekeeping",
    deps=[lake_compaction, lake_retention, lake_deletes],
    pool=LAKE_WRITER_POOL,
)
def lake_gc(lake: LakeResource) -> MaterializeResult:
    """Garbage-collect: chunks no live manifest version references and manifest versions
    superseded more than `retention_delete_delay` ago are deleted, once older than that
    grace period — so queries pinned on an older version and writers that have not
    committed yet are never disturbed."""
    result = collect_garbage(lake.open())
    return MaterializeResult(
        metadata={
            "chunks_deleted": result.chunks_deleted,
            "bytes_deleted": result.chunk_bytes_deleted,
            "manifest_versions_deleted": result.manifest_versions_deleted,
            "chunks_live": result.chunks_live,
            "chunks_young": result.chunks_young,
            "temp_files_deleted": result.temp_files_deleted,
            "duration_s": round(result.seconds, 3),
        }
    )


@asset_check(asset="lake_flush", description="Landing objects waiting stay below a bound.")
def landing_backlog_below_limit(lake: LakeResource) -> AssetCheckResult:
    """Warns when more than `LANDING_BACKLOG_LIMIT` landing objects wait for a flush."""
    waiting = len(list_landing(lake.open().store))
    return AssetCheckResult(
        passed=waiting <= LANDING_BACKLOG_LIMIT,
        severity=AssetCheckSeverity.WARN,
        metadata={"landing_objects": waiting, "limit": LANDING_BACKLOG_LIMIT},
    )


@asset_check(asset=lake_gc, description="Every chunk the latest manifests name exists.")
def referenced_chunks_exist(lake: LakeResource) -> AssetCheckResult:
    """Fails when a chunk referenced by a latest manifest version is missing — what a
    garbage collection that removed live data would leave behind."""
    store = lake.open().store
    existing = {o.key for o in store.list("chunks")}
    missing = []
    for tenant in manifest.tenants(store):
        for day in manifest.days(store, tenant):
            latest = manifest.load_latest(store, tenant, day)
            missing += [k for k in latest.chunk_keys() if k not in existing]
    return AssetCheckResult(
        passed=not missing,
        severity=AssetCheckSeverity.ERROR,
        metadata={"missing_chunks": len(missing), "examples": ", ".join(missing[:5])},
    )


retention_job = define_asset_job("retention_job", selection=[lake_retention])
deletes_job = define_asset_job("deletes_job", selection=[lake_deletes])
gc_job = define_asset_job("gc_job", selection=[lake_gc])

retention_schedule = ScheduleDefinition(
    name="retention_daily",
    job=retention_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Apply retention every day at 03:00 UTC.",
)
deletes_schedule = ScheduleDefinition(
    name="deletes_hourly",
    job=deletes_job,
    cron_schedule="30 * * * *",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Process due delete requests every hour.",
)
gc_schedule = ScheduleDefinition(
    name="gc_hourly",
    job=gc_job,
    cron_schedule="45 * * * *",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Collect garbage every hour (objects older than the grace period).",
)

assets = [lake_retention, lake_deletes, lake_gc]
asset_checks = [landing_backlog_below_limit, referenced_chunks_exist]
jobs = [retention_job, deletes_job, gc_job]
schedules = [retention_schedule, deletes_schedule, gc_schedule]
