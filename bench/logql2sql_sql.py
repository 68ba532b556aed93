"""SQL benchmark of `logql2sql` (issue 3): the SQL it emits, run by DuckDB, next to a
hand-written DuckDB query computing the same result over the same Parquet chunks.

Run: `python bench/logql2sql_sql.py [--lines 10000000] [--repeat 2] [--only N] [--explain DIR]`
(the default is the issue's full run, about 1.4 GB of raw lines over 24 h; `--lines 2000000`
for a quicker one; `--only 1 --only 2` runs only those queries; `--lake DIR` reuses a lake
`bench/query.py --keep` built instead of building one).

Data: loglake's seeded application-log generator (~140-byte logfmt lines; stream labels
`app`, `env`, `namespace`, `pod` and the derived `service_name`), landed and flushed into
a fresh local lake in a temporary directory (`bench/query.py`'s `build`), removed at the
end. Queries, over the whole 24 h, step 60 s:

- line-filter count: `sum(count_over_time({env=~".+"} |= "level=error" [1m]))`;
- `sum by (level) (count_over_time({env=~".+"} | logfmt [1m]))`;
- `quantile_over_time(0.99, {env=~".+"} | logfmt | unwrap duration(duration) [5m])
  by (service_name)`. Access and error lines carry `duration=` (~82%); application
  events carry `took=` instead, and Loki skips a line whose unwrapped label is absent
  (`streamLabelSampleExtractor.Process`, grafana/loki#6713) rather than failing with
  `SampleExtractionErr`, so the query needs no `__error__` filter.

Emitted: `logql2sql.plan(query, start, end, step, streams="streams")` bound and
completed exactly as the query executor does it (`loglake.query.source.bind_logs` on a
`storage.duck` connection: the manifest chooses the chunks, `logs` and `streams` are
registered; then `loglake.query.executor.runnable` lowers it with the streams' label names) and
executed here. Hand-written: plain DuckDB SQL over `read_parquet(<chunk files>)`. Timed:
the execution only (this process's CPU time, DuckDB's threads included; least of
`--repeat` runs), not translation nor binding (the binding time is printed apart). Peak
RSS is this process's VmHWM, reset before every run. Both answers are compared (same
series, same steps, values within 1e-9 relative) before anything is printed: the hand
SQL computes Loki's result (`quantile_over_time` is Prometheus' `quantile`: rank
`φ·(n−1)`, linear interpolation, which is DuckDB's `quantile_cont`; its durations are the
double nearest number / 1000, a few 1e-16 off Go's `Seconds()` now and then, which the
emitted SQL reproduces exactly). The issue's target: emitted SQL ≤ 1.2× the
hand-written CPU time. `--explain DIR` writes each emitted query's `EXPLAIN ANALYZE`
there, to see where the time goes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import query as query_bench  # noqa: E402  (bench/query.py: data set and measuring helpers)
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlglot import exp  # noqa: E402

import logql2sql  # noqa: E402
from loglake.config import load_settings  # noqa: E402
from loglake.lake import Lake  # noqa: E402
from loglake.query.executor import runnable  # noqa: E402
from loglake.query.source import STREAMS, bind_logs  # noqa: E402
from storage import duck  # noqa: E402
from storage.snapshot import take_snapshot  # noqa: E402

console = query_bench.console
TENANT = query_bench.TENANT
START, END = query_bench.START, query_bench.END
STEP_NS = 60 * 10**9
TARGET_RATIO = 1.2
REL_TOL = 1e-9

Key = tuple[tuple[tuple[str, str], ...], int]
"""A point of a result: (sorted label pairs, evaluation time in ns)."""

LINE_FILTER_SQL = """
SELECT (ts + $step - 1) // $step * $step AS t, count(*)::DOUBLE AS v
FROM read_parquet($files)
WHERE contains(line, 'level=error') AND ts > $start - $step AND ts <= $end
GROUP BY ALL
"""
LEVEL_SQL = """
SELECT (ts + $step - 1) // $step * $step AS t,
       regexp_extract(line, '(?:^|\\s)level=([^\\s"]*)', 1) AS level,
       count(*)::DOUBLE AS v
