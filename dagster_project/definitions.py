"""Dagster entry point: `dagster dev -m dagster_project.definitions`.

Loads the small modules under `defs/` by kind; the logic they orchestrate lives in
`storage/` and `loglake/`.
"""

from dagster import Definitions, EnvVar

from dagster_project.defs import ingest, resources, schedules, sensors

defs = Definitions(
    assets=[*ingest.assets],
    jobs=[ingest.flush_job],
    schedules=[*schedules.schedules],
    sensors=[*sensors.sensors],
    resources={"lake": resources.LakeResource(lake=EnvVar("LOGLAKE_LAKE"))},
)
