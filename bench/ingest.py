"""Ingest benchmark: push throughput, flush throughput and stored/raw size, as ratios.

Run: `python bench/ingest.py [--mb 200] [--clients 4] [--streams 50]`.

Everything is measured in one run on the same generated data (loglake's deterministic
application-log generator, ~140-byte logfmt lines):

- push: a `loglake serve` process on loopback receives protobuf+snappy pushes of 1000-line
  batches from concurrent clients; figure = raw MB per CPU-second of the server process
  (user+sys from /proc), next to the baseline of appending the same lines to a file with
  an fsync per batch in this process (raw MB per CPU-second of this process);
- flush: landing → chunks in this process; raw MB per CPU-second (process time, which
  counts Arrow's and DuckDB's threads). The first flush of a process also pays imports and
  the kernel's first faults of the allocator's pages; a second row flushes the same landing
  data again in this process (best of two), as a flusher that has run before does;
- storage: bytes of chunks + manifest on disk / raw bytes, next to zstd level 19 over the
  same text (how compressible the lines are at all);
- with `--tradeoffs`: the same landing data flushed again with other chunk settings (zstd
  level, `line` encoding), each as stored/raw and flush MB per CPU-second relative to the
  default: what a smaller lake costs in flush speed.

Machines here are noisy, so the figures that matter are the ratios printed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cramjam  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from loglake.client import PushClient  # noqa: E402
from loglake.config import load_settings  # noqa: E402
from loglake.generate.applogs import AppLogConfig, loki_push_batches  # noqa: E402
from loglake.ingest.push_proto import encode_push  # noqa: E402
from loglake.lake import Lake  # noqa: E402
from loglake.serverprocess import ServerProcess  # noqa: E402
from storage.chunks import ChunkOptions  # noqa: E402
from storage.flush import flush  # noqa: E402
from storage.objectstore import ObjectStore  # noqa: E402

console = Console(width=120)
TARGETS = {"push": 50.0, "flush": 200.0, "stored_ratio": 0.1}


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make_batches(mb: float, streams: int) -> tuple[list[bytes], list[list[str]], int]:
    """Pre-encode the push bodies (not timed) and keep the lines for the baseline."""
    now = time.time_ns()
    config = AppLogConfig(
        seed=42,
        streams=streams,
        total_bytes=int(mb * 1e6),
        start_ns=now - 3600 * 10**9,
        end_ns=now - 60 * 10**9,
    )
    bodies, lines, raw = [], [], 0
    for batch in loki_push_batches(config, 1000):
        bodies.append(encode_push(batch.items()))
        batch_lines = [line for entries in batch.values() for _, line in entries]
        lines.append(batch_lines)
        raw += sum(len(line) for line in batch_lines)
    return bodies, lines, raw


def baseline_file_append(lines: list[list[str]], workdir: Path) -> float:
    """Raw MB per CPU-second of appending every batch to a file with an fsync each."""
    path = workdir / "baseline.log"
    raw = 0
    cpu0 = time.process_time()
    with open(path, "ab") as f:
        for batch in lines:
            data = ("\n".join(batch) + "\n").encode()
            raw += len(data) - len(batch)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return raw / 1e6 / (time.process_time() - cpu0)


def text_entropy_reference(lines: list[list[str]], sample_mb: float = 10.0) -> float:
    """zstd level 19 over a sample of the raw text, as compressed/raw: how compressible the
    generated lines are at all (a floor no columnar layout of the same lines beats by much)."""
    sample, size = [], 0
    for batch in lines:
        text = "\n".join(batch)
        sample.append(text)
        size += len(text)
        if size > sample_mb * 1e6:
            break
    data = "\n".join(sample).encode()
    return len(cramjam.zstd.compress(data, level=19)) / len(data)


def push_all(server: ServerProcess, bodies: list[bytes], clients: int) -> tuple[float, float]:
    """Push every body with `clients` threads; returns (server CPU s, wall s)."""
    import httpx

    queue = list(reversed(bodies))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(
            base_url=server.addr, headers={"Content-Type": "application/x-protobuf"}
        ) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = http.post("/loki/api/v1/push", content=body)
                if response.status_code != 204:
                    errors.append(response.text)
                    return

    assert server.proc is not None
    cpu0, wall0 = proc_cpu_seconds(server.proc.pid), time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"push failed: {errors[0]}")
    return proc_cpu_seconds(server.proc.pid) - cpu0, time.perf_counter() - wall0


TRADEOFFS = [
    ("zstd 1, line PLAIN", 1, "PLAIN"),
    ("zstd 1, line DELTA_BYTE_ARRAY", 1, "DELTA_BYTE_ARRAY"),
    ("zstd 3, line DELTA_LENGTH_BYTE_ARRAY", 3, "DELTA_LENGTH_BYTE_ARRAY"),
    ("zstd 6, line DELTA_LENGTH_BYTE_ARRAY", 6, "DELTA_LENGTH_BYTE_ARRAY"),
    ("zstd 6, line DELTA_BYTE_ARRAY", 6, "DELTA_BYTE_ARRAY"),
    ("zstd 9, line DELTA_LENGTH_BYTE_ARRAY", 9, "DELTA_LENGTH_BYTE_ARRAY"),
]
"""Chunk settings compared with the default (`ChunkOptions()`) by `--tradeoffs`."""


def flush_copy(landing: Path, workdir: Path, options: ChunkOptions) -> tuple[float, float]:
    """Flush a copy of a lake's landing folder with `options`; (raw MB per CPU-s, stored/raw)."""
    lake_dir = workdir / "tradeoff"
    shutil.rmtree(lake_dir, ignore_errors=True)
    shutil.copytree(landing, lake_dir / "landing")
    cpu0 = time.process_time()
    result = flush(ObjectStore(str(lake_dir)), options)
    cpu = time.process_time() - cpu0
    stored = dir_size(lake_dir / "chunks") + dir_size(lake_dir / "manifest")
    shutil.rmtree(lake_dir)
    return result.raw_bytes / 1e6 / cpu, stored / result.raw_bytes


