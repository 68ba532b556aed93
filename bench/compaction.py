"""Compaction benchmark: throughput, query speed before/after, objects and bytes before/after.

Run: `python bench/compaction.py [--mb 100] [--flush-mb 1] [--streams 100]`.

A local lake of many small flushed chunks is built from loglake's deterministic
application-log generator (~140-byte logfmt lines over one hour): landing objects of
`--flush-mb` raw MB each, flushed one by one, so every flush writes one small chunk per
`service_name` folder. Then:

- compaction: raw MB (line bytes) merged per CPU-second of this process (process time,
  which counts Arrow's threads), target ≥ 200 MB/s per core;
- queries: the same SQL and LogQL suite timed before and after compaction (best of 3),
  as the ratio before/after (> 1: compaction made queries faster);
- storage: chunk objects and bytes on disk before and after (garbage collected).

Machines here are noisy, so the figures that matter are the ratios printed at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from loglake.config import Limits, load_settings  # noqa: E402
from loglake.generate.applogs import AppLogConfig, loki_push_batches  # noqa: E402
from loglake.ingest.push import DecodedStream, build_entries  # noqa: E402
from loglake.lake import Lake  # noqa: E402
from storage import layout  # noqa: E402
from storage.compaction import CompactionOptions, compact  # noqa: E402
from storage.gc import collect_garbage  # noqa: E402
from storage.landing import write_landing  # noqa: E402

console = Console()
TENANT = "fake"
TARGET_MB_PER_CPU_S = 200.0

SQL_SUITE = {
    "count": "SELECT count(*) FROM logs",
    "per service": "SELECT labels['service_name'] AS s, count(*) FROM logs GROUP BY 1",
    "errors": "SELECT count(*) FROM logs WHERE line LIKE '%level=error%'",
    "one stream": "SELECT count(*) FROM logs WHERE labels['app'] = 'checkout'",
}
LOGQL_SUITE = {
    "logql filter": '{app="checkout"} |= "level=error"',
    "logql rate": 'sum by (app) (count_over_time({env="prod"} |= "error" [5m]))',
}


def build_lake(lake: Lake, mb: float, flush_mb: float, streams: int) -> tuple[int, int]:
    """Land and flush the generated lines in small rounds; (raw bytes, time range end)."""
    end = time.time_ns()
    config = AppLogConfig(
        seed=3,
        streams=streams,
        total_bytes=int(mb * 1e6),
        start_ns=end - 3600 * 10**9,
        end_ns=end,
    )
    limits = Limits(reject_old_samples=False)
    raw, pending = 0, 0
    for batch in loki_push_batches(config, 5000):
        decoded = [
            DecodedStream(labels, [ts for ts, _ in entries], [line for _, line in entries])
            for labels, entries in batch.items()
        ]
        table = build_entries(decoded, limits, TENANT, end).table
        write_landing(lake.store, TENANT, table)
        size = sum(len(line) for entries in batch.values() for _, line in entries)
        raw += size
        pending += size
        if pending >= flush_mb * 1e6:
            lake.flush()
            pending = 0
    lake.flush()
    return raw, end


def chunk_stats(lake: Lake) -> tuple[int, int]:
    objects = lake.store.list(layout.CHUNKS)
    return len(objects), sum(o.size for o in objects)


def time_suite(lake: Lake, end: int) -> dict[str, float]:
    """Best-of-3 seconds per query (the answers are compared before and after in `main`)."""
    out = {}
    for name, query in SQL_SUITE.items():
        out[name] = min(_timed(lambda q=query: lake.sql(q, TENANT)) for _ in range(3))
    for name, query in LOGQL_SUITE.items():
        out[name] = min(_timed(lambda q=query: logql_range(lake, q, end)) for _ in range(3))
    return out


def logql_range(lake: Lake, query: str, end: int) -> None:
    """A range query over the last hour, one-minute steps (what Grafana asks for)."""
    lake.logql(query, TENANT, start=end - 3600 * 10**9, end=end, step=60 * 10**9)


def answers(lake: Lake) -> list:
    return [sorted(lake.sql(q, TENANT).to_pylist(), key=str) for q in SQL_SUITE.values()]


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="raw MB of log lines")
    parser.add_argument("--flush-mb", type=float, default=1.0, help="raw MB per flush")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument(
        "--level",
        type=int,
        default=CompactionOptions.compression_level,
        help="zstd level of compacted chunks",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="loglake-bench-") as workdir:
        lake = Lake.open(load_settings(lake=str(Path(workdir) / "lake")))
        with console.status("building a lake of small chunks"):
            raw, end = build_lake(lake, args.mb, args.flush_mb, args.streams)
        objects_before, bytes_before = chunk_stats(lake)
        answers_before = answers(lake)
        with console.status("queries before compaction"):
            before = time_suite(lake, end)

        cpu_started, wall_started = time.process_time(), time.perf_counter()
        results = compact(
            lake.store, CompactionOptions(compression_level=args.level), lake.chunk_options
        )
        cpu = time.process_time() - cpu_started
        wall = time.perf_counter() - wall_started
        merged_raw = sum(r.raw_bytes for r in results)
        collect_garbage(lake.store, grace_ns=0)
        objects_after, bytes_after = chunk_stats(lake)
        assert answers(lake) == answers_before, "compaction changed query answers"
        with console.status("queries after compaction"):
            after = time_suite(lake, end)

    table = Table(
        title=f"compaction of {raw / 1e6:.0f} MB raw, flushed in {args.flush_mb} MB rounds"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    throughput = merged_raw / 1e6 / cpu if cpu else float("nan")
    table.add_row("raw MB merged", f"{merged_raw / 1e6:.1f}")
    table.add_row("CPU seconds / wall seconds", f"{cpu:.2f} / {wall:.2f}")
    table.add_row("raw MB per CPU-second", f"{throughput:.0f}")
    table.add_row(
        f"  ratio to target {TARGET_MB_PER_CPU_S:.0f}", f"{throughput / TARGET_MB_PER_CPU_S:.2f}"
    )
    table.add_row("chunk objects before → after", f"{objects_before} → {objects_after}")
    table.add_row("  ratio after/before", f"{objects_after / objects_before:.3f}")
    table.add_row("chunk MB before → after", f"{bytes_before / 1e6:.1f} → {bytes_after / 1e6:.1f}")
    table.add_row("  ratio after/before", f"{bytes_after / bytes_before:.3f}")
    table.add_row("  stored/raw after", f"{bytes_after / raw:.3f}")
    for name in before:
        table.add_row(f"query '{name}' before/after", f"{before[name] / after[name]:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
