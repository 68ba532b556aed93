"""CLI for the SQL models and what is built on them: `loglake models list|build`,
`loglake report hubble`, `loglake export` and `loglake pg-serve`.

The commands call the same functions as the Dagster assets (`loglake.models`), the report
(`loglake.report`) and the exports (`loglake.export`); they only parse options and print.
"""

import os
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", help="Model project folder (default: the shipped dbt_like_models)."),
]


def register(app: typer.Typer) -> None:
    """Add `models`, `report`, `export` and `pg-serve` to the loglake CLI.

    The commands are defined here, not at import time, because they use `loglake.cli`'s
    shared options and `loglake.cli` imports this module while it registers commands.
    """
    from loglake import cli

    models_app = typer.Typer(help="dbt-like SQL models over the lake.", no_args_is_help=True)
    report_app = typer.Typer(help="Reports with charts, as offline HTML.", no_args_is_help=True)
    _models_commands(models_app, cli)
    _report_commands(report_app, cli)
    _export_commands(app, cli)
    app.add_typer(models_app, name="models")
    app.add_typer(report_app, name="report")


def _project(path: Path | None, console: Console):
    from loglake.models import ModelError, load_project

    try:
        return load_project(path) if path else load_project()
    except ModelError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _models_commands(models_app: typer.Typer, cli: ModuleType) -> None:
    LakeOpt, ConfigOpt, TenantOpt = cli.LakeOpt, cli.ConfigOpt, cli.TenantOpt
    _settings, console, progress_bar = cli._settings, cli.console, cli.progress_bar

    @models_app.command("list")
    def list_models(
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        tenant: TenantOpt = None,
        project: ProjectOpt = None,
    ) -> None:
        """List the models in dependency order, what they read, and the days built for a tenant."""
        from loglake.lake import Lake
        from loglake.models.build import built_days

        settings = _settings(config, lake)
        the_lake = Lake.open(settings)
        the_tenant = tenant or settings.no_auth_tenant
        table = Table("model", "reads", "days built", "description", title=f"tenant {the_tenant}")
        for model in _project(project, console).order():
            days = built_days(the_lake.store, model.name, the_tenant)
            table.add_row(
                model.name, ", ".join(model.depends_on), str(len(days)), model.description
            )
        Console().print(table)

    @models_app.command("build")
    def build(
        select: Annotated[
            list[str] | None,
            typer.Option("--select", help="Build these models (and what they read); default all."),
        ] = None,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        tenant: Annotated[
            list[str] | None, typer.Option("--tenant", help="Tenants to build; default all.")
        ] = None,
        day: Annotated[
            list[str] | None, typer.Option("--day", help="Only these days (YYYY-MM-DD).")
        ] = None,
        full_refresh: Annotated[
            bool, typer.Option("--full-refresh", help="Rebuild days that are up to date.")
        ] = False,
        project: ProjectOpt = None,
    ) -> None:
        """Build models per tenant and day as Parquet in the lake; unchanged days are skipped."""
        from loglake.lake import Lake
        from loglake.models import ModelError, build_models

        the_lake = Lake.open(_settings(config, lake))
        the_project = _project(project, console)
        with progress_bar() as bar:
            task = bar.add_task("models", total=None, detail="")

            def report(result, done: int, total: int) -> None:
                detail = f"{result.model} {result.tenant} {result.day}: {result.status}"
                bar.update(task, completed=done, total=total, detail=detail)

            try:
                results = build_models(
                    the_lake.store,
                    the_project,
                    tenants=tenant or None,
                    select=select or None,
                    days=day or None,
                    full_refresh=full_refresh,
                    progress=report,
                )
            except ModelError as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from exc
        built = [r for r in results if r.status == "built"]
        failed = [(r, c) for r in results for c in r.failed_checks]
        console.print(
            f"{len(built)} partitions built, {len(results) - len(built)} up to date, "
            f"{sum(r.rows for r in built)} rows written"
        )
        for result, check in failed:
            console.print(
                f"[red]FAIL[/red] {check.test.name} ({result.tenant} {result.day}): "
                f"{check.failures} rows"
            )
        if failed:
            raise typer.Exit(1)