FROM read_parquet($files)
WHERE ts > $start - $step AND ts <= $end
GROUP BY ALL
"""
# Each line falls in the 5 windows (t-5m, t] of the steps t = ceil(ts/step)*step + k*step,
# k = 0..4. `duration=` values are rendered `<n>ms` or `<n>s` by the generator.
QUANTILE_SQL = """
WITH d AS (
    SELECT service_name,
           (ts + $step - 1) // $step AS b,
           regexp_extract(line, '(?:^|\\s)duration=([0-9.]+)(ms|s)(?:\\s|$)', ['n', 'unit']) AS m
    FROM read_parquet($files)
    WHERE contains(line, 'duration=') AND ts > $start - 5 * $step AND ts <= $end
), s AS (
    SELECT service_name, b + unnest(range(5)) AS w,
           CAST(m.n AS DOUBLE) / CASE m.unit WHEN 'ms' THEN 1000.0 ELSE 1.0 END AS seconds
    FROM d WHERE m.n <> ''
)
SELECT w * $step AS t, service_name, quantile_cont(seconds, 0.99) AS v
FROM s WHERE w * $step BETWEEN $start AND $end
GROUP BY ALL
"""


@dataclass(frozen=True)
class Case:
    """One query: its LogQL and the hand SQL computing the same matrix."""

    name: str
    logql: str
    hand_sql: str
    hand_labels: tuple[str, ...]
    """Result label names of the hand SQL's columns between `t` and `v`."""


CASES = (
    Case(
        "line-filter count",
        'sum(count_over_time({env=~".+"} |= "level=error" [1m]))',
        LINE_FILTER_SQL,
        (),
    ),
    Case(
        "sum by (level) count | logfmt 1m",
        'sum by (level) (count_over_time({env=~".+"} | logfmt [1m]))',
        LEVEL_SQL,
        ("level",),
    ),
    Case(
        "quantile_over_time unwrap 5m",
        'quantile_over_time(0.99, {env=~".+"} | logfmt | unwrap duration(duration) [5m])'
        " by (service_name)",
        QUANTILE_SQL,
        ("service_name",),
    ),
)


@dataclass
class Row:
    """One query's figures."""

    case: Case
    bind_s: float
    emitted: query_bench.Measure
    hand: query_bench.Measure
    points: int
    series: int
    plain: query_bench.Measure | None = None
    """The emitted SQL over `plain_logs_view` (`--split`)."""


def measured(fn: Callable[[], Any]) -> tuple[query_bench.Measure, Any]:
    """Run `fn` here: this process' CPU and wall time and its peak RSS during the run."""
    pid = os.getpid()
    query_bench.reset_peak_rss(pid)
    measure, answer = query_bench.in_process(fn)
    measure.rss = query_bench.peak_rss(pid)
    return measure, answer


def emitted_points(con: duckdb.DuckDBPyConnection, sql: str) -> dict[Key, float]:
    """The emitted SQL's rows `ts, labels, value` as points."""
    table = con.sql(sql).fetchall()
    return {(tuple(sorted(labels.items())), ts): value for ts, labels, value in table}


def hand_points(con: duckdb.DuckDBPyConnection, case: Case, files: list[str]) -> dict[Key, float]:
    """The hand SQL's rows `t, <labels...>, v` as points."""
    params = {"files": files, "start": START, "end": END, "step": STEP_NS}
    out: dict[Key, float] = {}
    for t, *values, v in con.execute(case.hand_sql, params).fetchall():
        labels = tuple(sorted((n, x) for n, x in zip(case.hand_labels, values, strict=True) if x))
        out[(labels, t)] = v
    return out


