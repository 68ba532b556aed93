"""Two consumers in one group, rebalanced while they land (a member joins, then one is
killed): the lake still holds every record exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loglake.kafka.offsets import lake_offsets


def _wait_for_offsets(lake, total: int, timeout_s: float = 90) -> None:
    """Until the lake records `total` consumed records for the group (a deadline, not a
    measurement)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(lake_offsets(lake.store, "fake", "loglake").values()) == total:
            return
        time.sleep(0.1)
    raise AssertionError(f"lake offsets never reached {total}")


def test_two_consumers_and_rebalances_land_every_record_once(
    kafka_broker, new_topic, produce, lake
):
    topic = new_topic(partitions=4)
    loglake = str(Path(sys.executable).parent / "loglake")
    command = [loglake, "kafka-ingest", "--brokers", kafka_broker, "--topics", topic, "--follow"]
    command += ["--lake", lake.store.root, "--batch-records", "150", "--batch-wait", "0.05"]
    command += ["--client-config", "session.timeout.ms=6000"]

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def values(lo: int, hi: int) -> list[str]:
        return [f"rec {i} " + "y" * 64 for i in range(lo, hi)]

    produce(topic, values(0, 12_000), partitions=4)
    first = start()
    second = None
    try:
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and sum(lake_offsets(lake.store, "fake", "loglake").values()) < 1_000
        ):
            time.sleep(0.02)
        second = start()  # joins: partitions move while the first is landing
        produce(topic, values(12_000, 16_000), partitions=4)
        _wait_for_offsets(lake, 16_000)
        first.send_signal(signal.SIGKILL)  # its partitions move to the second
        first.wait()
        produce(topic, values(16_000, 18_000), partitions=4)
        _wait_for_offsets(lake, 18_000)
    finally:
        for child in (first, second):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait()
    rows = lake.sql("SELECT count(*) AS n, count(DISTINCT line) AS d FROM logs", "fake")
    assert rows.to_pylist() == [{"n": 18_000, "d": 18_000}]
