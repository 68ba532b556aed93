"""`loglake demo`: build a local lake end to end and show what it answers.

1. start `loglake serve` on a free loopback port over the lake;
2. push generated application logs (protobuf + snappy, as Promtail/Alloy do) and generated
   Hubble flows (through `loglake push --format hubble`'s shipper, from an events.log-like
   file) for the last hour;
3. stop the server and flush the landing data into Parquet chunks and manifest commits;
4. answer example SQL over the `logs` relation and example LogQL (translated to SQL by
   `logql2sql`, run by DuckDB over the same lake);
5. build the Hubble SQL models and write the offline Hubble report (HTML + PNGs).

The generators are loglake's own (`loglake.generate`), seeded, so every run builds the same
shapes of data; timestamps are relative to now so the push API accepts them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.panel import Panel

from loglake.client import PushClient
from loglake.config import Settings
from loglake.generate.applogs import AppLogConfig, loki_push_batches
from loglake.generate.hubble import FlowConfig, write_flow_file
from loglake.ingest.labels import labels_text
from loglake.lake import Lake
from loglake.output import write_result
from loglake.report.hubble import build_and_report
from loglake.serverprocess import ServerProcess
from loglake.shipper import ShipOptions, ship

EXAMPLE_SQL = (
    (
        "Lines and raw bytes per service",
        "SELECT labels['service_name'] AS service, count(*) AS lines, "
        "sum(strlen(line)) AS raw_bytes FROM logs GROUP BY service ORDER BY lines DESC",
    ),
    (
        "Application errors and 5xx responses per app",
        "SELECT labels['app'] AS app, count(*) FILTER (WHERE line LIKE '%level=error%') AS errors, "
        "count(*) FILTER (WHERE regexp_matches(line, 'status=5\\d\\d')) AS http_5xx "
        "FROM logs WHERE labels['app'] IS NOT NULL GROUP BY app ORDER BY errors DESC LIMIT 8",
    ),
    (
        "Hubble flows by verdict",
        "SELECT labels['verdict'] AS verdict, count(*) AS flows FROM logs "
        "WHERE labels['job'] = 'hubble' GROUP BY verdict ORDER BY flows DESC",
    ),
    (
        "Top dropped flows by reason and destination namespace",
        "SELECT json_extract_string(line, '$.flow.drop_reason_desc') AS reason, "
        "labels['destination_namespace'] AS dst_namespace, count(*) AS drops FROM logs "
        "WHERE labels['job'] = 'hubble' AND labels['verdict'] = 'DROPPED' "
        "GROUP BY ALL ORDER BY drops DESC LIMIT 8",
    ),
)


EXAMPLE_MODEL_SQL = (
    (
        "Drops by reason (model drops_by_reason)",
        "SELECT reason, dst_ns, sum(drops) AS drops FROM drops_by_reason "
        "GROUP BY ALL ORDER BY drops DESC LIMIT 6",
    ),
)

EXAMPLE_LOGQL = (
    (
        "Errors per app over the last hour",
        'sum by (app) (count_over_time({env="prod"} |= "level=error" [1h]))',
    ),
    (
        "Payments' 5xx responses (log query)",
        '{app="payments"} | logfmt | status >= 500'
        ' | line_format "{{.method}} {{.path}} {{.status}} {{.duration}}"',
    ),
    (
        "Response bytes per second, top 3 apps",
        'topk(3, sum by (app) (rate({env=~".+"} | logfmt | unwrap bytes | __error__="" [1h])))',
    ),
    ("Hubble flows per verdict", 'sum by (verdict) (count_over_time({job="hubble"}[1h]))'),
)


def logql_rows(kind: str, table: pa.Table) -> pa.Table:
    """A LogQL result as a small display table: series labels as Loki prints them; log
    lines with their time (their labels, parsed ones included, would fill the screen)."""
    rows = table.to_pylist()
    if kind == "log":
        return pa.table(
            {"time": [_rfc3339(r["ts"]) for r in rows], "line": [r["line"] for r in rows]}
        )
    rows.sort(key=lambda r: -r["value"])
    return pa.table(
        {
            "series": [labels_text(dict(r["labels"])) for r in rows],
            "value": [round(r["value"], 3) for r in rows],
        }
    )


def _rfc3339(ts_ns: int) -> str:
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{nanos // 1_000_000:03d}Z"


def run_demo(settings: Settings, lines: int, flows: int, console: Console) -> None:
    """Build the demo lake at `settings.storage.lake` and print example answers."""
    lake_url = settings.storage.lake
    workdir = Path(tempfile.mkdtemp(prefix="loglake-demo-"))
    now = time.time_ns()
    hour_ago = now - 3600 * 1_000_000_000
    console.print(Panel(f"loglake demo — lake at [bold]{lake_url}[/bold]"))

    from loglake.cli import progress_bar

    server = ServerProcess(lake_url, workdir).start()
    try:
        console.print(f"server on {server.addr}")
        config = AppLogConfig(seed=1, streams=40, total_lines=lines, start_ns=hour_ago, end_ns=now)
        with progress_bar() as bar, PushClient(server.addr) as client:
            task = bar.add_task("app logs", total=lines, detail="lines pushed")
            for batch in loki_push_batches(config, 1000):
                client.push(batch)
                bar.advance(task, sum(len(v) for v in batch.values()))
        flow_file = workdir / "events.log"
        write_flow_file(flow_file, FlowConfig(seed=1, flows=flows, start_ns=hour_ago, end_ns=now))
        with progress_bar() as bar:
            stats = ship([str(flow_file)], ShipOptions(addr=server.addr, fmt="hubble"), bar)
        console.print(f"pushed {stats.lines} Hubble events from {flow_file.name}")
    finally:
        server.stop()

    lake = Lake.open(settings)
    result = lake.flush()
    console.print(
        f"flushed {result.rows} entries ({result.raw_bytes / 1e6:.1f} MB raw) into "
        f"{result.chunks} chunks ({result.chunk_bytes / 1e6:.2f} MB) "
        f"with {result.commits} manifest commits"
    )
    tenant = settings.no_auth_tenant
    for title, query in EXAMPLE_SQL:
        console.print(Panel(query, title=f"SQL — {title}", title_align="left"))
        write_result(lake.sql(query, tenant), "table", stream=console.file)
    report = (
        Path(lake_url) / "reports" / "hubble-report.html"
        if not lake.store.is_s3
        else (workdir / "hubble-report.html")
    )
    charts = build_and_report(lake, tenant, report, png_dir=report.parent / "hubble-charts")
    console.print(
        f"Hubble analytics: built the SQL models and wrote {report} ({len(charts)} charts, "
        "opens offline)"
    )
    for title, query in EXAMPLE_MODEL_SQL:
        console.print(Panel(query, title=f"SQL over a model — {title}", title_align="left"))
        write_result(lake.sql(query, tenant), "table", stream=console.file)
    end = time.time_ns()
    for title, query in EXAMPLE_LOGQL:
        console.print(Panel(query, title=f"LogQL — {title}", title_align="left"))
        kind, rows = lake.logql(query, tenant, start=end - 3600 * 10**9, end=end, limit=5)
        write_result(logql_rows(kind, rows), "table", stream=console.file)
    console.print(
        f'Try: loglake sql "SELECT * FROM logs LIMIT 5" --lake {lake_url}   '
        f"(the lake keeps growing with every demo run)"
    )
