"""Kafka → lake against a real broker: exactly N entries with the right labels and
timestamps, offsets taken from the lake (not the group), across re-runs, flushes and a
SIGKILL in the middle of a batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from loglake.kafka import KafkaIngestConfig, ingest
from loglake.kafka.offsets import lake_offsets
from storage import manifest
from storage.flush import SOURCE_OFFSETS_FIELD
from storage.landing import list_landing

T0_MS = 1_700_000_000_000


def config(broker: str, topic: str, **kw) -> KafkaIngestConfig:
    kw.setdefault("batch_max_wait_s", 0.2)
    return KafkaIngestConfig(brokers=broker, topics=(topic,), **kw)


def counts(lake, query="SELECT count(*), count(DISTINCT line) FROM logs"):
    return tuple(lake.sql(query, "fake").to_pylist()[0].values())


def test_raw_records_land_exactly_once_with_labels_and_record_timestamps(
    kafka_broker, new_topic, produce, lake
):
    topic = new_topic(partitions=3)
    n = 3000
    produce(
        topic,
        [f"line {i} level=info" for i in range(n)],
        keys=[str(i % 5).encode() for i in range(n)],
        partitions=3,
        timestamps_ms=[T0_MS + i for i in range(n)],
    )
    cfg = config(
        kafka_broker,
        topic,
        labels={"job": "app"},
        meta_labels={"__meta_kafka_topic": "topic", "__meta_kafka_partition": "partition"},
        use_incoming_timestamp=True,
        batch_max_records=400,
    )
    report = ingest(lake, cfg, max_seconds=60)
    assert report.caught_up and report.records == n and report.lines == n
    assert report.landing_objects >= 3 * 2  # bounded batches: several per partition
    assert counts(lake) == (n, n)
    rows = lake.sql(
        "SELECT line, ts, labels['job'] AS job, labels['topic'] AS topic, "
        "labels['partition'] AS part, labels['service_name'] AS svc FROM logs",
        "fake",
    ).to_pylist()
    for row in rows:
        i = int(row["line"].split()[1])
        assert row["ts"] == (T0_MS + i) * 1_000_000
        assert (row["job"], row["topic"], row["svc"]) == ("app", topic, "app")
    assert {row["part"] for row in rows} == {"0", "1", "2"}

    again = ingest(lake, cfg, max_seconds=30)
    assert again.caught_up and again.records == 0
    lake.flush()
    assert counts(lake) == (n, n)
    assert list_landing(lake.store) == []
    assert sum(lake_offsets(lake.store, "fake", "loglake").values()) == n


def test_read_time_is_the_default_timestamp(kafka_broker, new_topic, produce, lake):
    topic = new_topic()
    produce(topic, ["a", "b"], timestamps_ms=[T0_MS, T0_MS])
    before = time.time_ns()
    ingest(lake, config(kafka_broker, topic), max_seconds=30)
    ts = [r["ts"] for r in lake.sql("SELECT ts FROM logs", "fake").to_pylist()]
    assert len(ts) == 2 and all(t >= before for t in ts)


def test_the_lake_not_the_group_decides_where_to_resume(kafka_broker, new_topic, produce, lake):
    topic = new_topic(partitions=2)
    produce(topic, [f"first {i}" for i in range(500)], partitions=2)
    cfg = config(kafka_broker, topic)
    assert ingest(lake, cfg, max_seconds=30).records == 500
    # Rewind the group's committed offsets: a consumer trusting them would re-read 500.
    rewind = Consumer({"bootstrap.servers": kafka_broker, "group.id": cfg.group_id})
    rewind.commit(offsets=[TopicPartition(topic, p, 0) for p in (0, 1)], asynchronous=False)
    rewind.close()
    produce(topic, [f"second {i}" for i in range(300)])
    report = ingest(lake, cfg, max_seconds=30)
    assert report.records == 300
    assert counts(lake) == (800, 800)


def test_flush_keeps_the_offsets_in_the_manifest_commit(kafka_broker, new_topic, produce, lake):
    topic = new_topic()
    produce(topic, [f"x {i}" for i in range(100)])
    cfg = config(kafka_broker, topic)
    ingest(lake, cfg, max_seconds=30)
    lake.flush()
    [day] = manifest.days(lake.store, "fake")
    commit = manifest.load_latest(lake.store, "fake", day).commit
    assert commit[SOURCE_OFFSETS_FIELD] == {json.dumps(["loglake", topic, 0]).replace(" ", ""): 100}
    produce(topic, [f"y {i}" for i in range(50)])
    assert ingest(lake, cfg, max_seconds=30).records == 50
    lake.flush()
    assert counts(lake) == (150, 150)
    commit = manifest.load_latest(lake.store, "fake", day).commit
    assert list(commit[SOURCE_OFFSETS_FIELD].values()) == [150]


def test_a_new_group_reads_from_the_oldest_record(kafka_broker, new_topic, produce, lake):
    topic = new_topic()
    produce(topic, ["one", "two"])
    ingest(lake, config(kafka_broker, topic, group_id="g1"), max_seconds=30)
    ingest(lake, config(kafka_broker, topic, group_id="g2", labels={"copy": "2"}), max_seconds=30)
    assert counts(lake, "SELECT count(*), count(DISTINCT labels['copy']) FROM logs") == (4, 1)


def _loglake() -> str:
    return str(Path(sys.executable).parent / "loglake")


def test_sigkill_in_the_middle_of_a_batch_loses_and_duplicates_nothing(
    kafka_broker, new_topic, produce, lake, tmp_path
):
    topic = new_topic(partitions=2)
    n1, n2 = 20_000, 5_000
    produce(topic, [f"rec {i} " + "x" * 100 for i in range(n1)], partitions=2)
    root = lake.store.root
    command = [_loglake(), "kafka-ingest", "--brokers", kafka_broker, "--topics", topic]
    command += ["--lake", root, "--batch-records", "300", "--batch-wait", "0.05"]
    # The killed member holds its partitions until its session times out (45 s default).
    command += ["--client-config", "session.timeout.ms=6000"]
    env = {**os.environ, "LOGLAKE_LAKE": root}
    child = subprocess.Popen(
        [*command, "--follow"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list_landing(lake.store)) < 3:
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    landed_before = len(list_landing(lake.store))
    assert landed_before >= 3
    lake.flush()  # a flush between the crash and the restart changes nothing either
    produce(topic, [f"rec {i} " + "x" * 100 for i in range(n1, n1 + n2)])
    done = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["caught_up"]
    assert counts(lake) == (n1 + n2, n1 + n2)


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
def test_lines_produced_with_kcat(kafka_broker, new_topic, lake):
    topic = new_topic()
    lines = "".join(f"kcat line {i}\n" for i in range(777))
    subprocess.run(
        ["kcat", "-b", kafka_broker, "-t", topic, "-P"], input=lines, text=True, check=True
    )
    report = ingest(lake, config(kafka_broker, topic, labels={"job": "kcat"}), max_seconds=30)
    assert report.records == 777
    assert counts(lake, "SELECT count(*), count(DISTINCT labels['job']) FROM logs") == (777, 1)
