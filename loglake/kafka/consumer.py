"""The Kafka consumer loop: poll, batch per partition, land exactly once, report.

Main interface: `ingest(lake, config, ...)` → `IngestReport`, and `KafkaIngester` when the
caller keeps the stats (`KafkaStats`) across runs. The exactly-once protocol is described
in the package docstring; here is where each step happens:

- `_on_assign`: seek every assigned partition to `lake_offsets` (oldest record if none);
- `_land`: one landing object per partition batch, create-if-absent under
  `landing_name(group, topic, partition, first offset)`, with the batch's next offset in its
  metadata; on a lost race, re-seek that partition from the lake and drop the batch;
- after landing: commit the group offset asynchronously, for lag monitoring only.

A batch of a partition is landed when it reaches `batch_max_records` or `batch_max_bytes`,
when its oldest record has waited `batch_max_wait_s`, when the partition reaches its end
(partition EOF), and when the run stops (`max_records`, `max_seconds`, or a `stop` event:
what was read is landed first). Records of a revoked partition that were not landed are
dropped: the next owner reads them again from the lake's offset.

The per-record work is kept in C: `consume()` returns runs of one partition, which are
found with list operations and appended whole (`_accept`); the messages are kept as
confluent-kafka returns them and read in bulk by the batch decoders (`MessageRecords`), so
no Python object is built per record on the way to the entry table. `KafkaStats` (records,
bytes, lines, bad records and fetch errors per partition, lag, landed offsets, CPU) is kept
up to date while running, for `/metrics` (`loglake.kafka.service`).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import ne, or_
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from loglake.kafka.batch import build_batch
from loglake.kafka.config import KafkaIngestConfig
from loglake.kafka.metrics import KafkaStats
from loglake.kafka.offsets import lake_offsets, landing_name, partition_key, write_batch_once
from loglake.kafka.records import MessageRecords, Record, RecordError, record_labels
from loglake.lake import Lake

_POLL_TIMEOUT_S = 0.2
_LAG_REFRESH_S = 1.0
_PER_RECORD_META = frozenset({"__meta_kafka_message_key", "__meta_kafka_message_offset"})

Partition = tuple[str, int]


@dataclass
class IngestReport:
    """What one run did (CLI output, Dagster materialization metadata)."""

    records: int = 0
    bytes: int = 0
    lines: int = 0
    bad_records: int = 0
    dead_lettered: int = 0
    landing_objects: int = 0
    landing_conflicts: int = 0
    rebalances: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    lag: int = 0
    caught_up: bool = False
    partitions: dict[str, int] = field(default_factory=dict)
    """Next offset landed per `topic/partition`."""

    @property
    def mb_per_s(self) -> float:
        """Record value MB (10^6 bytes) per wall-clock second."""
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0

    @property
    def mb_per_cpu_s(self) -> float:
        """Record value MB per CPU second of the consumer process."""
        return self.bytes / 1e6 / self.cpu_seconds if self.cpu_seconds else 0.0

    def as_metadata(self) -> dict[str, Any]:
        """Flat JSON-able values, for Dagster metadata and `--format json`."""
        return {
            "records": self.records,
            "bytes": self.bytes,
            "lines": self.lines,
            "bad_records": self.bad_records,
            "dead_lettered": self.dead_lettered,
            "landing_objects": self.landing_objects,
            "landing_conflicts": self.landing_conflicts,
            "rebalances": self.rebalances,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "mb_per_s": round(self.mb_per_s, 3),
            "mb_per_cpu_s": round(self.mb_per_cpu_s, 3),
            "lag": self.lag,
            "caught_up": self.caught_up,
        }


@dataclass
class _Pending:
    since: float
    messages: list[Message] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    bytes: int = 0


class DeadLetterError(RuntimeError):
    """Bad records could not be delivered to the dead-letter topic; nothing was landed."""


class KafkaIngester:
    """A consumer bound to one lake and config; `run()` may be called more than once."""

    def __init__(
        self, lake: Lake, config: KafkaIngestConfig, stats: KafkaStats | None = None
    ) -> None:
        self.lake = lake
        self.config = config
        self.stats = stats or KafkaStats()
        if not self.stats.group:
            self.stats.group = config.group_id
        self.limits = lake.settings.limits_for(config.tenant)
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._assigned: set[Partition] = set()
        self._eof: set[Partition] = set()
        self._pending: dict[Partition, _Pending] = {}
        self._carry: dict[Partition, int] = {}
        self._labels: dict[Partition, Mapping[str, str]] = {}
        only = config.topics[0] if len(config.topics) == 1 else "^"
        self._single_topic = None if only.startswith("^") else only
        self._report = IngestReport()

    # -- the loop ------------------------------------------------------------------------

    def run(
        self,
        *,
        until_caught_up: bool = True,
        max_records: int | None = None,
        max_seconds: float | None = None,
        progress: Callable[[IngestReport], None] | None = None,
        stop: threading.Event | None = None,
    ) -> IngestReport:
        """Consume until caught up (every assigned partition at its end, all landed), or
        `max_records` consumed, or `max_seconds` elapsed, or `stop` set, whichever comes
        first; what was read is landed before it returns."""
        self._report = report = IngestReport()
        started, cpu_started = time.monotonic(), time.process_time()
        thread_cpu, lag_refreshed = time.thread_time(), started
        consumer = self._consumer = Consumer(self.config.consumer_config())
        topics = list(self.config.topics)
        consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        try:
            while True:
                messages = consumer.consume(
                    num_messages=min(self.config.batch_max_records, 10_000),
                    timeout=_POLL_TIMEOUT_S,
                )
                self._accept(messages)
                now = time.monotonic()
                stopping = (
                    (max_records is not None and report.records >= max_records)
                    or (max_seconds is not None and now - started >= max_seconds)
                    or (stop is not None and stop.is_set())
                )
                for partition, pending in list(self._pending.items()):
                    if (
                        stopping
                        or partition in self._eof
                        or len(pending.messages) >= self.config.batch_max_records
                        or pending.bytes >= self.config.batch_max_bytes
                        or now - pending.since >= self.config.batch_max_wait_s
                    ):
                        self._land(partition)
                        if progress:
                            progress(report)
                if now - lag_refreshed >= _LAG_REFRESH_S:
                    self._refresh_lag()
                    lag_refreshed = now
                cpu = time.thread_time()
                self.stats.cpu_seconds += cpu - thread_cpu
                thread_cpu = cpu
                caught_up = (
                    bool(self._assigned) and self._eof >= self._assigned and not self._pending
                )
                if stopping or (until_caught_up and caught_up):
                    report.caught_up = caught_up
                    break
        finally:
            self._consumer = None
            consumer.close()
            if self._producer is not None:
                self._producer.flush(10)
            report.seconds = time.monotonic() - started
            report.cpu_seconds = time.process_time() - cpu_started
            self.stats.cpu_seconds += time.thread_time() - thread_cpu
            report.lag = self.stats.total_lag()
        return report

    def _accept(self, messages: list[Message]) -> None:
        """Append consumed messages to their partitions' pending batches.

        Kept to a few C calls per message: `consume()` returns long runs of one partition,
        which are appended whole; the messages stay as they are until a batch decoder reads
        their values at once (`MessageRecords`).
        """
        if not messages:
            return
        if any(map(Message.error, messages)):  # an error is a KafkaError, None otherwise
            runs = self._runs_with_events(messages, list(map(Message.error, messages)))
        else:
            runs = self._runs(messages)
        pending_of, assigned, eof, report, stats = (
            self._pending,
            self._assigned,
            self._eof,
            self._report,
            self.stats,
        )
        for partition, run in runs:
            if run is None:  # the partition's end, after the records before it
                eof.add(partition)
                continue
            if partition not in assigned:
                continue
            pending = pending_of.get(partition)
            if pending is None:
                pending = pending_of[partition] = _Pending(time.monotonic())
            values = list(map(Message.value, run))
            try:
                size = sum(map(len, values))
            except TypeError:  # null values (tombstones)
                size = sum(map(len, filter(None, values)))
            pending.messages.extend(run)
            pending.values.extend(values)
            pending.bytes += size
            eof.discard(partition)  # records after an EOF event: not at the end any more
            report.records += len(run)
            report.bytes += size
            stats.records[partition] += len(run)
            stats.bytes[partition] += size

    def _runs(self, messages: list[Message]) -> list[tuple[Partition, list[Message] | None]]:
        """Runs of one partition, in order, found with C-level list operations (a topic
        name is read per message only when more than one topic can be consumed)."""
        numbers = list(map(Message.partition, messages))
        changed = list(map(ne, numbers[1:], numbers[:-1]))
        if self._single_topic is None:
            topics = list(map(Message.topic, messages))
            changed = list(map(or_, changed, map(ne, topics[1:], topics[:-1])))
        starts = [0]
        with contextlib.suppress(ValueError):
            while True:
                starts.append(changed.index(True, starts[-1]) + 1)
        starts.append(len(messages))
        runs: list[tuple[Partition, list[Message] | None]] = []
        for start, end in itertools.pairwise(starts):
            topic = self._single_topic or messages[start].topic()
            runs.append(((topic, numbers[start]), messages[start:end]))
        return runs

    def _runs_with_events(
        self, messages: list[Message], errors: list[KafkaError | None]
    ) -> list[tuple[Partition, list[Message] | None]]:
        """Runs of one partition, in order, with `None` where a partition's end was
        reached; raises on a fatal error, counts and skips the others (librdkafka retries
        them)."""
        runs: list[tuple[Partition, list[Message] | None]] = []
        for message, error in zip(messages, errors, strict=True):
            partition = (message.topic(), message.partition())
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    runs.append((partition, None))
                elif error.fatal():
                    raise KafkaException(error)
                else:
                    topic, number = partition
                    key = (topic or "", -1 if number is None else number, error.name())
                    self.stats.fetch_errors[key] += 1
                continue
            last = runs[-1] if runs else None
            if last is not None and last[0] == partition and last[1] is not None:
                last[1].append(message)
            else:
                runs.append((partition, [message]))
        return runs

    # -- rebalances ----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Seek to the lake's offsets, never the group's committed ones."""
        self.stats.rebalances += 1
        self._report.rebalances += 1
        known = lake_offsets(self.lake.store, self.config.tenant, self.config.group_id)
        for tp in partitions:
            tp.offset = known.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            if tp.offset >= 0:
                self.stats.landed_offset[(tp.topic, tp.partition)] = tp.offset
        consumer.assign(partitions)
        self._assigned = {(tp.topic, tp.partition) for tp in partitions}
        for partition in self._assigned:
            self._eof.discard(partition)
            self._pending.pop(partition, None)
            self._carry.pop(partition, None)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget what was read and not landed: the next owner reads it from the lake (and
        reports the partition's lag and offset from now on)."""
        for tp in partitions:
            partition = (tp.topic, tp.partition)
            self._assigned.discard(partition)
            self._eof.discard(partition)
            self._pending.pop(partition, None)
            self._carry.pop(partition, None)
            if self._consumer is not None:  # not when closing: the figures stay valid
                self.stats.lag.pop(partition, None)
                self.stats.landed_offset.pop(partition, None)
        consumer.unassign()

    # -- landing -------------------------------------------------------------------------

    def _label_fn(self, partition: Partition) -> Callable[[Record], Mapping[str, str]]:
        config = self.config
        member = self._consumer.memberid() if self._consumer is not None else ""
        if _PER_RECORD_META & set(config.meta_labels):
            return lambda r: record_labels(
                r, config.labels, config.meta_labels, config.group_id, member or ""
            )
        labels = self._labels.get(partition)
        if labels is None:
            probe = Record(partition[0], partition[1], 0, None, None, None)
            labels = record_labels(
                probe, config.labels, config.meta_labels, config.group_id, member or ""
            )
            self._labels[partition] = labels
        return lambda _record: labels

    def _land(self, partition: Partition) -> None:
        pending = self._pending.pop(partition)
        if partition not in self._assigned or not pending.messages:
            return
        config, report = self.config, self._report
        topic, number = partition
        records = MessageRecords(topic, number, pending.messages, pending.values)
        batch = build_batch(
            records,
            config.format_of(topic),
            self._label_fn(partition),
            self.limits,
            config.tenant,
            use_incoming_timestamp=config.use_incoming_timestamp,
            now_ns=time.time_ns(),
            on_error=config.on_error,
            same_labels=not (_PER_RECORD_META & set(config.meta_labels)),
        )
        if batch.bad and config.on_error == "dead-letter":
            self._dead_letter(batch.bad)
        first = self._carry.pop(partition, pending.messages[0].offset())
        next_offset = pending.messages[-1].offset() + 1
        for bad in batch.bad:
            action = "stored" if config.on_error == "label" else "dead_lettered"
            self.stats.bad[(topic, number, bad.reason, action)] += 1
        report.bad_records += len(batch.bad)
        if batch.rows.num_rows == 0:
            # Only dead-lettered records: nothing to land; the next landed batch of this
            # partition covers their offsets too (dead-lettering is at-least-once).
            self._carry[partition] = first
            self._after_landing(partition, next_offset)
            return
        if self._consumer is None or partition not in self._assigned:
            return
        key = write_batch_once(
            self.lake.store,
            config.tenant,
            landing_name(config.group_id, topic, number, first),
            batch.rows,
            batch.streams,
            {partition_key(config.group_id, topic, number): next_offset},
        )
        if key is None:
            self._lost_race(partition)
            return
        lines = batch.rows.num_rows
        report.lines += lines
        report.landing_objects += 1
        self.stats.lines[partition] += lines
        self.stats.landing_objects += 1
        self._after_landing(partition, next_offset)

    def _after_landing(self, partition: Partition, next_offset: int) -> None:
        topic, number = partition
        self._report.partitions[f"{topic}/{number}"] = next_offset
        self.stats.landed_offset[partition] = next_offset
        consumer = self._consumer
        if consumer is None:
            return
        tp = TopicPartition(topic, number, next_offset)
        with contextlib.suppress(KafkaException):  # lag monitoring only: the lake decides
            consumer.commit(offsets=[tp], asynchronous=True)
        self._refresh_lag([partition])

    def _refresh_lag(self, partitions: Iterable[Partition] | None = None) -> None:
        """Lag of assigned partitions from the watermarks of the last fetch (no request):
        against the offset landed last, else the oldest retained one (where the consumer
        starts when the lake holds none)."""
        consumer = self._consumer
        if consumer is None:
            return
        for partition in self._assigned if partitions is None else partitions:
            with contextlib.suppress(KafkaException):
                low, high = consumer.get_watermark_offsets(TopicPartition(*partition), cached=True)
                position = self.stats.landed_offset.get(partition, low)
                if high is not None and high >= 0 and position is not None and position >= 0:
                    self.stats.lag[partition] = high - position

    def _lost_race(self, partition: Partition) -> None:
        """Another consumer landed this batch first: continue from what the lake says."""
        self._report.landing_conflicts += 1
        self.stats.landing_conflicts += 1
        self._carry.pop(partition, None)
        known = lake_offsets(self.lake.store, self.config.tenant, self.config.group_id)
        offset = known.get(partition, OFFSET_BEGINNING)
        if self._consumer is not None:
            self._consumer.seek(TopicPartition(partition[0], partition[1], offset))

    def _dead_letter(self, bad: list[RecordError]) -> None:
        """Deliver bad records to the dead-letter topic before their offsets are landed."""
        if self._producer is None:
            self._producer = Producer(self.config.producer_config())
        failures: list[str] = []

        def delivered(err: KafkaError | None, _message: object) -> None:
            if err is not None:
                failures.append(str(err))

        for error in bad:
            record = error.record
            self._producer.produce(
                self.config.dead_letter_topic,
                value=record.value,
                key=record.key,
                headers=[
                    ("loglake_error", error.reason.encode()),
                    ("loglake_error_details", error.details.encode()[:1024]),
                    ("loglake_source", f"{record.topic}/{record.partition}/{record.offset}"),
                ],
                on_delivery=delivered,
            )
            self._producer.poll(0)
        remaining = self._producer.flush(30)
        if remaining or failures:
            raise DeadLetterError(
                f"{remaining} bad records undelivered to {self.config.dead_letter_topic!r}: "
                + "; ".join(failures[:3])
            )
        self._report.dead_lettered += len(bad)


def ingest(
    lake: Lake,
    config: KafkaIngestConfig,
    *,
    until_caught_up: bool = True,
    max_records: int | None = None,
    max_seconds: float | None = None,
    progress: Callable[[IngestReport], None] | None = None,
    stats: KafkaStats | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Consume `config.topics` into `lake` exactly once; see `KafkaIngester.run`."""
    ingester = KafkaIngester(lake, config, stats)
    return ingester.run(
        until_caught_up=until_caught_up,
        max_records=max_records,
        max_seconds=max_seconds,
        progress=progress,
        stop=stop,
    )
