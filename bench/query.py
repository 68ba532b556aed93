"""Query benchmark (issue 4): LogQL through the HTTP API of a `loglake serve` child process,
next to `grep -F -c` over the raw text and hand-written DuckDB SQL on the same Parquet chunks.

Run: `python bench/query.py [--lines 2000000] [--streams 100] [--repeat 2]`. The issue's
full run is `--lines 10000000` (about 1.4 GB of raw lines, 24 h of data). `--lake DIR
--text FILE` reuses a lake this script built (and the raw text it wrote, for grep) instead
of building one: `--keep DIR` keeps the built lake as `DIR/lake` and its text as
`DIR/raw.log`.

Data: loglake's seeded application-log generator (~140-byte logfmt lines, labels `app`,
`env`, `namespace`, `pod`) spread over 24 h, landed and flushed into chunks of a fresh
local lake (`--flush-mb` raw MB per flush), and written once more as a plain text file for
grep. Then a `loglake serve` child process is started on the lake and, for each query, the
server's CPU time (utime + stime from `/proc`), its peak RSS (VmHWM, reset before every
query through `/proc/<pid>/clear_refs`) and the wall time are taken; the same for the
hand-written SQL (this process's CPU time; DuckDB's threads included) and for grep (the
child's rusage). Queries, over the whole 24 h:

- line filter: `{env=~".+"} |= "level=error"` (log query, limit 1000, backward);
- needle: `{env=~".+"} |= "<a trace id found in exactly one line>"`;
- `sum by (level) (count_over_time({env=~".+"} | logfmt [1m]))`, step 60 s;
- `topk(10, sum by (pod) (rate({env=~".+"}[5m])))`, step 60 s.

Every answer is checked against grep's and SQL's (entry counts, total of the counts, points).
Raw MB processed per CPU-second = raw line bytes of the whole set / CPU seconds. Printed
ratios against the issue's targets: line filter ≥ 600 MB/s per CPU-second and ≥ 0.8× the
SQL's throughput; metric queries ≤ 1.3× the SQL's CPU time; the server within 2 GB RSS.
Loki's own measured figure for line filters is ~25 MB/s per CPU-second.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from loglake.config import Limits, load_settings  # noqa: E402
from loglake.generate.applogs import DEFAULT_START_NS, AppLogConfig, generate_app_logs  # noqa: E402
from loglake.ingest.labels import labels_text  # noqa: E402
from loglake.ingest.push import DecodedStream, build_entries  # noqa: E402
from loglake.lake import Lake  # noqa: E402
from loglake.serverprocess import ServerProcess  # noqa: E402
from storage import layout  # noqa: E402
from storage.landing import write_landing  # noqa: E402
from storage.snapshot import take_snapshot  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 150)
TENANT = "fake"
STEP_S = 60
DAY_NS = 86_400 * 10**9
START = DEFAULT_START_NS
END = START + DAY_NS
LINE_FILTER_TERM = "level=error"
LINE_LIMIT = 1000
TARGET_FILTER_MB_PER_CPU_S = 600.0
TARGET_FILTER_VS_SQL = 0.8
TARGET_METRIC_VS_SQL = 1.3
TARGET_RSS_BYTES = 2 * 1024**3
LOKI_FILTER_MB_PER_CPU_S = 25.0
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Measure:
    """One run of one query by one engine."""

    cpu_s: float
    wall_s: float
    rss: int | None = None


# ---------------------------------------------------------------- building the data set


def build(lake: Lake, text_path: Path, lines: int, streams: int, flush_mb: float) -> int:
    """Generate, land and flush the lines, writing them to `text_path` too; raw bytes."""
    config = AppLogConfig(
        seed=4, streams=streams, total_lines=lines, start_ns=START, end_ns=END, batch_lines=20_000
    )
    limits = Limits(reject_old_samples=False)
    raw = pending = 0
    batch: list[DecodedStream] = []
    in_batch = 0
    with text_path.open("w", encoding="utf-8") as text, Progress(console=console) as progress:
        task = progress.add_task("generating, landing, flushing", total=lines)

        def land() -> None:
            nonlocal batch, in_batch
            if batch:
                write_landing(lake.store, TENANT, build_entries(batch, limits, TENANT, END).table)
            batch, in_batch = [], 0

        for b in generate_app_logs(config):
            batch.append(DecodedStream(labels_text(b.labels), b.timestamps_ns, b.lines))
            text.write("\n".join(b.lines))
            text.write("\n")
            size = sum(len(line) for line in b.lines)
            raw += size
            pending += size
            in_batch += len(b.lines)
            progress.advance(task, len(b.lines))
            if in_batch >= 50_000:
                land()
            if pending >= flush_mb * 1e6:
                land()
                lake.flush()
                pending = 0
        land()
        lake.flush()
    return raw


def lake_size(lake: Lake) -> tuple[int, int]:
    """(lines, raw line bytes) of the tenant's entries over the day, from the manifest."""
    snapshot = take_snapshot(lake.store, TENANT, START - 1, END)
    refs = snapshot.chunk_refs()
    lines = sum(refs.column("rows").to_pylist()) + snapshot.landing.num_rows
    raw = sum(refs.column("bytes").to_pylist())
    raw += sum(len(line) for line in snapshot.landing.column("line").to_pylist())
    return lines, raw


