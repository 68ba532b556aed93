"""Kafka ingestion in Dagster: an asset that consumes until caught up (or a record/time
bound) and a sensor that requests it when the lake lags behind the topics.

The consumer is configured by `KafkaResource`: brokers and topics from the environment
(`EnvVar`: `LOGLAKE_KAFKA_BROKERS`, `LOGLAKE_KAFKA_TOPICS` = comma-separated names or
`^regex`), the other settings (format, group, labels, error handling) as resource fields.
"""

import json

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    EnvVar,
    MaterializeResult,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    sensor,
)
from pydantic import Field

from dagster_project.defs.resources import LakeResource
from loglake.kafka import KafkaIngestConfig, ingest
from loglake.kafka.config import parse_label_option
from loglake.kafka.lag import lake_lag
from loglake.lake import Lake


class KafkaResource(ConfigurableResource):
    """What to consume: brokers, topics, record format and consumer group; `labels` in
    LogQL selector form; `client_config` passes librdkafka properties (SASL, TLS) through.
    `max_records`/`max_seconds` bound one run."""

    brokers: str
    topics: str
    format: str = "raw"
    group_id: str = "loglake"
    tenant: str = "fake"
    labels: str = ""
    use_incoming_timestamp: bool = False
    on_error: str = "label"
    dead_letter_topic: str | None = None
    client_config: dict[str, str] = Field(default_factory=dict)
    max_records: int | None = None
    max_seconds: float = 600.0

    def ingest_config(self) -> KafkaIngestConfig:
        """The consumer settings these values describe."""
        return KafkaIngestConfig(
            brokers=self.brokers,
            topics=tuple(t.strip() for t in self.topics.split(",") if t.strip()),
            format=self.format,
            group_id=self.group_id,
            tenant=self.tenant,
            labels=parse_label_option(self.labels),
            use_incoming_timestamp=self.use_incoming_timestamp,
            on_error=self.on_error,
            dead_letter_topic=self.dead_letter_topic,
            client_config=dict(self.client_config),
        )


def _lag_metadata(lake: Lake, config: KafkaIngestConfig) -> dict[str, int]:
    return {f"{t}/{p}": v for (t, p), v in sorted(lake_lag(lake, config).items())}


@asset(group_name="ingest", compute_kind="kafka")
def kafka_ingest(
    context: AssetExecutionContext, lake: LakeResource, kafka: KafkaResource
) -> MaterializeResult:
    """Consume the configured Kafka topics into the lake's landing area until caught up
    (or the resource's record/time bound), exactly once: each partition batch is one
    landing object holding its offsets, and the consumer resumes from the offsets in the
    lake, so a failed or repeated run neither loses nor duplicates records. The entries are
    queryable at once; `lake_flush` turns them into chunks."""
    the_lake = lake.open()
    config = kafka.ingest_config()

    def progress(report) -> None:
        context.log.debug(f"{report.records} records, {report.landing_objects} batches landed")

    report = ingest(
        the_lake,
        config,
        max_records=kafka.max_records,
        max_seconds=kafka.max_seconds,
        progress=progress,
    )
    lag = _lag_metadata(the_lake, config)
    metadata = report.as_metadata() | {
        "lag": sum(lag.values()),
        "lag_per_partition": json.dumps(lag),
        "offsets": json.dumps(report.partitions, sort_keys=True),
    }
    return MaterializeResult(metadata=metadata)


kafka_ingest_job = define_asset_job(
    "kafka_ingest_job", selection=[kafka_ingest], description="Consume Kafka into the lake."
)


@sensor(job=kafka_ingest_job, minimum_interval_seconds=30)
def kafka_lag_sensor(context: SensorEvaluationContext, lake: LakeResource, kafka: KafkaResource):
    """Requests an ingest run when any partition holds records beyond the lake's offsets;
    one run per (lake offsets, high watermarks) state, so a run in progress is not doubled."""
    lag = lake_lag(lake.open(), kafka.ingest_config())
    behind = sum(lag.values())
    if not behind:
        return SkipReason("the lake is caught up with every partition")
    state = json.dumps(sorted((f"{t}/{p}", v) for (t, p), v in lag.items()))
    return RunRequest(run_key=state, tags={"kafka_lag": str(behind)})


assets = [kafka_ingest]
jobs = [kafka_ingest_job]
sensors = [kafka_lag_sensor]
resources = {
    "kafka": KafkaResource(
        brokers=EnvVar("LOGLAKE_KAFKA_BROKERS"),
        topics=EnvVar("LOGLAKE_KAFKA_TOPICS"),
    )
}
