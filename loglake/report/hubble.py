"""The Hubble flow report: charts over the built models, as one offline HTML file (+ PNGs).

Main interface: `hubble_charts(con, since=None)` → the `Chart`s (verdicts over time, drops
by reason, top talkers, DNS errors, HTTP error ratio and latency, service map), and
`write_hubble_report(lake, tenant, out, since=…, png_dir=…)`, which builds nothing: it reads
the models `loglake models build` (or the Dagster assets) materialized; `build_and_report`
does both (for `loglake demo`). Pictures are
embedded as base64 PNGs and each chart's data follows it as a table, so the file opens
offline, in any browser, with no script at all.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

import duckdb
import sqlglot.expressions as exp

from loglake.lake import Lake
from loglake.models import register_models
from loglake.report.charts import Chart, bars, grouped_bars, service_map, time_series
from storage import duck

REQUIRED = (
    "flows_by_verdict",
    "drops_by_reason",
    "top_talkers",
    "dns_errors",
    "http_golden_signals",
    "service_map_edges",
)


def _rows(con: duckdb.DuckDBPyConnection, query: exp.Query) -> list[tuple]:
    return con.execute(query.sql(dialect="duckdb")).fetchall()


def _since(query: exp.Select, since: str | None) -> exp.Select:
    if since is None:
        return query
    day = exp.cast(exp.Literal.string(since), exp.DataType.build("date"))
    return query.where(exp.column("date") >= day)


def hubble_charts(con: duckdb.DuckDBPyConnection, since: str | None = None) -> list[Chart]:
    """Draw every chart from the models registered in `con` (days from `since` on)."""
    flows = exp.column("flows")
    verdicts: dict[str, list] = {}
    for hour, verdict, n in _rows(
        con,
        _since(
            exp.select("hour", "verdict", exp.alias_(exp.func("sum", flows), "n"))
            .from_("flows_by_verdict")
            .group_by("hour", "verdict"),
            since,
        ),
    ):
        verdicts.setdefault(verdict, []).append((hour, float(n)))

    drops = _rows(
        con,
        _since(
            exp.select("reason", exp.alias_(exp.func("sum", exp.column("drops")), "n"))
            .from_("drops_by_reason")
            .group_by("reason"),
            since,
        ).order_by("n DESC", "reason"),
    )
    talkers = _rows(
        con,
        _since(
            exp.select(
                exp.alias_(
                    exp.func("concat_ws", exp.Literal.string(" -> "), "src_entity", "dst_entity"),
                    "pair",
                ),
                exp.alias_(exp.func("sum", flows), "n"),
            )
            .from_("top_talkers")
            .group_by("pair"),
            since,
        )
        .order_by("n DESC", "pair")
        .limit(12),
    )
    dns = _rows(
        con,
        _since(
            exp.select(
                exp.alias_(
                    exp.func("concat_ws", exp.Literal.string(" "), "query", "rcode"), "what"
                ),
                exp.alias_(exp.func("sum", exp.column("errors")), "n"),
            )
            .from_("dns_errors")
            .group_by("what"),
            since,
        )
        .order_by("n DESC", "what")
        .limit(12),
    )
    http = _rows(
        con,
        _since(
            exp.select(
                "dst_workload",
                exp.alias_(exp.func("sum", exp.column("requests")), "requests"),
                exp.alias_(exp.func("sum", exp.column("errors_5xx")), "errors"),
                exp.alias_(exp.func("max", exp.column("latency_p50_s")), "p50"),
                exp.alias_(exp.func("max", exp.column("latency_p95_s")), "p95"),
                exp.alias_(exp.func("max", exp.column("latency_p99_s")), "p99"),
            )
            .from_("http_golden_signals")
            .group_by("dst_workload"),
            since,
        )
        .order_by("requests DESC", "dst_workload")
        .limit(10),
    )
    edges = _rows(
        con,
        _since(
            exp.select("source", "destination", exp.alias_(exp.func("sum", flows), "n"), "verdict")
            .from_("service_map_edges")
            .group_by("source", "destination", "verdict"),
            since,
        )
        .order_by("n DESC", "source", "destination")
        .limit(40),
    )
    return [
        time_series("verdicts", "Flows per verdict per hour", verdicts, "flows"),
        bars(
            "drops",
            "Dropped flows by reason",
            [(r, float(n)) for r, n in drops],
            "drops",
            "#d62728",
        ),
        bars(
            "talkers", "Top talkers (non-reply flows)", [(p, float(n)) for p, n in talkers], "flows"
        ),
        bars(
            "dns_errors",
            "DNS errors by query and rcode",
            [(w, float(n)) for w, n in dns],
            "errors",
            "#ff7f0e",
        ),
        grouped_bars(
            "http_errors",
            "HTTP error ratio (5xx) by destination",
            {"error ratio": [(w or "?", e / r if r else 0.0) for w, r, e, *_ in http]},
            "5xx / requests",
        ),
        grouped_bars(
            "http_latency",
            "HTTP latency by destination (max of hourly quantiles)",
            {
                q: [(row[0] or "?", float(row[i] or 0.0)) for row in http]
                for q, i in (("p50", 3), ("p95", 4), ("p99", 5))
            },
            "seconds",
        ),
        service_map(
            "service_map",
            "Service map (non-reply flows)",
            [(s, d, float(n), v) for s, d, n, v in edges],
        ),
    ]


def render_html(charts: list[Chart], title: str) -> str:
    """One self-contained HTML page: each chart as an embedded PNG followed by its data."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "table{border-collapse:collapse;font-size:12px;margin-bottom:2em}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        f"<p>Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by loglake.</p>",
    ]
    for chart in charts:
        data = base64.b64encode(chart.png).decode()
        parts.append(f'<section id="{chart.name}"><h2>{html.escape(chart.title)}</h2>')
        parts.append(f'<img alt="{html.escape(chart.title)}" src="data:image/png;base64,{data}">')
        parts.append('<table class="series"><tr><th>series</th><th>x</th><th>y</th></tr>')
        for series, points in chart.series.items():
            for x, y in points:
                parts.append(
                    f'<tr data-series="{html.escape(series)}"><td>{html.escape(series)}</td>'
                    f"<td>{html.escape(str(x))}</td><td>{y:g}</td></tr>"
                )
        parts.append("</table></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_hubble_report(
    lake: Lake,
    tenant: str,
    out: str | Path,
    *,
    since: str | None = None,
    png_dir: str | Path | None = None,
) -> list[Chart]:
    """Write the report for a tenant to `out` (and each chart as `png_dir/<name>.png`)."""
    if since is not None:
        dt.date.fromisoformat(since)
    con = duck.connect(lake.store)
    try:
        registered = register_models(con, lake.store, tenant)
        missing = [m for m in REQUIRED if m not in registered]
        if missing:
            raise ValueError(
                f"models not built for tenant {tenant!r}: {', '.join(missing)}; "
                "run `loglake models build` first"
            )
        charts = hubble_charts(con, since)
    finally:
        con.close()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render_html(charts, f"Hubble flows — tenant {tenant}"), encoding="utf-8")
    if png_dir is not None:
        Path(png_dir).mkdir(parents=True, exist_ok=True)
        for chart in charts:
            (Path(png_dir) / f"{chart.name}.png").write_bytes(chart.png)
    return charts


def build_and_report(
    lake: Lake, tenant: str, out: str | Path, png_dir: str | Path | None = None
) -> list[Chart]:
    """Build the models for `tenant` (incrementally) and write the report: the one call
    `loglake demo` needs after its flush."""
    from loglake.models import build_models

    build_models(lake.store, tenants=[tenant])
    return write_hubble_report(lake, tenant, out, png_dir=png_dir)
