"""Compaction as a Dagster asset partitioned by tenant × day, with an hourly schedule.

Partitions are dynamic (`lake_tenant_days`, keys `<tenant>:<YYYY-MM-DD>`): the schedule
registers the tenant-days that have small chunks to merge and requests one run for each.
Runs are tagged `loglake/tenant_day` and the asset sits in the `lake_writer` pool, so with
the instance settings `loglake dagster` writes two compactions of one tenant's day never
run at once; the manifest's create-if-absent commit is the second line of defence.
"""

import os
from urllib.parse import unquote

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    DefaultScheduleStatus,
    DynamicPartitionsDefinition,
    EnvVar,
    MaterializeResult,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    schedule,
)

from dagster_project.defs.resources import LAKE_WRITER_POOL, LakeResource
from loglake.operations import compact_lake, days_to_compact

TENANT_DAY_TAG = "loglake/tenant_day"
TENANT_DAYS = DynamicPartitionsDefinition(name="lake_tenant_days")


def partition_key(tenant: str, day: str) -> str:
    """The partition key of a tenant's day (dots escaped: Dagster refuses `...`)."""
    return f"{tenant.replace('.', '%2E')}:{day}"


def tenant_day(key: str) -> tuple[str, str]:
    """Invert `partition_key`."""
    tenant, _, day = key.rpartition(":")
    return unquote(tenant), day


@asset(
    group_name="housekeeping",
    partitions_def=TENANT_DAYS,
    deps=["lake_flush"],
    pool=LAKE_WRITER_POOL,
    compute_kind="pyarrow",
    check_specs=[
        AssetCheckSpec(
            "no_overlapping_stream_chunks",
            asset="lake_compaction",
            description="The chunks one compaction writes never overlap in time for a stream.",
        )
    ],
)
def lake_compaction(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Compact one tenant's day: chunks smaller than half the target size are merged into
    chunks of at most `compaction_target_bytes` of text, re-sorted by (stream, time),
    deduplicated and written at a higher zstd level, swapped in by one manifest commit.
    Queries see the old chunks or the new ones, never both; the replaced objects are
    deleted by `lake_gc` after `retention_delete_delay`."""
    tenant, day = tenant_day(context.partition_key)
    results = compact_lake(lake.open(), tenants=[tenant], days=[day])
    overlaps = sum(r.overlapping_streams for r in results)
    metadata = {
        "tenant": tenant,
        "day": day,
        "chunks_before": sum(r.chunks_before for r in results),
        "chunks_after": sum(r.chunks_after for r in results),
        "merged_chunks": sum(r.merged_chunks for r in results),
        "written_chunks": sum(r.written_chunks for r in results),
        "bytes_before": sum(r.bytes_before for r in results),
        "bytes_after": sum(r.bytes_after for r in results),
        "rows": sum(r.rows_out for r in results),
        "duplicates_dropped": sum(r.duplicates_dropped for r in results),
        "manifest_version": max((r.version for r in results), default=0),
        "commit_conflicts": sum(r.conflicts for r in results),
        "duration_s": round(sum(r.seconds for r in results), 3),
    }
    check = AssetCheckResult(
        check_name="no_overlapping_stream_chunks",
        passed=overlaps == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"overlapping_streams": overlaps},
    )
    return MaterializeResult(metadata=metadata, check_results=[check])


compaction_job = define_asset_job(
    "compaction_job",
    selection=[lake_compaction],
    description="Compact one tenant's day.",
)


@schedule(
    job=compaction_job,
    cron_schedule="0 * * * *",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Every hour: compact every tenant's day that has small chunks to merge.",
)
def compaction_schedule(context: ScheduleEvaluationContext, lake: LakeResource):
    """Registers the tenant-days with small chunks as partitions and requests a run each."""
    keys = [partition_key(t, d) for t, d in days_to_compact(lake.open())]
    if not keys:
        return SkipReason("no tenant-day has small chunks to merge")
    context.instance.add_dynamic_partitions(TENANT_DAYS.name, keys)
    stamp = context.scheduled_execution_time.isoformat()
    return [
        RunRequest(run_key=f"{key}@{stamp}", partition_key=key, tags={TENANT_DAY_TAG: key})
        for key in keys
    ]


assets = [lake_compaction]
jobs = [compaction_job]
schedules = [compaction_schedule]

# The configuration file (compactor settings, retention limits) is optional, and Dagster
# fails every run whose EnvVar is unset: the lake resource gets it only when named.
resources = (
    {"lake": LakeResource(lake=EnvVar("LOGLAKE_LAKE"), config_file=EnvVar("LOGLAKE_CONFIG"))}
    if "LOGLAKE_CONFIG" in os.environ
    else {}
)