def chunk_files(lake_dir: Path) -> list[str]:
    """The Parquet chunk files of the lake (a fresh lake: all of them are live)."""
    return sorted(str(p) for p in (lake_dir / layout.CHUNKS).rglob("*.parquet"))


def pick_needle(text_path: Path) -> str:
    """A trace id that occurs in exactly one line (grep confirms it)."""
    size = text_path.stat().st_size
    with text_path.open("rb") as f:
        for fraction in (0.37, 0.61, 0.83, 0.12):
            f.seek(int(size * fraction))
            f.readline()
            line = f.readline().decode()
            if " trace_id=" not in line:
                continue
            needle = line.split(" trace_id=")[1].split()[0]
            if grep_count(needle, text_path) == 1:
                return needle
    raise RuntimeError("no unique trace id found")


def grep_count(term: str, path: Path) -> int:
    """`grep -F -c term path`."""
    done = subprocess.run(["grep", "-F", "-c", term, str(path)], capture_output=True, text=True)
    return int(done.stdout.strip() or 0)


# ---------------------------------------------------------------- measuring


def server_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def reset_peak_rss(pid: int) -> None:
    """Reset the process' VmHWM (Linux `clear_refs` 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss(pid: int) -> int:
    """VmHWM of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def via_server(pid: int, fn: Callable[[], Any]) -> tuple[Measure, Any]:
    """Run a client call; the server's CPU time and peak RSS during it."""
    reset_peak_rss(pid)
    cpu, wall = server_cpu(pid), time.perf_counter()
    answer = fn()
    measure = Measure(server_cpu(pid) - cpu, time.perf_counter() - wall, peak_rss(pid))
    return measure, answer


def in_process(fn: Callable[[], Any]) -> tuple[Measure, Any]:
    """Run a call here; this process' CPU time (all threads)."""
    cpu, wall = time.process_time(), time.perf_counter()
    answer = fn()
    return Measure(time.process_time() - cpu, time.perf_counter() - wall), answer


def via_grep(term: str, path: Path) -> tuple[Measure, int]:
    """`grep -F -c`; the child's CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    count = grep_count(term, path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measure(cpu, time.perf_counter() - wall), count


def best(runs: list[tuple[Measure, Any]]) -> tuple[Measure, Any]:
    """The run with the least CPU time (peak RSS: the largest seen)."""
    measure, answer = min(runs, key=lambda r: r[0].cpu_s)
    rss = [m.rss for m, _ in runs if m.rss is not None]
    return Measure(measure.cpu_s, measure.wall_s, max(rss) if rss else None), answer


# ---------------------------------------------------------------- the queries


def logql(client: httpx.Client, query: str, **extra: Any) -> dict[str, Any]:
    """A range query over the whole day; the `data` of the answer."""
    params = {"query": query, "start": str(START), "end": str(END), **extra}
    response = client.get("/loki/api/v1/query_range", params=params)
    response.raise_for_status()
    return response.json()["data"]


def entries(data: dict[str, Any]) -> int:
    """Entries of a streams result."""
    return sum(len(s["values"]) for s in data["result"])


LOG_SQL = """
SELECT ts, line, labels FROM read_parquet($files)
WHERE contains(line, $term) AND ts >= $start AND ts <= $end
ORDER BY ts DESC LIMIT $limit
"""
LEVEL_SQL = """
SELECT (ts + $step - 1) // $step * $step AS t,
       regexp_extract(line, '(?:^|\\s)level=([^\\s"]*)', 1) AS level,
       count(*) AS n
