"""The dbt-like SQL models (`dbt_like_models/`) as daily-partitioned Dagster assets.

One asset per model: its dependencies are the model graph found by parsing the SQL
(`loglake.models`), sources (the lake's `logs`) map to the `lake_flush` asset, the
description comes from the YAML. A run for one day partition builds that day only, for
every tenant with data on it, skipping tenants whose inputs did not change (a run without a
partition builds every day); the
materialization reports rows, columns, time range and the YAML tests that failed (a failed
test fails the run, as `dbt build` does).

`hubble_models_schedule` (stopped by default, as the other schedules) keeps the models
fresh incrementally: every hour it asks for yesterday's and today's partitions, which
rebuild only the tenants whose day changed since (late flows still reach yesterday).
"""

import datetime as dt

import dagster as dg

from dagster_project.defs.resources import LakeResource
from loglake.models import Model, Project, build_models, load_project

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2021-01-01", end_offset=1)
"""Days from 2021 (the oldest real Hubble captures) to today, UTC."""

GROUP = "hubble_models"
SOURCE_ASSET = dg.AssetKey("lake_flush")


def model_asset(project: Project, model: Model) -> dg.AssetsDefinition:
    """The asset that builds one model for one day partition."""
    deps = [dg.AssetKey(name) for name in project.upstream_models(model.name)]
    if project.reads_sources(model.name):
        deps.append(SOURCE_ASSET)

    @dg.asset(
        name=model.name,
        group_name=GROUP,
        deps=deps,
        description=model.description or None,
        partitions_def=PARTITIONS,
        kinds={"duckdb", "sql"},
        metadata={"sql_file": str(model.path), "reads": ", ".join(model.depends_on)},
    )
    def build_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        results = build_models(
            lake.open().store,
            project,
            select=[model.name],
            # a run without a partition (e.g. "materialize all") builds every day
            days=[context.partition_key] if context.has_partition_key else None,
            ancestors=False,
        )
        built = [r for r in results if r.status == "built"]
        failed = [
            f"{c.test.name} ({r.tenant}): {c.failures} rows"
            for r in results
            for c in r.failed_checks
        ]
        ranges = [r.time_range for r in results if r.time_range]
        metadata = {
            "rows": sum(r.rows for r in results),
            "columns": ", ".join(results[0].columns) if results else "",
            "tenants": ", ".join(r.tenant for r in results),
            "partitions_built": len(built),
            "partitions_up_to_date": len(results) - len(built),
            "time_range": f"{min(a for a, _ in ranges)} .. {max(b for _, b in ranges)}"
            if ranges
            else "",
            "failed_tests": ", ".join(failed),
        }
        if failed:
            raise dg.Failure(
                description="YAML tests failed: " + "; ".join(failed), metadata=metadata
            )
        context.log.info(f"{model.name}: {metadata['rows']} rows, {len(built)} partitions built")
        return dg.MaterializeResult(metadata=metadata)

    return build_model


PROJECT = load_project()
assets = [model_asset(PROJECT, m) for m in PROJECT.order()]

models_job = dg.define_asset_job(
    "hubble_models_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Build the Hubble flow models for one day.",
)
jobs = [models_job]


@dg.schedule(
    job=models_job,
    cron_schedule="20 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour: build yesterday's and today's model partitions (unchanged "
    "tenants are skipped).",
)
def hubble_models_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """A run per recent day partition, keyed by day and tick."""
    today = context.scheduled_execution_time.astimezone(dt.UTC).date()
    stamp = context.scheduled_execution_time.isoformat()
    days = [(today - dt.timedelta(days=1)).isoformat(), today.isoformat()]
    return [dg.RunRequest(run_key=f"{day}@{stamp}", partition_key=day) for day in days]


schedules = [hubble_models_schedule]
