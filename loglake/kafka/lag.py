"""Consumer lag measured against the lake: per partition, the high watermark minus the next
offset the lake has recorded for the group (not the group's committed offset).

Main interface: `lake_lag(lake, config)` → `{(topic, partition): records behind}` for every
partition of the configured topics (`^regex` entries matched against the broker's topics).
The Dagster sensor asks it whether there is anything to ingest.
"""

from __future__ import annotations

import re

from confluent_kafka import Consumer, TopicPartition

from loglake.kafka.config import KafkaIngestConfig
from loglake.kafka.offsets import lake_offsets
from loglake.lake import Lake

_TIMEOUT_S = 10.0


def topic_matches(pattern: str, topic: str) -> bool:
    """Whether a `topics` entry (a name, or a `^regex` as librdkafka reads it) covers a topic.

    >>> topic_matches("^logs-.*", "logs-a"), topic_matches("logs", "logs-a")
    (True, False)
    """
    if pattern.startswith("^"):
        return re.match(pattern, topic) is not None
    return pattern == topic


def lake_lag(lake: Lake, config: KafkaIngestConfig) -> dict[tuple[str, int], int]:
    """Records each partition of the configured topics holds beyond the lake's offset."""
    client = Consumer({**config.consumer_config(), "enable.partition.eof": False})
    try:
        metadata = client.list_topics(timeout=_TIMEOUT_S)
        landed = lake_offsets(lake.store, config.tenant, config.group_id)
        lag = {}
        for name, topic in sorted(metadata.topics.items()):
            if name.startswith("__") or not any(topic_matches(p, name) for p in config.topics):
                continue
            for number in sorted(topic.partitions):
                low, high = client.get_watermark_offsets(
                    TopicPartition(name, number), timeout=_TIMEOUT_S
                )
                position = max(landed.get((name, number), low), low)
                lag[(name, number)] = max(0, high - position)
        return lag
    finally:
        client.close()
