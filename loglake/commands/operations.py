"""`loglake compact|retention|deletes|gc|dagster`: the lake's housekeeping from the shell.

Each command runs the same function as its Dagster asset (`loglake.operations`) with the
settings of `--config` (the `compactor` section and retention limits of `limits_config`)
and prints what it did; `loglake dagster` starts the Dagster UI and daemon on loopback
over the lake, where those assets run on schedules.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loglake.cli import ConfigOpt, LakeOpt, TenantOpt, _settings, console, progress_bar

if TYPE_CHECKING:
    from loglake.lake import Lake

DAGSTER_YAML = """\
# Written by `loglake dagster`: lake writers (compaction, retention, deletes, gc) share
# the `lake_writer` pool, one op at a time; compaction runs of one tenant's day never
# overlap (tag loglake/tenant_day).
concurrency:
  pools:
    default_limit: 1
  runs:
    tag_concurrency_limits:
      - key: loglake/tenant_day
        value: {applyLimitPerUniqueValue: true}
        limit: 1
"""


def _open(config: Path | None, lake: str | None) -> Lake:
    from loglake.lake import Lake

    return Lake.open(_settings(config, lake))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _failed(operation: str, errors: dict[str, Exception]) -> None:
    """Print each failed step of `operation` and exit 1, if any failed."""
    for step, err in errors.items():
        console.print(f"[red]error:[/red] {operation} of {step} failed: {err}")
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the housekeeping commands to the CLI."""

    @app.command()
    def compact(
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        tenant: TenantOpt = None,
        day: Annotated[str | None, typer.Option(help="Only this day (YYYY-MM-DD).")] = None,
    ) -> None:
        """Merge each day's small chunks into large sorted ones (one commit per day)."""
        from loglake.operations import HousekeepingError, compact_lake

        the_lake = _open(config, lake)
        errors: dict[str, Exception] = {}
        with progress_bar() as bar:
            task = bar.add_task("compact", total=None, detail="")

            def report(done: int, total: int, what: str) -> None:
                bar.update(task, completed=done, total=total, detail=what)

            try:
                results = compact_lake(
                    the_lake,
                    tenants=[tenant] if tenant else None,
                    days=[day] if day else None,
                    progress=report,
                )
            except HousekeepingError as err:  # the other days were compacted
                results, errors = err.result, err.errors
        merged = [r for r in results if r.merged_chunks]
        raw = sum(r.raw_bytes for r in merged)
        cpu = sum(r.cpu_seconds for r in merged)
        before = sum(r.bytes_before for r in merged)
        after = sum(r.bytes_after for r in merged)
        console.print(
            f"compacted {len(merged)} of {len(results)} days: "
            f"{sum(r.merged_chunks for r in merged)} chunks ({_mb(before)}) -> "
            f"{sum(r.written_chunks for r in merged)} ({_mb(after)}), "
            f"{sum(r.duplicates_dropped for r in merged)} duplicates dropped, "
            f"{raw / 1e6 / cpu if cpu else 0:.0f} MB/s per CPU-second"
        )
        _failed("compaction", errors)

    @app.command()
    def retention(lake: LakeOpt = None, config: ConfigOpt = None) -> None:
        """Remove entries past their retention period (needs compactor.retention_enabled)."""
        from loglake.operations import HousekeepingError, apply_retention

        the_lake = _open(config, lake)
        errors: dict[str, Exception] = {}
        with progress_bar() as bar:
            task = bar.add_task("retention", total=None, detail="")

            def report(done: int, total: int, what: str) -> None:
                bar.update(task, completed=done, total=total, detail=what)

            try:
                run = apply_retention(the_lake, progress=report)
            except HousekeepingError as err:  # the other tenants were done
                run, errors = err.result, err.errors
        if not run.enabled:
            console.print("retention is disabled (compactor.retention_enabled: false)")
            return
        for r in run.results:
            console.print(
                f"{r.tenant}: {r.rows_removed} entries removed, {r.days_dropped} days dropped, "
                f"{r.chunks_dropped} chunks dropped, {r.chunks_rewritten} rewritten"
            )
        _failed("retention", errors)

    @app.command()
    def deletes(lake: LakeOpt = None, config: ConfigOpt = None) -> None:
        """Apply delete requests whose cancel period is over."""
        from loglake.operations import HousekeepingError, process_deletes

        the_lake = _open(config, lake)
        if not the_lake.settings.compactor.retention_enabled:
            console.print("deletes need compactor.retention_enabled: true (as in Loki)")
            return
        errors: dict[str, Exception] = {}
        with console.status("processing delete requests"):
            try:
                results = process_deletes(the_lake)
            except HousekeepingError as err:  # the other requests were processed
                results, errors = err.result, err.errors
        for r in results:
            console.print(
                f"{r.tenant} {r.request_id}: {r.lines_deleted} lines deleted over "
                f"{len(r.days)} days" + (" (cancelled meanwhile)" if r.cancelled else "")
            )
        console.print(f"{len(results)} delete requests processed")
        _failed("deletes", errors)

    @app.command()
    def gc(
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        grace: Annotated[
            str | None,
            typer.Option(help="Grace period, e.g. 2h (default: compactor.retention_delete_delay)."),
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report.")] = False,
    ) -> None:
        """Delete objects no live manifest version references, after the grace period."""
        from loglake.config import parse_duration_ns
        from loglake.operations import collect_garbage

        the_lake = _open(config, lake)
        try:
            grace_ns = parse_duration_ns(grace) if grace is not None else None
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        with console.status("collecting garbage"):
            result = collect_garbage(the_lake, grace_ns=grace_ns, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        console.print(
            f"{verb} {result.chunks_deleted} chunks ({_mb(result.chunk_bytes_deleted)}) and "
            f"{result.manifest_versions_deleted} manifest versions; kept {result.chunks_live} "
            f"live and {result.chunks_young} young chunks"
            + (
                f"; {verb} {result.temp_files_deleted} files of interrupted writes"
                if result.temp_files_deleted
                else ""
            )
        )

    @app.command()
    def dagster(
        lake: LakeOpt = None,
        config: ConfigOpt = None,
        host: Annotated[str, typer.Option(help="UI listen address.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="UI port.")] = 3000,
        dagster_home: Annotated[
            Path, typer.Option(help="Dagster instance folder (runs, schedules, concurrency).")
        ] = Path(".dagster_home"),
    ) -> None:
        """Start the Dagster UI and daemon (`dagster dev`) over the lake."""
        lake_url = lake or os.environ.get("LOGLAKE_LAKE") or "./lake"
        if "://" not in lake_url:
            lake_url = str(Path(lake_url).resolve())
        home = dagster_home.resolve()
        home.mkdir(parents=True, exist_ok=True)
        instance_yaml = home / "dagster.yaml"
        if not instance_yaml.exists():
            instance_yaml.write_text(DAGSTER_YAML)
        env = {**os.environ, "LOGLAKE_LAKE": lake_url, "DAGSTER_HOME": str(home)}
        if config is not None:
            env["LOGLAKE_CONFIG"] = str(config.resolve())
        executable = Path(sys.executable).with_name("dagster")
        command = [str(executable), "dev", "-m", "dagster_project.definitions"]
        command += ["-h", host, "-p", str(port)]
        console.print(f"Dagster UI on http://{host}:{port} over {lake_url} (home {home})")
        os.execve(command[0], command, env)
