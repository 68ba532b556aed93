"""Sensors: start a flush as soon as landing objects are waiting."""

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from dagster_project.defs.ingest import flush_job
from dagster_project.defs.resources import LakeResource
from storage.landing import list_landing


@sensor(job=flush_job, minimum_interval_seconds=30)
def landing_sensor(context: SensorEvaluationContext, lake: LakeResource):
    """Requests a flush when the lake has landing objects; one run per newest object, so a
    backlog that is already being flushed does not start a second run."""
    objects = list_landing(lake.open().store)
    if not objects:
        return SkipReason("no landing objects")
    newest = max(o.key for o in objects)
    return RunRequest(run_key=newest, tags={"landing_objects": str(len(objects))})


sensors = [landing_sensor]
