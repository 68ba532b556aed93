"""The `loglake` command line: serve, push, flush, sql and demo.

Every command that works on the lake takes `--lake PATH|s3://…` (default `./lake`, or
`LOGLAKE_LAKE`) and `--config FILE`; commands that talk to a server take `--addr`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loglake.config import Settings, load_settings

app = typer.Typer(
    name="loglake",
    help="A Loki-compatible log lakehouse: push, flush, query and serve a lake.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

LakeOpt = Annotated[
    str | None,
    typer.Option("--lake", help="Lake root: a directory or s3://bucket/prefix [env LOGLAKE_LAKE]."),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML configuration file (Loki-style sections).")
]
AddrOpt = Annotated[str, typer.Option("--addr", help="loglake (or Loki) server address.")]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="Tenant (X-Scope-OrgID); default: the no-auth tenant 'fake'."),
]


def _settings(config: Path | None, lake: str | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, lake=lake, **overrides)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def progress_bar() -> Progress:
    """The progress display long-running commands share."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def serve(
    lake: LakeOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (Loki's 3100).")] = None,
    config: ConfigOpt = None,
    pg_port: Annotated[
        int | None,
        typer.Option(
            help="Also serve SQL over the PostgreSQL wire protocol on this port (read-only; "
            "password from LOGLAKE_PG_PASSWORD, user --pg-user)."
        ),
    ] = None,
    pg_user: Annotated[str, typer.Option(help="User name Postgres clients log in with.")] = (
        "loglake"
    ),
    pg_tenant: TenantOpt = None,
) -> None:
    """Serve Loki's push and query APIs over the lake (and /ready, /metrics)."""
    import os

    from loglake.server import serve as run

    settings = _settings(config, lake, host=host, port=port)
    pg = None
    if pg_port is not None:
        from loglake.export.pgwire import PgServer
        from loglake.lake import Lake

        password = os.environ.get("LOGLAKE_PG_PASSWORD")
        if not password:
            console.print("[red]error:[/red] set LOGLAKE_PG_PASSWORD for --pg-port")
            raise typer.Exit(2)
        pg = PgServer(
            Lake.open(settings),
            pg_tenant or settings.no_auth_tenant,
            (settings.server.http_listen_address, pg_port),
            {pg_user: password},
        ).serve_in_thread()
        console.print(f"PostgreSQL wire protocol on {pg.address[0]}:{pg.address[1]}")
    console.print(
        f"loglake serving {settings.storage.lake} on "
        f"http://{settings.server.http_listen_address}:{settings.server.http_listen_port}"
    )
    try:
        run(settings)
    finally:
        if pg is not None:
            pg.close()


@app.command()
def flush(lake: LakeOpt = None, config: ConfigOpt = None, tenant: TenantOpt = None) -> None:
    """Turn landing objects into Parquet chunks and manifest commits."""
    from loglake.lake import Lake
    from storage.flush import FlushError

    the_lake = Lake.open(_settings(config, lake))
    errors: dict[str, Exception] = {}
    with progress_bar() as bar:
        task = bar.add_task("flush", total=None, detail="")

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, detail="landing objects")

        try:
            result = the_lake.flush([tenant] if tenant else None, progress=report)
        except FlushError as err:  # the other tenants were flushed
            result, errors = err.result, err.errors
    console.print(
        f"flushed {result.rows} entries ({result.raw_bytes / 1e6:.1f} MB raw) from "
        f"{result.landing_objects} landing objects into {result.chunks} chunks "
        f"({result.chunk_bytes / 1e6:.1f} MB) with {result.commits} manifest commits "
        f"in {result.seconds:.2f}s"
    )
    for failed, err in errors.items():
        console.print(f"[red]error:[/red] flush of tenant {failed!r} failed: {err}")
    if errors:
        raise typer.Exit(1)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the tenant's `logs` relation.")],
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    output: Annotated[str | None, typer.Option("--output", help="Write to this file.")] = None,
) -> None:
    """Run SQL over a tenant's logs (flushed chunks plus landing data not yet flushed)."""
    import duckdb

    from loglake.ingest.errors import PushError
    from loglake.lake import Lake
    from loglake.output import write_result

    settings = _settings(config, lake)
    the_lake = Lake.open(settings)
    try:
        result = the_lake.sql(query, tenant or settings.no_auth_tenant)
        write_result(result, fmt, output)
    except (duckdb.Error, ValueError, PushError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@app.command()
def push(
    files: Annotated[list[str], typer.Argument(help="Files to ship, or - for standard input.")],
    addr: AddrOpt = "http://127.0.0.1:3100",
    labels: Annotated[
        str, typer.Option("--labels", help='Stream labels, e.g. {job="x"}.')
    ] = '{job="loglake-push"}',
    tenant: TenantOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="raw (one entry per line) or hubble (flow JSON).")
    ] = "raw",
    timestamp_field: Annotated[
        str | None,
        typer.Option(help="Take each line's timestamp from this logfmt/JSON field; else now."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Lines per push request.")] = 1000,
    follow: Annotated[bool, typer.Option("--follow", help="Keep shipping as files grow.")] = False,
) -> None:
    """Ship lines to a server through the push API, in batches, with a progress bar."""
    from loglake.shipper import ShipOptions, ship

    options = ShipOptions(
        addr=addr,
        tenant=tenant,
        labels=labels,
        fmt=fmt,
        timestamp_field=timestamp_field,
        batch_size=batch_size,
        follow=follow,
    )
    try:
        with progress_bar() as bar:
            stats = ship(files, options, bar)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(
        f"pushed {stats.lines} lines ({stats.bytes / 1e6:.2f} MB) in {stats.requests} requests"
    )


@app.command()
def demo(
    lake: LakeOpt = None,
    lines: Annotated[int, typer.Option(help="Application log lines to generate.")] = 200_000,
    flows: Annotated[int, typer.Option(help="Hubble flows to generate.")] = 20_000,
) -> None:
    """Build a local lake from generated application logs and Hubble flows, then query it."""
    from loglake.demo import run_demo

    settings = _settings(None, lake)
    run_demo(settings, lines=lines, flows=flows, console=Console())


def _register_commands() -> None:
    """Add the commands of every module in `loglake.commands`."""
    import importlib
    import pkgutil

    from loglake import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