def plain_logs_view(files: list[str]) -> str:
    """`CREATE OR REPLACE VIEW logs` straight over the chunk files: the relation
    `bind_logs` binds minus its deduplication of overlapping streams (the generator
    writes no identical entries, so the answers stay the same). Running the emitted SQL
    over it separates the translation's cost from the lake's."""
    scan = exp.Anonymous(
        this="read_parquet",
        expressions=[exp.Array(expressions=[exp.Literal.string(f) for f in files])],
    )
    columns = [
        exp.alias_(exp.Literal.string(TENANT), "tenant"),
        *(exp.column(c) for c in duck.LOGS_COLUMNS[1:]),
    ]
    query = exp.select(*columns).from_(exp.Table(this=scan))
    view = exp.Create(this=exp.to_table("logs"), kind="VIEW", replace=True, expression=query)
    return view.sql(dialect="duckdb")


def check_same(name: str, emitted: dict[Key, float], hand: dict[Key, float]) -> None:
    """Both results have the same points and values (within `REL_TOL`)."""
    if emitted.keys() != hand.keys():
        only_e = sorted(emitted.keys() - hand.keys())[:3]
        only_h = sorted(hand.keys() - emitted.keys())[:3]
        raise AssertionError(f"{name}: points differ; emitted only {only_e}, hand only {only_h}")
    for key, value in emitted.items():
        if not math.isclose(value, hand[key], rel_tol=REL_TOL):
            raise AssertionError(f"{name}: {key}: emitted {value!r}, hand {hand[key]!r}")


def run_case(
    lake: Lake,
    case: Case,
    files: list[str],
    repeat: int,
    explain: Path | None,
    split: bool,
    tick: Callable[[], Any],
) -> Row:
    """Bind and run the emitted SQL and the hand SQL `repeat` times each; compare. With
    `split`, the emitted SQL runs once more over `plain_logs_view` instead."""
    planned = logql2sql.plan(case.logql, start=START, end=END, step=STEP_NS, streams=STREAMS)
    con = duck.connect(lake.store)
    try:
        began = time.perf_counter()
        lo, hi = planned.read_range
        plan = bind_logs(con, lake.store, [TENANT], planned.matchers, lo, hi)
        assert plan.streams_unique, "fingerprint collision: the streams relation is not used"
        compiled = runnable(planned, plan)  # with the streams' label names, as executed
        bind_s = time.perf_counter() - began
        runs = []
        for _ in range(repeat):
            runs.append(measured(lambda: emitted_points(con, compiled.sql)))
            tick()
        emitted, emitted_answer = query_bench.best(runs)
        if explain is not None:
            analyzed = con.sql("EXPLAIN ANALYZE " + compiled.sql).fetchall()
            slug = "".join(c if c.isalnum() else "_" for c in case.name)
            (explain / f"{slug}.txt").write_text(compiled.sql + "\n\n" + analyzed[0][1])
        plain = None
        if split:
            con.execute(plain_logs_view(files))
            runs = []
            for _ in range(repeat):
                runs.append(measured(lambda: emitted_points(con, compiled.sql)))
                tick()
            plain, plain_answer = query_bench.best(runs)
            check_same(f"{case.name} (plain logs)", plain_answer, emitted_answer)
    finally:
        con.close()
    hand_con = duck.connect()
    try:
        runs = []
        for _ in range(repeat):
            runs.append(measured(lambda: hand_points(hand_con, case, files)))
            tick()
        hand, hand_answer = query_bench.best(runs)
    finally:
        hand_con.close()
    check_same(case.name, emitted_answer, hand_answer)
    series = len({labels for labels, _ in emitted_answer})
    return Row(case, bind_s, emitted, hand, len(emitted_answer), series, plain)


def overlapping_streams(lake: Lake) -> tuple[int, int, int]:
    """(streams whose chunks overlap in time, all streams, time spans of the overlaps): the
    `logs` relation reads the entries of the former within the spans a second time to drop
    identical entries, which the hand SQL does not do."""
    snapshot = take_snapshot(lake.store, TENANT, START, END)
    streams = snapshot.chunk_refs().column("fingerprint").unique()
    overlaps = snapshot.overlaps()
    return len(overlaps.fingerprints), len(streams), len(overlaps.spans)