FROM read_parquet($files)
WHERE ts > $start - $step AND ts <= $end
GROUP BY ALL
"""
TOPK_SQL = """
WITH per_minute AS (
    SELECT labels['pod'] AS pod, (ts + $step - 1) // $step AS b, count(*) AS n
    FROM read_parquet($files)
    WHERE ts > $start - 5 * $step AND ts <= $end
    GROUP BY ALL
), steps AS (
    SELECT range AS b FROM range($start // $step, $end // $step + 1)
), windows AS (
    SELECT s.b, m.pod, sum(m.n) / 300.0 AS v
    FROM steps s JOIN per_minute m ON m.b > s.b - 5 AND m.b <= s.b
    GROUP BY ALL
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY b ORDER BY v DESC) AS rn FROM windows
)
SELECT b, pod, v FROM ranked WHERE rn <= 10
"""


def sql(con: duckdb.DuckDBPyConnection, text: str, **values: Any) -> list[tuple]:
    """Hand-written SQL with named parameters."""
    return con.execute(text, values).fetchall()


@dataclass
class Row:
    """One query's figures."""

    name: str
    kind: str
    logql: Measure
    sql: Measure
    grep: Measure


def run_all(
    addr: str, pid: int, files: list[str], text_path: Path, needle: str, repeat: int
) -> list[Row]:
    """Every query by every engine, answers cross-checked.

    The engines take turns within each of the `repeat` rounds (LogQL, SQL, grep, then
    again), so that a slow spell of this noisy machine weighs on all three alike; each
    engine's figure is its least CPU time over the rounds."""
    con = duckdb.connect()
    step_ns = STEP_S * 10**9
    common = {"files": files, "start": START, "end": END}
    rows: list[Row] = []
    with httpx.Client(base_url=addr, timeout=None) as client, Progress(console=console) as bar:
        task = bar.add_task("queries", total=4 * repeat)

        def rounds(
            query: Callable[[], Any], hand: Callable[[], Any], term: str
        ) -> tuple[tuple[Measure, Any], tuple[Measure, Any], tuple[Measure, Any]]:
            logql_runs, sql_runs, grep_runs = [], [], []
            for _ in range(repeat):
                logql_runs.append(via_server(pid, query))
                sql_runs.append(in_process(hand))
                grep_runs.append(via_grep(term, text_path))
                bar.advance(task)
            return best(logql_runs), best(sql_runs), best(grep_runs)

        for name, term in (("line filter", LINE_FILTER_TERM), ("needle", needle)):
            query = f'{{env=~".+"}} |= "{term}"'
            (lq, data), (sq, found), (gq, count) = rounds(
                lambda q=query: logql(client, q, limit=LINE_LIMIT, direction="backward"),
                lambda t=term: sql(con, LOG_SQL, term=t, limit=LINE_LIMIT, **common),
                term,
            )
            want = min(count, LINE_LIMIT)
            assert entries(data) == len(found) == want, (name, entries(data), len(found), want)
            rows.append(Row(name, "filter", lq, sq, gq))

        level_query = 'sum by (level) (count_over_time({env=~".+"} | logfmt [1m]))'
        (lq, data), (sq, found), (gq, _) = rounds(
            lambda: logql(client, level_query, step="60s"),
            lambda: sql(con, LEVEL_SQL, step=step_ns, **common),
            "level=",
        )
        total = sum(float(v) for s in data["result"] for _, v in s["values"])
        assert total == sum(r[2] for r in found), (total, sum(r[2] for r in found))
        rows.append(Row("sum by (level) count_over_time 1m", "metric", lq, sq, gq))

        topk_query = 'topk(10, sum by (pod) (rate({env=~".+"}[5m])))'
        (lq, data), (sq, found), (gq, _) = rounds(
            lambda: logql(client, topk_query, step="60s"),
            lambda: sql(con, TOPK_SQL, step=step_ns, **common),
            "pod",
        )
        points = sum(len(s["values"]) for s in data["result"])
        assert points == len(found), (points, len(found))
        rows.append(Row("topk(10, sum by (pod) rate 5m)", "metric", lq, sq, gq))
    return rows


# ---------------------------------------------------------------- report