def _report_commands(report_app: typer.Typer, cli: ModuleType) -> None:
    LakeOpt, ConfigOpt, TenantOpt = cli.LakeOpt, cli.ConfigOpt, cli.TenantOpt
    _settings, console = cli._settings, cli.console

    @report_app.command("hubble")
    def report_hubble(
        out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
            "report.html"
        ),
        since: Annotated[
            str | None, typer.Option("--since", help="Only days from this date (YYYY-MM-DD) on.")
        ] = None,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        tenant: TenantOpt = None,
        png_dir: Annotated[
            Path | None, typer.Option("--png-dir", help="Also write the charts as PNGs here.")
        ] = None,
    ) -> None:
        """Hubble report (verdicts, drops, talkers, DNS, HTTP, service map) from built models."""
        from loglake.lake import Lake
        from loglake.report.hubble import write_hubble_report

        settings = _settings(config, lake)
        the_lake = Lake.open(settings)
        try:
            charts = write_hubble_report(
                the_lake, tenant or settings.no_auth_tenant, out, since=since, png_dir=png_dir
            )
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        console.print(f"wrote {out} with {len(charts)} charts")


def _export_commands(app: typer.Typer, cli: ModuleType) -> None:
    LakeOpt, ConfigOpt, TenantOpt = cli.LakeOpt, cli.ConfigOpt, cli.TenantOpt
    _settings, console = cli._settings, cli.console

    @app.command("export")
    def export(
        what: Annotated[
            str | None, typer.Argument(help="A model name or a SQL query (over logs and models).")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="parquet, csv or xlsx.")] = "parquet",
        output: Annotated[Path | None, typer.Option("--output", help="File to write.")] = None,
        duckdb_file: Annotated[
            Path | None,
            typer.Option("--duckdb", help="Write a DuckDB database with views over the lake."),
        ] = None,
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        tenant: TenantOpt = None,
    ) -> None:
        """Export a model or a query result to a file, or the lake as a DuckDB database file."""
        import duckdb

        from loglake.export import export_duckdb, export_result
        from loglake.lake import Lake

        settings = _settings(config, lake)
        the_lake = Lake.open(settings)
        the_tenant = tenant or settings.no_auth_tenant
        if (what is None) == (duckdb_file is None):
            console.print("[red]error:[/red] give a model or query with --output, or --duckdb FILE")
            raise typer.Exit(2)
        try:
            if duckdb_file is not None:
                views = export_duckdb(the_lake, the_tenant, duckdb_file)
                console.print(f"wrote {duckdb_file} with views: {', '.join(views)}")
                return
            if output is None:
                console.print("[red]error:[/red] --output is required")
                raise typer.Exit(2)
            rows = export_result(the_lake, the_tenant, what, fmt, output)
        except (duckdb.Error, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        console.print(f"wrote {rows} rows to {output}")

    @app.command("pg-serve")
    def pg_serve(
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        tenant: TenantOpt = None,
        host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Listen port.")] = 5433,
        user: Annotated[str, typer.Option(help="User name clients log in with.")] = "loglake",
    ) -> None:
        """Serve a tenant's logs and models read-only over the PostgreSQL wire protocol.

        The password is read from the environment variable LOGLAKE_PG_PASSWORD (required).
        """
        from loglake.export.pgwire import PgServer

        password = os.environ.get("LOGLAKE_PG_PASSWORD")
        if not password:
            console.print("[red]error:[/red] set LOGLAKE_PG_PASSWORD to the password clients use")
            raise typer.Exit(2)
        from loglake.lake import Lake

        settings = _settings(config, lake)
        the_lake = Lake.open(settings)
        server = PgServer(
            the_lake, tenant or settings.no_auth_tenant, (host, port), {user: password}
        )
        bound_host, bound_port = server.address
        console.print(f"loglake pg-serve listening on {bound_host}:{bound_port}", highlight=False)
        try:
            server.serve_forever()
        finally:
            server.close()
