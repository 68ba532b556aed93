"""What Kafka consumers have done, as plain counters and as one Prometheus collector.

`KafkaStats` is updated by one consumer (`KafkaIngester`, one thread); `KafkaCollector`
exports any number of them, read at scrape time, into a registry such as
`loglake.metrics.Metrics.registry` (the server's `/metrics`, see `loglake.kafka.service`).

The names follow the Kafka consumer's own fetch-manager metrics (`records-consumed-total`,
`bytes-consumed-total`, `records-lag`) and kafka_exporter's `kafka_consumergroup_lag`, with
Loki's habits: a `loglake_kafka_` prefix, `_total` counters, `group`/`topic`/`partition`
labels:

    loglake_kafka_records_consumed_total{group,topic,partition}    records read
    loglake_kafka_bytes_consumed_total{group,topic,partition}      record value bytes read
    loglake_kafka_lines_landed_total{group,topic,partition}        entries landed (with
                                                                    the `__error__` ones)
    loglake_kafka_bad_records_total{group,topic,partition,reason,action}
                                                 poison records (`stored` / `dead_lettered`)
    loglake_kafka_fetch_errors_total{group,topic,partition,code}   errors librdkafka
                                                 reported instead of a record (retried)
    loglake_kafka_consumer_lag{group,topic,partition}   gauge: high watermark − next
                                                 offset the lake holds for the partition
    loglake_kafka_landed_offset{group,topic,partition}  gauge: next offset the lake holds
    loglake_kafka_landing_objects_total{group}          landing objects written
    loglake_kafka_landing_conflicts_total{group}        batches another consumer landed first
    loglake_kafka_rebalances_total{group}               partition assignments received
    loglake_kafka_consumer_cpu_seconds_total{group}     CPU seconds of the consumer thread
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

Partition = tuple[str, int]


@dataclass
class KafkaStats:
    """Counters of one consumer (or of several runs, when reused)."""

    group: str = ""
    records: Counter[Partition] = field(default_factory=Counter)
    """Records per (topic, partition)."""
    bytes: Counter[Partition] = field(default_factory=Counter)
    """Value bytes per (topic, partition)."""
    lines: Counter[Partition] = field(default_factory=Counter)
    """Entries landed per (topic, partition)."""
    bad: Counter[tuple[str, int, str, str]] = field(default_factory=Counter)
    """Bad records per (topic, partition, reason, action)."""
    fetch_errors: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    """Errors in place of records per (topic, partition, librdkafka error name)."""
    landing_objects: int = 0
    landing_conflicts: int = 0
    rebalances: int = 0
    lag: dict[Partition, int] = field(default_factory=dict)
    """Per partition: high watermark minus the next offset to land."""
    landed_offset: dict[Partition, int] = field(default_factory=dict)
    """Per partition: the next offset the lake holds."""
    cpu_seconds: float = 0.0

    def total_lag(self) -> int:
        """Records behind, summed over the partitions last seen."""
        return sum(max(0, v) for v in self.lag.values())


_PARTITION_COUNTERS = (
    ("loglake_kafka_records_consumed", "Kafka records consumed.", "records"),
    ("loglake_kafka_bytes_consumed", "Kafka record value bytes consumed.", "bytes"),
    ("loglake_kafka_lines_landed", "Entries landed from Kafka records.", "lines"),
)
_GROUP_COUNTERS = (
    (
        "loglake_kafka_landing_objects",
        "Landing objects written by Kafka consumers.",
        "landing_objects",
    ),
    (
        "loglake_kafka_landing_conflicts",
        "Batches another consumer had already landed (lost create-if-absent races).",
        "landing_conflicts",
    ),
    ("loglake_kafka_rebalances", "Partition assignments the consumer received.", "rebalances"),
    (
        "loglake_kafka_consumer_cpu_seconds",
        "CPU seconds of the consumer thread (librdkafka's own threads excluded).",
        "cpu_seconds",
    ),
)
_PARTITION_LABELS = ["group", "topic", "partition"]


class KafkaCollector(Collector):
    """Exports `KafkaStats` to Prometheus, read at every scrape.

    `stats` is one consumer's, a fixed list, or a function returning the current list
    (consumers that start later show up without registering anything again). Counters are
    copied in one C call before they are read, so a consumer thread may update them during
    a scrape.
    """

    def __init__(
        self, stats: KafkaStats | Iterable[KafkaStats] | Callable[[], Iterable[KafkaStats]]
    ) -> None:
        self._stats = [stats] if isinstance(stats, KafkaStats) else stats

    def _current(self) -> list[KafkaStats]:
        return list(self._stats() if callable(self._stats) else self._stats)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        current = self._current()
        for name, doc, attr in _PARTITION_COUNTERS:
            yield _family(CounterMetricFamily(name, doc, labels=_PARTITION_LABELS), current, attr)
        yield _family(
            CounterMetricFamily(
                "loglake_kafka_bad_records",
                "Poison records: stored with __error__ metadata or sent to the dead-letter topic.",
                labels=[*_PARTITION_LABELS, "reason", "action"],
            ),
            current,
            "bad",
        )
        yield _family(
            CounterMetricFamily(
                "loglake_kafka_fetch_errors",
                "Errors librdkafka reported in place of records (it retries them).",
                labels=[*_PARTITION_LABELS, "code"],
            ),
            current,
            "fetch_errors",
        )
        lag = GaugeMetricFamily(
            "loglake_kafka_consumer_lag",
            "Records between the next offset the lake holds and the partition's high watermark.",
            labels=_PARTITION_LABELS,
        )
        yield _family(lag, current, "lag", clamp=True)
        landed = GaugeMetricFamily(
            "loglake_kafka_landed_offset",
            "The next offset of the partition the lake holds (landed with its records).",
            labels=_PARTITION_LABELS,
        )
        yield _family(landed, current, "landed_offset", combine=max)
        for name, doc, attr in _GROUP_COUNTERS:
            family = CounterMetricFamily(name, doc, labels=["group"])
            totals: Counter[str] = Counter()
            for s in current:
                totals[s.group] += getattr(s, attr)
            for group, value in sorted(totals.items()):
                family.add_metric([group], value)
            yield family


def _family(
    family: CounterMetricFamily | GaugeMetricFamily,
    current: list[KafkaStats],
    attr: str,
    *,
    clamp: bool = False,
    combine: Callable[[float, float], float] = lambda a, b: a + b,
) -> CounterMetricFamily | GaugeMetricFamily:
    """Add one sample per (group, key) of the `attr` mappings; consumers of one group in
    this process are combined (summed, or as `combine` says)."""
    samples: dict[tuple[str, ...], float] = {}
    for s in current:
        for key, value in dict(getattr(s, attr)).items():
            labels = (s.group, key[0], str(key[1]), *key[2:])
            value = max(0, value) if clamp else value
            samples[labels] = combine(samples[labels], value) if labels in samples else value
    for labels, value in sorted(samples.items()):
        family.add_metric(list(labels), value)
    return family
