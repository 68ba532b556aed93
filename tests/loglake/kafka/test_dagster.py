"""The Dagster side against a real broker: the sensor asks for a run exactly when the lake
lags, the asset consumes until caught up and reports lag and throughput."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.kafka import KafkaResource, kafka_ingest, kafka_lag_sensor
from dagster_project.defs.resources import LakeResource
from tests.dagster_instance import instance_for_test


def test_sensor_requests_ingest_and_asset_catches_up(kafka_broker, new_topic, produce, tmp_path):
    topic = new_topic(partitions=2)
    produce(topic, [f"dagster {i}" for i in range(1000)], partitions=2)
    lake = LakeResource(lake=str(tmp_path / "lake"))
    kafka = KafkaResource(brokers=kafka_broker, topics=f"^{topic}$", labels='{job="dg"}')
    resources = {"lake": lake, "kafka": kafka}

    with dg.build_sensor_context(resources=resources) as context:
        request = kafka_lag_sensor(context)
    assert isinstance(request, dg.RunRequest) and request.tags["kafka_lag"] == "1000"

    # An instance kept open while the result is read (the result only holds a weak
    # reference to the instance materialize would create and drop).
    with instance_for_test() as instance:
        result = dg.materialize([kafka_ingest], resources=resources, instance=instance)
        assert result.success
        [materialization] = result.asset_materializations_for_node("kafka_ingest")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert (metadata["records"], metadata["lines"], metadata["lag"]) == (1000, 1000, 0)
    assert metadata["caught_up"] is True and metadata["mb_per_s"] > 0
    assert lake.open().sql("SELECT count(*) AS n FROM logs", "fake").to_pylist() == [{"n": 1000}]

    with dg.build_sensor_context(resources=resources) as context:
        assert isinstance(kafka_lag_sensor(context), dg.SkipReason)
    produce(topic, ["one more"])
    with dg.build_sensor_context(resources=resources) as context:
        assert kafka_lag_sensor(context).tags["kafka_lag"] == "1"