def tradeoff_table(landing: Path, workdir: Path, base: ChunkOptions) -> Table:
    """Each setting of `TRADEOFFS` next to the default, flushed from the same landing data
    (default and alternatives interleaved, best of two rounds, to damp a noisy machine)."""
    settings = [(f"default: zstd {base.compression_level}, line {base.line_encoding}", base)]
    settings += [
        (name, dataclasses.replace(base, compression_level=level, line_encoding=encoding))
        for name, level, encoding in TRADEOFFS
    ]
    best: dict[str, tuple[float, float]] = {}
    for _round in range(2):
        for name, options in settings:
            rate, ratio = flush_copy(landing, workdir, options)
            best[name] = (max(rate, best.get(name, (0.0, 0.0))[0]), ratio)
    table = Table(title="chunk settings: size against flush speed (same landing data)")
    for col in (
        "setting",
        "stored / raw",
        "flush MB per CPU-s",
        "size vs default",
        "speed vs default",
    ):
        table.add_column(col)
    base_rate, base_ratio = best[settings[0][0]]
    for name, _options in settings:
        rate, ratio = best[name]
        table.add_row(
            name,
            f"{ratio:.4f} (1/{1 / ratio:.2f})",
            f"{rate:.1f}",
            f"{ratio / base_ratio:.3f}",
            f"{rate / base_rate:.3f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="raw MB of log lines")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument(
        "--tradeoffs", action="store_true", help="also flush with other zstd levels/encodings"
    )
    args = parser.parse_args()
    # removed however the run ends (an interrupted run used to leave hundreds of MB behind)
    with tempfile.TemporaryDirectory(prefix="loglake-bench-") as workdir:
        run(args, Path(workdir))


def run(args: argparse.Namespace, workdir: Path) -> None:
    """Push, flush and measure inside `workdir`; print the figures."""
    lake_dir = workdir / "lake"
    console.print(f"generating {args.mb:.0f} MB of logs ({args.streams} streams) …")
    bodies, lines, raw = make_batches(args.mb, args.streams)
    console.print(f"{len(bodies)} push bodies, {raw / 1e6:.1f} MB raw")

    baseline = baseline_file_append(lines, workdir)

    server = ServerProcess(
        str(lake_dir),
        workdir,
        {"limits_config": {"ingestion_rate_mb": 100000, "ingestion_burst_size_mb": 100000}},
    ).start()
    try:
        with PushClient(server.addr) as warm:  # first request pays imports; not timed
            warm.push({'{job="warmup"}': [(time.time_ns(), "warm up")]})
        server_cpu, wall = push_all(server, bodies, args.clients)
    finally:
        server.stop()
    push_rate = raw / 1e6 / server_cpu

    lake = Lake.open(load_settings(lake=str(lake_dir)))
    landing_copy = workdir / "landing-copy"
    shutil.copytree(lake_dir / "landing", landing_copy)
    cpu0 = time.process_time()
    result = lake.flush()
    flush_cpu = time.process_time() - cpu0
    flush_rate = result.raw_bytes / 1e6 / flush_cpu
    stored = dir_size(lake_dir / "chunks") + dir_size(lake_dir / "manifest")
    ratio = stored / raw
    pushed_lines = sum(len(batch) for batch in lines) + 1  # + the warm-up entry
    if result.rows != pushed_lines:
        raise RuntimeError(f"flushed {result.rows} rows, pushed {pushed_lines}")
    entropy = text_entropy_reference(lines)
    # The same landing data flushed again by this process: a flusher that has run before
    # (modules imported, allocator pages faulted in), as a serving or scheduled one is.
    warm_rate = max(flush_copy(landing_copy, workdir, lake.chunk_options)[0] for _ in range(2))

    table = Table(title="loglake ingest benchmark")
    for col in ("measure", "figure", "baseline", "ratio", "target"):
        table.add_column(col)
    table.add_row(
        "push (server, raw MB per CPU-s)",
        f"{push_rate:.1f}",
        f"{baseline:.1f} (file append+fsync)",
        f"{push_rate / baseline:.3f}",
        f"≥ {TARGETS['push']:.0f}",
    )
    table.add_row(
        "flush (raw MB per CPU-s)",
        f"{flush_rate:.1f}",
        f"{baseline:.1f} (file append+fsync)",
        f"{flush_rate / baseline:.3f}",
        f"≥ {TARGETS['flush']:.0f}",
    )
    table.add_row(
        "flush, warm process (best of 2)",
        f"{warm_rate:.1f}",
        f"{baseline:.1f} (file append+fsync)",
        f"{warm_rate / baseline:.3f}",
        f"≥ {TARGETS['flush']:.0f}",
    )
    table.add_row(
        "stored / raw",
        f"{ratio:.4f} (1/{1 / ratio:.1f})",
        f"{entropy:.4f} (zstd -19 of the text)",
        f"{ratio / entropy:.3f}",
        "≤ 1/10",
    )
    console.print(table)
    console.print(
        f"push wall {wall:.1f}s ({raw / 1e6 / wall:.1f} MB/s wall, {args.clients} clients); "
        f"flush {result.rows} rows into {result.chunks} chunks in {result.seconds:.1f}s; "
        f"stored {stored / 1e6:.1f} MB"
    )
    if args.tradeoffs:
        with console.status("flushing the same landing data with other chunk settings"):
            console.print(tradeoff_table(landing_copy, workdir, lake.chunk_options))


if __name__ == "__main__":
    main()
