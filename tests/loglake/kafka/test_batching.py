"""How the consumer files consumed messages into partition batches, without a broker
(confluent-kafka `Message`s built directly): runs of one partition are kept in order,
a partition's end counts only after the records before it, errors are counted per
partition, null values are empty lines, and the records read back lazily are the same."""

from __future__ import annotations

from confluent_kafka import KafkaError, Message

from loglake.kafka import KafkaIngestConfig
from loglake.kafka.consumer import KafkaIngester
from loglake.kafka.records import MessageRecords, Record, record_timestamps_ns, record_values


def msg(topic: str, partition: int, offset: int, value: bytes | None) -> Message:
    return Message(topic=topic, partition=partition, offset=offset, value=value, key=b"k")


def event(topic: str, partition: int, code: int) -> Message:
    return Message(topic=topic, partition=partition, offset=9, error=KafkaError(code))


def ingester(lake, *topics: str) -> KafkaIngester:
    config = KafkaIngestConfig(brokers="127.0.0.1:1", topics=topics)
    ing = KafkaIngester(lake, config)
    ing._assigned = {("a", 0), ("a", 1), ("b", 0)}
    return ing


def pending_offsets(ing: KafkaIngester) -> dict:
    return {p: [m.offset() for m in batch.messages] for p, batch in ing._pending.items()}


def test_runs_of_partitions_are_appended_in_order(lake):
    ing = ingester(lake, "a", "b")
    ing._accept(
        [msg("a", 0, 0, b"x"), msg("a", 0, 1, b"yy"), msg("b", 0, 0, None), msg("a", 1, 0, b"z")]
    )
    ing._accept([msg("a", 0, 2, b"www"), msg("c", 0, 0, b"not assigned")])
    assert pending_offsets(ing) == {("a", 0): [0, 1, 2], ("b", 0): [0], ("a", 1): [0]}
    assert ing._pending[("a", 0)].bytes == 6 and ing._pending[("b", 0)].bytes == 0
    assert ing.stats.records == {("a", 0): 3, ("b", 0): 1, ("a", 1): 1}
    assert ing.stats.bytes == {("a", 0): 6, ("b", 0): 0, ("a", 1): 1}
    assert ing._report.records == 5 and ing._report.bytes == 7


def test_a_partition_end_counts_only_after_the_records_before_it(lake):
    ing = ingester(lake, "a")
    eof = KafkaError._PARTITION_EOF
    ing._accept([msg("a", 0, 0, b"x"), event("a", 0, eof), event("a", 1, eof)])
    assert ing._eof == {("a", 0), ("a", 1)}
    ing._accept([event("a", 0, eof), msg("a", 0, 1, b"y"), event("a", 1, KafkaError._TRANSPORT)])
    assert ing._eof == {("a", 1)}  # a record came after partition 0's end
    assert pending_offsets(ing) == {("a", 0): [0, 1]}
    assert ing.stats.fetch_errors == {("a", 1, "_TRANSPORT"): 1}


def test_message_records_read_back_as_records(lake):
    messages = [
        Message(topic="a", partition=1, offset=7, key=b"k", value=b"v", timestamp=(1, 1500)),
        Message(topic="a", partition=1, offset=8, key=None, value=None, timestamp=(0, -1)),
    ]
    records = MessageRecords("a", 1, messages)
    assert list(records) == [
        Record("a", 1, 7, b"k", b"v", 1500),
        Record("a", 1, 8, None, None, None),
    ]
    assert records[1:] == [Record("a", 1, 8, None, None, None)]
    assert record_values(records) == [b"v", b""]
    assert record_timestamps_ns(records, 42) == [1500 * 10**6, 42]
    assert record_values(list(records)) == record_values(records)
    assert record_timestamps_ns(list(records), 42) == record_timestamps_ns(records, 42)