def report(rows: list[Row], raw: int, lines: int, chunks: int, peak: int) -> None:
    """The figures and the ratios against the issue's targets."""
    mb = raw / 1e6
    table = Table(title=f"{lines:,} lines, {mb:.0f} MB raw, {chunks} chunk files, 24 h")
    for column in (
        "query",
        "LogQL CPU s",
        "LogQL wall s",
        "LogQL MB/CPU-s",
        "SQL CPU s",
        "SQL MB/CPU-s",
        "grep CPU s",
        "grep MB/CPU-s",
        "server peak RSS MB",
    ):
        table.add_column(column, justify="right" if column != "query" else "left")
    for r in rows:
        table.add_row(
            r.name,
            f"{r.logql.cpu_s:.2f}",
            f"{r.logql.wall_s:.2f}",
            f"{mb / r.logql.cpu_s:.0f}",
            f"{r.sql.cpu_s:.2f}",
            f"{mb / r.sql.cpu_s:.0f}",
            f"{r.grep.cpu_s:.2f}",
            f"{mb / r.grep.cpu_s:.0f}",
            f"{(r.logql.rss or 0) / 1e6:.0f}",
        )
    console.print(table)

    ratios = Table(title="ratios against the issue's targets (≥ 1.00 meets a target)")
    ratios.add_column("figure")
    ratios.add_column("value", justify="right")
    ratios.add_column("target", justify="right")
    ratios.add_column("ratio to target", justify="right")
    for r in rows:
        if r.kind == "filter":
            throughput = mb / r.logql.cpu_s
            versus_sql = r.sql.cpu_s / r.logql.cpu_s
            ratios.add_row(
                f"{r.name}: MB per CPU-second",
                f"{throughput:.0f}",
                f"≥ {TARGET_FILTER_MB_PER_CPU_S:.0f}",
                f"{throughput / TARGET_FILTER_MB_PER_CPU_S:.2f}",
            )
            ratios.add_row(
                f"{r.name}: throughput vs SQL",
                f"{versus_sql:.2f}x",
                f"≥ {TARGET_FILTER_VS_SQL}x",
                f"{versus_sql / TARGET_FILTER_VS_SQL:.2f}",
            )
            ratios.add_row(
                f"{r.name}: vs Loki's ~{LOKI_FILTER_MB_PER_CPU_S:.0f} MB/CPU-s",
                f"{throughput / LOKI_FILTER_MB_PER_CPU_S:.1f}x",
                "",
                "",
            )
        else:
            cost = r.logql.cpu_s / r.sql.cpu_s
            ratios.add_row(
                f"{r.name}: CPU vs SQL",
                f"{cost:.2f}x",
                f"≤ {TARGET_METRIC_VS_SQL}x",
                f"{TARGET_METRIC_VS_SQL / cost:.2f}",
            )
        ratios.add_row(
            f"{r.name}: CPU vs grep -F -c", f"{r.logql.cpu_s / r.grep.cpu_s:.2f}x", "", ""
        )
    ratios.add_row(
        "server peak RSS over the run",
        f"{peak / 1e6:.0f} MB",
        f"≤ {TARGET_RSS_BYTES / 1e6:.0f} MB",
        f"{TARGET_RSS_BYTES / peak:.2f}",
    )
    console.print(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000, help="lines (issue: 10M)")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--flush-mb", type=float, default=128.0, help="raw MB per flush")
    parser.add_argument("--repeat", type=int, default=2, help="runs per query (least CPU)")
    parser.add_argument("--lake", type=Path, help="reuse this lake (built by --keep)")
    parser.add_argument("--text", type=Path, help="with --lake: its raw text, for grep")
    parser.add_argument("--keep", type=Path, help="build the lake and text in this directory")
    args = parser.parse_args()
    if (args.lake is None) != (args.text is None):
        parser.error("--lake and --text go together")

    with tempfile.TemporaryDirectory(prefix="loglake-qbench-") as tmp:
        work = Path(tmp)
        if args.lake is not None:
            lake_dir, text_path = args.lake, args.text
            lake = Lake.open(load_settings(lake=str(lake_dir)))
            args.lines, raw = lake_size(lake)
        else:
            home = args.keep or work
            home.mkdir(parents=True, exist_ok=True)
            lake_dir, text_path = home / "lake", home / "raw.log"
            lake = Lake.open(load_settings(lake=str(lake_dir)))
            raw = build(lake, text_path, args.lines, args.streams, args.flush_mb)
        files = chunk_files(lake_dir)
        needle = pick_needle(text_path)
        settings = {
            "limits_config": {
                "query_timeout": "30m",
                "max_query_series": 100_000,
                "reject_old_samples": False,
            }
        }
        server = ServerProcess(str(lake_dir), work, settings).start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            rows = run_all(server.addr, pid, files, text_path, needle, args.repeat)
            peak = max(r.logql.rss or 0 for r in rows)
        finally:
            server.stop()
        report(rows, raw, args.lines, len(files), peak)


if __name__ == "__main__":
    main()
