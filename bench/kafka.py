"""Kafka → lake throughput next to a plain confluent-kafka loop that only counts bytes.

    .venv/bin/python bench/kafka.py [--records 200000] [--hubble-records 60000]
        [--repeat 1] [--breakdown]

Starts a real broker with `scripts/kafka-broker` (its own run folder, stopped at the end),
produces `raw` records (app-log lines) and `hubble` records (the real flows from
`../shared/data/hubble` repeated, or generated flows where absent), then for each format
measures, in this one run: a plain consumer that reads every record and sums value bytes,
and `loglake.kafka.ingest` into a fresh local lake. Prints raw MB (10^6 bytes of record
values) per CPU-second of the consumer process and the ratio to the plain loop. CPU time
is the process's (librdkafka's threads included), so the figures are per core. `--repeat`
measures each pair again on the same topics and adds a `best of N` line (the least CPU time
of each side; the machine may be shared: compare the ratios of one run); `--breakdown`
profiles one more lake run per format and prints where its CPU time goes (consume, the
consumer's batching, decoding, Loki's checks, landing writes); the profiler's clock is the
process's, so librdkafka's background threads are counted in whichever step runs meanwhile.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from loglake.kafka import KafkaIngestConfig, ingest
from loglake.lake import Lake, load_settings

REPO = Path(__file__).resolve().parents[1]
HUBBLE = REPO.parent / "shared" / "data" / "hubble"


def start_broker(run: Path) -> str:
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "kafka-broker"), "start", "--dir", str(run)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def stop_broker(run: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "kafka-broker"), "stop", "--dir", str(run)]
    )


def raw_values(n: int) -> list[bytes]:
    return [
        (
            f"ts=2026-11-21T10:00:{i % 60:02d}.{i:06d}Z level=info service=checkout "
            f'msg="order placed" order_id={i} user={i % 977} amount={i % 500}.{i % 100:02d} '
            f"latency_ms={i % 250} path=/api/v1/orders/{i} trace={i * 2654435761 % 2**32:08x}"
        ).encode()
        for i in range(n)
    ]


def hubble_values(n: int) -> list[bytes]:
    lines = [
        line.encode()
        for path in sorted(HUBBLE.glob("*.json"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    if not lines:
        from loglake.generate.hubble import FlowConfig, generate_flow_lines

        lines = [line.encode() for line in generate_flow_lines(FlowConfig(flows=1000))]
    return [lines[i % len(lines)] for i in range(n)]


def produce(broker: str, topic: str, values: list[bytes], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": broker})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer(
        {
            "bootstrap.servers": broker,
            "linger.ms": 20,
            "batch.size": 1 << 20,
            "compression.type": "lz4",
        }
    )
    for i, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, value, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def plain_loop(broker: str, topic: str, expected: int) -> tuple[int, float, float]:
    """Read every record, sum value bytes: (bytes, wall s, CPU s)."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": f"plain-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    started, cpu = time.monotonic(), time.process_time()
    seen = size = 0
    while seen < expected:
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                seen += 1
                size += len(message.value())
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    consumer.close()
    return size, wall, cpu


def lake_ingest(broker: str, topic: str, fmt: str) -> tuple[int, float, float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as folder:
        settings = load_settings(lake=folder)
        settings.limits_config.reject_old_samples = False
        lake = Lake.open(settings)
        config = KafkaIngestConfig(brokers=broker, topics=(topic,), format=fmt, group_id="bench")
        report = ingest(lake, config, max_seconds=600)
    return report.bytes, report.seconds, report.cpu_seconds, report.lines


BREAKDOWN = (
    ("consume (librdkafka + Message objects)", "<method 'consume' of 'cimpl.Consumer' objects>"),
    ("batching the messages", "_accept"),
    ("decoding records", "decode_batch"),
    ("Loki's checks, entry table", "build_entries"),
    ("landing object write", "write_batch_once"),
)


def breakdown(broker: str, topic: str, fmt: str) -> None:
    """Profile one lake run (CPU time) and print the share of its main steps."""
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    lake_ingest(broker, topic, fmt)
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = max(ct for (_f, _l, _name), (_cc, _nc, _tt, ct, _callers) in stats.items())
    print(f"  {fmt} lake run, {total:.2f} CPU-s under the profiler:")
    for label, name in BREAKDOWN:
        spent = sum(ct for (_f, _l, n), (_cc, _nc, _tt, ct, _c) in stats.items() if n == name)
        print(f"    {label:<40} {spent:6.2f} s {spent / total:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--hubble-records", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="measure each pair N times")
    parser.add_argument("--breakdown", action="store_true", help="profile where CPU goes")
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="bench-kafka-broker-"))
    broker = start_broker(run)
    try:
        print(f"broker {broker}; {args.partitions} partitions per topic")
        print(
            f"{'format':<8} {'records':>8} {'MB':>7} {'plain MB/cpu-s':>15} "
            f"{'lake MB/cpu-s':>14} {'lake MB/s':>10} {'lake/plain':>10}"
        )
        for fmt, values in (
            ("raw", raw_values(args.records)),
            ("hubble", hubble_values(args.hubble_records)),
        ):
            topic = f"bench-{fmt}-{time.time_ns()}"
            produce(broker, topic, values, args.partitions)
            plain_cpus, lake_cpus = [], []
            for _ in range(args.repeat):
                size, _wall, plain_cpu = plain_loop(broker, topic, len(values))
                lake_bytes, lake_wall, lake_cpu, lines = lake_ingest(broker, topic, fmt)
                assert lake_bytes == size and lines == len(values), (lake_bytes, size, lines)
                plain_cpus.append(plain_cpu)
                lake_cpus.append(lake_cpu)
                plain_rate = size / 1e6 / plain_cpu
                lake_rate = size / 1e6 / lake_cpu
                ratio = lake_rate / plain_rate
                print(
                    f"{fmt:<8} {len(values):>8} {size / 1e6:>7.1f} {plain_rate:>15.1f} "
                    f"{lake_rate:>14.1f} {size / 1e6 / lake_wall:>10.1f} {ratio:>10.2f}"
                )
            if args.repeat > 1:  # least CPU of each: what is left when the neighbours pause
                plain_rate = size / 1e6 / min(plain_cpus)
                lake_rate = size / 1e6 / min(lake_cpus)
                print(
                    f"{fmt:<8} {'best of ' + str(args.repeat):>16} {plain_rate:>15.1f} "
                    f"{lake_rate:>14.1f} {'':>10} {lake_rate / plain_rate:>10.2f}"
                )
            if args.breakdown:
                breakdown(broker, topic, fmt)
    finally:
        stop_broker(run)
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
