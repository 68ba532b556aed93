"""Translation speed of `logql2sql`: LogQL text → DuckDB SQL text, per query.

For each query prints the median time of `logql2sql.translate` and of its passes (parse +
validate, lower to a sqlglot tree, generate SQL text), next to a same-process baseline:
sqlglot parsing the emitted SQL back (`sqlglot.parse_one(sql, read="duckdb")`), a cost of
the same nature any SQL front end pays. Ratios, not pass/fail; the issue's aim is
translation ≤ 1 ms for typical queries.

    .venv/bin/python bench/logql2sql_translate.py [--repeat 200] [--corpus 20]

`--corpus N` adds N queries spread over Loki's engine cases
(`/work/shared/logql/logqltest_cases.jsonl`, read in place when present).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import sqlglot

import logql2sql
from logql2sql.compile import Bounds
from logql2sql.lower import Lowerer

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
    print(f"{'parse':>7} {'lower':>7} {'sql':>7} {'total':>7} {'base':>7} {'ratio':>6}  query")
    totals = []
    for query in TYPICAL + corpus_queries(args.corpus):
        try:
            sql = logql2sql.translate(query, start=start, end=end, step=step)
        except logql2sql.LogQLError:
            continue  # a case Loki rejects: nothing to time
        expr = logql2sql.parse(query)

        def lower(expr=expr):
            lowerer = Lowerer(Bounds(start, end, step), "duckdb")
            if isinstance(expr, logql2sql.ast.LogExpr):
                return lowerer.log_query(expr)
            return lowerer.metric(expr)

        tree = lower()
        t_parse = median_us(lambda q=query: logql2sql.parse(q), args.repeat)
        t_lower = median_us(lower, args.repeat)
        t_sql = median_us(lambda t=tree: t.sql(dialect="duckdb"), args.repeat)
        t_total = median_us(
            lambda q=query: logql2sql.translate(q, start=start, end=end, step=step), args.repeat
        )
        t_base = median_us(lambda s=sql: sqlglot.parse_one(s, read="duckdb"), args.repeat)
        totals.append(t_total)
        short = " ".join(query.split())[:70]
        print(
            f"{t_parse:7.0f} {t_lower:7.0f} {t_sql:7.0f} {t_total:7.0f} {t_base:7.0f}"
            f" {t_total / t_base:6.2f}  {short}"
        )
    print(
        f"median translate {statistics.median(totals):.0f} µs over {len(totals)} queries; "
        f"max {max(totals):.0f} µs; times in µs, ratio = translate / sqlglot re-parse"
    )


if __name__ == "__main__":
    main()
