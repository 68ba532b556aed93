"""Schedules: a periodic flush as a safety net beside the landing sensor."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from dagster_project.defs.ingest import flush_job

flush_schedule = ScheduleDefinition(
    name="flush_every_15_minutes",
    job=flush_job,
    cron_schedule="*/15 * * * *",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Flush landing data every 15 minutes (the landing sensor usually comes first).",
)

schedules = [flush_schedule]
