"""Translation speed of `logql2sql`: LogQL text → DuckDB SQL text, per query.

For each query prints the median time of its passes (parse + validate, lower to a sqlglot
tree, generate SQL text), of a cold translation (`compile(..., cache=False)`, every pass) and
of a warm one (a dashboard refresh: the same query and step with start/end shifted, served
by the translation cache), and the mean CPU of a cold translation over all queries with the
garbage collection it causes, next to a same-process baseline: sqlglot parsing the emitted SQL
back (`sqlglot.parse_one(sql, read="duckdb")`), a cost of the same nature any SQL front end
pays. Ratios, not pass/fail; the issue's aim is translation ≤ 1 ms for typical queries.

    .venv/bin/python bench/logql2sql_translate.py [--repeat 200] [--corpus 20]

`--corpus N` adds N queries spread over Loki's engine cases
(`/work/shared/logql/logqltest_cases.jsonl`, read in place when present).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path

import sqlglot

import logql2sql
from logql2sql.compile import Bounds, _lower

CASES = Path("/work/shared/logql/logqltest_cases.jsonl")
S = 10**9
TYPICAL = [
    '{app="api"} |= "error"',
    'count_over_time({app="api"} |= "error" [5m])',
    'sum by (level) (count_over_time({app="api"} | logfmt [1m]))',
    'quantile_over_time(0.99, {app="api"} | logfmt | unwrap duration(took) [5m]) by (pod)',
    'sum(rate({app="api", env=~"prod|dev"} |~ "time(out)?" [1m])) by (env)',
    'topk(5, sum by (path) (rate({app="api"} | json | status >= 500 [5m])))',
    '{app="api"} | json user="u.id" | line_format "{{.user}} {{ __line__ | ToUpper }}"',
    'sum by (pod) (rate({app="api"}[1m])) / on (pod) group_left sum by (pod) (rate({a="b"}[1m]))',
]


def median_us(fn, repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def cpu_us(fn, rounds: int) -> float:
    """Process CPU time of one call of `fn`, averaged over `rounds` calls, with the garbage
    they leave collected: the throughput figure, where the medians above leave out the
    calls a collection lands in."""
    fn()
    gc.collect()
    t0 = time.process_time()
    for _ in range(rounds):
        fn()
    gc.collect()
    return (time.process_time() - t0) / rounds * 1e6


def corpus_queries(n: int) -> list[str]:
    if n <= 0 or not CASES.exists():
        return []
    queries = sorted({json.loads(line)["query"] for line in CASES.read_text().splitlines()})
    return queries[:: max(1, len(queries) // n)][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--corpus", type=int, default=20)
    args = ap.parse_args()
    start, end, step = 600 * S, 3600 * S, 60 * S
    print(
        f"{'parse':>7} {'lower':>7} {'sql':>7} {'cold':>7} {'warm':>7} {'base':>7}"
        f" {'cold/b':>6} {'warm/b':>7} {'c/w':>5}  query"
    )
    colds, warms, timed = [], [], []
    for query in TYPICAL + corpus_queries(args.corpus):
        try:
            sql = logql2sql.translate(query, start=start, end=end, step=step, cache=False)
        except logql2sql.LogQLError:
            continue  # a case Loki rejects: nothing to time
        expr = logql2sql.parse(query)
        bounds = Bounds(start, end, step)
        t_parse = median_us(lambda q=query: logql2sql.parse(q), args.repeat)
        t_lower = median_us(lambda e=expr, b=bounds: _lower(e, b, "duckdb"), args.repeat)
        t_sql = median_us(
            lambda e=expr, b=bounds: _lower(e, b, "duckdb").sql(dialect="duckdb", copy=False),
            args.repeat,
        )
        t_sql -= t_lower  # generation alone (a tree can be printed once without copying)
        t_cold = median_us(
            lambda q=query: logql2sql.translate(q, start=start, end=end, step=step, cache=False),
            args.repeat,
        )
        shifts = iter(range(1, 10**9))

        def refresh(q=query, shifts=shifts) -> str:
            shift = next(shifts) * S  # every call a new time range, as a dashboard refresh
            return logql2sql.translate(q, start=start + shift, end=end + shift, step=step)

        t_warm = median_us(refresh, args.repeat)
        t_base = median_us(lambda s=sql: sqlglot.parse_one(s, read="duckdb"), args.repeat)
        colds.append(t_cold)
        timed.append((query, sql))
        warms.append(t_warm)
        short = " ".join(query.split())[:60]
        print(
            f"{t_parse:7.0f} {t_lower:7.0f} {t_sql:7.0f} {t_cold:7.0f} {t_warm:7.1f} {t_base:7.0f}"
            f" {t_cold / t_base:6.2f} {t_warm / t_base:7.4f} {t_cold / t_warm:5.0f}  {short}"
        )
    print(
        f"median cold {statistics.median(colds):.0f} µs (max {max(colds):.0f}), "
        f"warm {statistics.median(warms):.1f} µs (max {max(warms):.1f}) over {len(colds)} "
        "queries; times in µs; cold/b, warm/b = translation / sqlglot re-parse of its SQL; "
        "c/w = cold / warm"
    )
    cold_cpu = cpu_us(
        lambda: [
            logql2sql.translate(q, start=start, end=end, step=step, cache=False) for q, _ in timed
        ],
        args.repeat // 10 or 1,
    )
    base_cpu = cpu_us(
        lambda: [sqlglot.parse_one(s, read="duckdb") for _, s in timed], args.repeat // 10 or 1
    )
    print(
        f"mean CPU per cold translation {cold_cpu / len(timed):.0f} µs, collector included "
        f"(sqlglot re-parse {base_cpu / len(timed):.0f} µs; ratio {cold_cpu / base_cpu:.2f})"
    )


if __name__ == "__main__":
    main()
