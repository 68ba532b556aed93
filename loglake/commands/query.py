"""logcli-like query commands: `query` (and `query --tail`), `instant-query`, `labels`,
`series`, `translate`.

Each asks a server (`--addr`, with `--org-id`) through Loki's HTTP API, or, without
`--addr`, answers directly from a lake (`--lake`) with the same executor the server uses;
both paths produce Loki's JSON, which is printed the way logcli prints it: log lines as
`default` (`<RFC3339 time> <labels> <line>`), `raw` (the line) or `jsonl`; metric
results as a table.
"""

import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from loglake.ingest.labels import labels_text
from loglake.output import format_entry, rfc3339

OUTPUTS = ("default", "raw", "jsonl")
AddrOpt = Annotated[
    str | None, typer.Option("--addr", help="Server address; without it the lake is read directly.")
]
OrgOpt = Annotated[str | None, typer.Option("--org-id", help="Tenant(s), X-Scope-OrgID (a|b).")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Start (RFC3339, unix s or ns).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="End (RFC3339, unix s or ns).")]
SinceOpt = Annotated[str, typer.Option("--since", help="Look back from --to (default 1h).")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="default, raw or jsonl.")]


class _Failed(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _call(
    path: str,
    form: dict[str, Any],
    addr: str | None,
    org_id: str | None,
    lake: str | None,
    config: Any,
) -> Any:
    """Loki's JSON for `GET /loki/api/v1/<path>` from a server or from the lake."""
    if addr:
        import httpx

        headers = {"X-Scope-OrgID": org_id} if org_id else {}
        response = httpx.get(
            f"{addr.rstrip('/')}/loki/api/v1/{path}", params=form, headers=headers, timeout=300
        )
        if response.status_code != 200:
            raise _Failed(response.status_code, response.text.strip())
        return response.json()
    from loglake.cli import _settings
    from loglake.lake import Lake
    from loglake.query import api
    from loglake.query.errors import QueryError
    from loglake.query.executor import Executor
    from loglake.query.params import form_of
    from loglake.query.tenants import lake_tenants

    settings = _settings(config, lake)
    try:
        tenants = lake_tenants(org_id, settings.no_auth_tenant)
        executor = Executor(Lake.open(settings))
        form = form_of({k: str(v) for k, v in form.items()})
        return api.handle(path, form, tenants, time.time_ns(), executor)
    except QueryError as exc:
        raise _Failed(exc.status, exc.message) from None


def _run(path: str, form: dict[str, Any], addr, org_id, lake, config) -> Any:
    try:
        return _call(
            path, {k: v for k, v in form.items() if v is not None}, addr, org_id, lake, config
        )
    except _Failed as exc:
        from loglake.cli import console

        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _tail(query, addr, org_id, lake, config, from_, since, limit, delay_for, output) -> None:
    """`query --tail`: follow through a server or on the lake (see `loglake.livetail`)."""
    from loglake.cli import _settings, console
    from loglake.lake import Lake
    from loglake.livetail import TailFailed, follow_lake, follow_server, tail_form

    if output not in OUTPUTS:
        raise typer.BadParameter(f"--output must be one of {', '.join(OUTPUTS)}")
    try:
        form = tail_form(query, limit, from_, since, delay_for)
        if addr:
            follow_server(addr, org_id, form, output)
        else:
            follow_lake(Lake.open(_settings(config, lake)), org_id, form, output)
    except TailFailed as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


def print_result(data: dict[str, Any], output: str, forward: bool = False) -> None:
    """Print a query result's `data` as logcli does."""
    if output not in OUTPUTS:
        raise typer.BadParameter(f"--output must be one of {', '.join(OUTPUTS)}")
    out = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    kind = data["resultType"]
    if kind == "streams":
        entries = [
            (int(ts), line, s["stream"]) for s in data["result"] for ts, line, *_ in s["values"]
        ]
        entries.sort(key=lambda e: e[0], reverse=not forward)
        for ts, line, labels in entries:
            sys.stdout.write(format_entry(ts, line, labels, output) + "\n")
        return
    if kind == "scalar":
        sys.stdout.write(f"{data['result'][1]}\n")
        return
    table = Table(show_lines=False)
    for name in ("time", "metric", "value"):
        table.add_column(name, overflow="fold")
    for series in data["result"]:
        points = series.get("values") or [series["value"]]
        for t, v in points:
            table.add_row(
                rfc3339(int(round(float(t) * 1000)) * 10**6), labels_text(series["metric"]), v
            )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the query commands to the `loglake` CLI."""
    # Imported here, not at module level: `loglake.cli` imports this module while it
    # registers commands, so the import waits until the CLI module is complete.
    from loglake.cli import ConfigOpt, LakeOpt, console

    @app.command("query")
    def query_cmd(
        query: Annotated[str, typer.Argument(help="LogQL (log or metric query).")],
        addr: AddrOpt = None,
        org_id: OrgOpt = None,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        from_: FromOpt = None,
        to: ToOpt = None,
        since: SinceOpt = "1h",
        limit: Annotated[int, typer.Option(help="Entries to return (logcli's 30).")] = 30,
        step: Annotated[str | None, typer.Option(help="Metric query step.")] = None,
        interval: Annotated[str | None, typer.Option(help="Log query sampling interval.")] = None,
        forward: Annotated[bool, typer.Option("--forward", help="Oldest first.")] = False,
        output: OutputOpt = "default",
        tail: Annotated[
            bool, typer.Option("--tail", "-t", help="Follow new entries until interrupted.")
        ] = False,
        delay_for: Annotated[
            int,
            typer.Option(
                "--delay-for", help="With --tail: seconds to wait for late entries (0-5)."
            ),
        ] = 0,
    ) -> None:
        """A range query, as `logcli query`; with --tail, a live tail of a log query."""
        if tail:
            _tail(query, addr, org_id, lake, config, from_, since, limit, delay_for, output)
            return
        form = {
            "query": query,
            "start": from_,
            "end": to,
            "since": since,
            "limit": limit,
            "step": step,
            "interval": interval,
            "direction": "forward" if forward else "backward",
        }
        body = _run("query_range", form, addr, org_id, lake, config)
        print_result(body["data"], output, forward)

    @app.command("instant-query")
    def instant_query_cmd(
        query: Annotated[str, typer.Argument(help="LogQL metric query.")],
        addr: AddrOpt = None,
        org_id: OrgOpt = None,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        now: Annotated[str | None, typer.Option("--now", help="Evaluation time.")] = None,
        limit: Annotated[int, typer.Option(help="Series to return.")] = 30,
        output: OutputOpt = "default",
    ) -> None:
        """An instant query, as `logcli instant-query`."""
        form = {"query": query, "time": now, "limit": limit}
        body = _run("query", form, addr, org_id, lake, config)
        print_result(body["data"], output)

    @app.command("labels")
    def labels_cmd(
        name: Annotated[str | None, typer.Argument(help="Label whose values to list.")] = None,
        addr: AddrOpt = None,
        org_id: OrgOpt = None,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        from_: FromOpt = None,
        to: ToOpt = None,
        since: SinceOpt = "1h",
        query: Annotated[str | None, typer.Option("--query", help="Stream selector.")] = None,
    ) -> None:
        """Label names, or the values of one label, as `logcli labels`."""
        path = f"label/{name}/values" if name else "labels"
        form = {"start": from_, "end": to, "since": since, "query": query}
        for value in _run(path, form, addr, org_id, lake, config)["data"]:
            sys.stdout.write(value + "\n")

    @app.command("series")
    def series_cmd(
        selector: Annotated[str, typer.Argument(help='Stream selector, e.g. {app="api"}.')],
        addr: AddrOpt = None,
        org_id: OrgOpt = None,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        from_: FromOpt = None,
        to: ToOpt = None,
        since: SinceOpt = "1h",
    ) -> None:
        """Streams matching a selector, as `logcli series`."""
        form = {"match[]": selector, "start": from_, "end": to, "since": since}
        for labels in _run("series", form, addr, org_id, lake, config)["data"]:
            sys.stdout.write(labels_text(labels) + "\n")

    @app.command("translate")
    def translate_cmd(
        query: Annotated[str, typer.Argument(help="LogQL to translate.")],
        dialect: Annotated[str, typer.Option(help="duckdb, trino, spark or clickhouse.")] = (
            "duckdb"
        ),
        since: SinceOpt = "1h",
        step: Annotated[str | None, typer.Option(help="Range step (metric queries).")] = None,
        limit: Annotated[int, typer.Option(help="Entries (log queries).")] = 100,
    ) -> None:
        """Print the SQL that `logql2sql` emits for a query (evaluated over the last --since)."""
        import logql2sql
        from loglake.query.errors import QueryError
        from loglake.query.params import parse_seconds_or_duration, prom_duration

        try:
            end = time.time_ns()
            start = end - prom_duration(since)
            step_ns = parse_seconds_or_duration(step) if step else 0
            sql = logql2sql.translate(
                query, dialect=dialect, start=start, end=end, step=step_ns, limit=limit
            )
        except (logql2sql.LogQLError, QueryError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        sys.stdout.write(sql + "\n")
