"""`KafkaIngestConfig`: what a Kafka consumer reads, how it decodes records, where it lands.

Names follow Alloy's `loki.source.kafka` where it has the setting (`brokers`, `topics` with
`^regex`, `group_id`, `labels`, `use_incoming_timestamp`); `client_config` passes librdkafka
properties through unchanged, which is how SASL and TLS are set
(`security.protocol`, `sasl.mechanisms`, `sasl.username`, `ssl.ca.location`, …).

Relabelling is the subset that matters for Kafka's discovered labels: `meta_labels` maps a
`__meta_kafka_*` label to the stream label that keeps its value (Alloy needs a
`loki.relabel` rule for each). The default keeps the topic as `topic`, so a stream always
has a label: Alloy silently drops the messages of a target that ends up with none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loglake.ingest.labels import is_valid_label_name, parse_labels, validate_tenant_id

FORMATS = ("raw", "loki-push", "hubble", "otlp-json")
"""Record formats: the value as the line; a Loki push body; a Hubble GetFlowsResponse
JSON; an OTLP logs JSON batch (`otelcol.exporter.kafka` with `encoding = "otlp_json"`)."""

ON_ERROR = ("label", "dead-letter")
"""What happens to a bad record: stored with `__error__` metadata, or sent to a topic."""

META_LABELS = (
    "__meta_kafka_topic",
    "__meta_kafka_partition",
    "__meta_kafka_member_id",
    "__meta_kafka_group_id",
    "__meta_kafka_message_key",
    "__meta_kafka_message_offset",
)
"""The labels Alloy discovers per claim and per message (`__meta_kafka_message_key` is
`none` for an empty key, as in Alloy)."""


@dataclass(frozen=True)
class KafkaIngestConfig:
    """One consumer's settings; see the module docstring."""

    brokers: str
    topics: tuple[str, ...]
    format: str = "raw"
    topic_formats: dict[str, str] = field(default_factory=dict)
    """Per-topic format (exact topic name → format), overriding `format`."""
    group_id: str = "loglake"
    tenant: str = "fake"
    labels: dict[str, str] = field(default_factory=dict)
    meta_labels: dict[str, str] = field(default_factory=lambda: {"__meta_kafka_topic": "topic"})
    use_incoming_timestamp: bool = False
    on_error: str = "label"
    dead_letter_topic: str | None = None
    batch_max_records: int = 20_000
    batch_max_bytes: int = 16 * 1024 * 1024
    batch_max_wait_s: float = 1.0
    client_config: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.brokers:
            raise ValueError("brokers: at least one broker address is required")
        if not self.topics or any(not t for t in self.topics):
            raise ValueError("topics: at least one topic name or ^regex is required")
        for fmt in (self.format, *self.topic_formats.values()):
            if fmt not in FORMATS:
                raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error {self.on_error!r}: expected one of {', '.join(ON_ERROR)}")
        if self.on_error == "dead-letter" and not self.dead_letter_topic:
            raise ValueError("on_error dead-letter needs dead_letter_topic")
        validate_tenant_id(self.tenant)
        for name in (*self.labels, *self.meta_labels.values()):
            if not is_valid_label_name(name) or name.startswith("__"):
                raise ValueError(f"label name {name!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
        for meta in self.meta_labels:
            if meta not in META_LABELS:
                raise ValueError(f"{meta!r} is not one of {', '.join(META_LABELS)}")
        if self.batch_max_records < 1 or self.batch_max_bytes < 1 or self.batch_max_wait_s < 0:
            raise ValueError("batch bounds must be positive")

    def format_of(self, topic: str) -> str:
        """The record format of a topic."""
        return self.topic_formats.get(topic, self.format)

    def consumer_config(self) -> dict[str, object]:
        """librdkafka consumer properties: the group, no auto-commit (offsets live in the
        lake), partition EOF events (to know when it is caught up), then `client_config`."""
        return {
            "bootstrap.servers": self.brokers,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "topic.metadata.refresh.interval.ms": 30_000,
            **self.client_config,
        }

    def producer_config(self) -> dict[str, object]:
        """librdkafka producer properties for the dead-letter topic."""
        prefixes = ("security.", "sasl.", "ssl.")
        passthrough = {k: v for k, v in self.client_config.items() if k.startswith(prefixes)}
        return {"bootstrap.servers": self.brokers, "enable.idempotence": True, **passthrough}


def parse_label_option(text: str | None) -> dict[str, str]:
    """A `--labels '{job="x"}'` option as a mapping (LogQL selector syntax, equality only).

    >>> parse_label_option('{job="app", env="prod"}')
    {'env': 'prod', 'job': 'app'}
    """
    if not text:
        return {}
    return dict(parse_labels(text))
