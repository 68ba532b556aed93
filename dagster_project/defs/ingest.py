"""Ingest assets: landing objects → Parquet chunks and manifest commits."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, asset, define_asset_job

from dagster_project.defs.resources import LAKE_WRITER_POOL, LakeResource
from storage.flush import FlushError, FlushResult


@asset(group_name="ingest", compute_kind="duckdb", pool=LAKE_WRITER_POOL)
def lake_flush(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Flush the lake: every landing object (pushes and Kafka batches written ahead) becomes
    zstd Parquet chunks, partitioned by tenant, day and partition labels and sorted by
    (stream, time), published in one label-manifest commit per tenant and day. Landing
    objects are deleted only after their commit, so a failed run is simply run again."""
    try:
        result = lake.open().flush(
            progress=lambda done, total: context.log.info(f"flushed {done}/{total} landing objects")
        )
    except FlushError as err:  # the other tenants were flushed: say what was done
        raise Failure(
            description=str(err),
            metadata={**_metadata(err.result), "failed_tenants": ", ".join(err.errors)},
        ) from err
    return MaterializeResult(metadata=_metadata(result))


def _metadata(result: FlushResult) -> dict[str, object]:
    return {
        "landing_objects": result.landing_objects,
        "rows": result.rows,
        "raw_bytes": result.raw_bytes,
        "chunks": result.chunks,
        "chunk_bytes": result.chunk_bytes,
        "manifest_commits": result.commits,
        "commit_conflicts": result.conflicts,
        "days": ", ".join(result.days),
        "duration_s": round(result.seconds, 3),
    }


assets = [lake_flush]

flush_job = define_asset_job(
    "flush_job", selection=[lake_flush], description="Flush landing data into chunks."
)

jobs = [flush_job]