def report(
    rows: list[Row], raw: int, lines: int, chunks: int, overlap: tuple[int, int, int]
) -> None:
    """The figures, and the ratio of each query against the issue's target."""
    mb = raw / 1e6
    table = Table(
        title=f"{lines:,} lines, {mb:.0f} MB raw, {chunks} chunk files, 24 h, step 60 s; "
        f"{overlap[0]} of {overlap[1]} streams deduplicated by `logs` within {overlap[2]} time "
        "spans; answers equal: checked"
    )
    for column in (
        "query",
        "series / points",
        "bind s",
        "emitted CPU s",
        "hand CPU s",
        f"ratio (≤ {TARGET_RATIO}x)",
        "emitted MB/CPU-s",
        "hand MB/CPU-s",
        "peak RSS MB emitted / hand",
    ):
        table.add_column(column, justify="left" if column == "query" else "right")
    for r in rows:
        ratio = r.emitted.cpu_s / r.hand.cpu_s
        table.add_row(
            r.case.name,
            f"{r.series} / {r.points:,}",
            f"{r.bind_s:.2f}",
            f"{r.emitted.cpu_s:.2f}",
            f"{r.hand.cpu_s:.2f}",
            f"{ratio:.2f}x {'meets' if ratio <= TARGET_RATIO else 'misses'}",
            f"{mb / r.emitted.cpu_s:.0f}",
            f"{mb / r.hand.cpu_s:.0f}",
            f"{(r.emitted.rss or 0) / 1e6:.0f} / {(r.hand.rss or 0) / 1e6:.0f}",
        )
    console.print(table)
    split = [r for r in rows if r.plain is not None]
    if split:
        parts = Table(title="--split: the emitted SQL over plain `logs` (no deduplication)")
        for column in ("query", "emitted CPU s", "over plain logs CPU s", "plain vs hand"):
            parts.add_column(column, justify="left" if column == "query" else "right")
        for r in split:
            assert r.plain is not None
            parts.add_row(
                r.case.name,
                f"{r.emitted.cpu_s:.2f}",
                f"{r.plain.cpu_s:.2f}",
                f"{r.plain.cpu_s / r.hand.cpu_s:.2f}x",
            )
        console.print(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="lines (issue: 10M)")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--flush-mb", type=float, default=128.0, help="raw MB per flush")
    parser.add_argument("--repeat", type=int, default=2, help="runs per query (least CPU)")
    parser.add_argument("--explain", type=Path, help="write EXPLAIN ANALYZE of emitted SQL here")
    parser.add_argument(
        "--split",
        action="store_true",
        help="also run the emitted SQL over the chunk files without deduplication",
    )
    parser.add_argument(
        "--only", type=int, action="append", help="run only query N (1-3; repeatable)"
    )
    parser.add_argument(
        "--lake", type=Path, help="reuse this lake (`bench/query.py --keep DIR` builds DIR/lake)"
    )
    args = parser.parse_args()
    cases = [c for i, c in enumerate(CASES, 1) if not args.only or i in args.only]
    if args.explain is not None:
        args.explain.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="loglake-sqlbench-") as tmp:
        work = Path(tmp)
        lake_dir = args.lake or work / "lake"
        lake = Lake.open(load_settings(lake=str(lake_dir)))
        if args.lake is not None:
            args.lines, raw = query_bench.lake_size(lake)
        else:
            raw = query_bench.build(lake, work / "raw.log", args.lines, args.streams, args.flush_mb)
            (work / "raw.log").unlink()  # grep's copy: not used here
        files = query_bench.chunk_files(lake_dir)
        if not files:
            parser.error(f"no chunk files in {lake_dir} (`--keep DIR` builds the lake in DIR/lake)")
        rows = []
        with Progress(console=console) as bar:
            task = bar.add_task(
                "queries (emitted, hand)", total=(2 + args.split) * args.repeat * len(cases)
            )
            for case in cases:
                rows.append(
                    run_case(
                        lake,
                        case,
                        files,
                        args.repeat,
                        args.explain,
                        args.split,
                        lambda: bar.advance(task),
                    )
                )
        report(rows, raw, args.lines, len(files), overlapping_streams(lake))


if __name__ == "__main__":
    main()
