"""Materialize models per tenant and day as Parquet in the lake, incrementally.

Main interface: `build_models(store, project, …)` → a `PartitionBuild` per (model, tenant,
day) it looked at, and `register_models(con, store, tenant)`, which makes every built model
queryable by its name next to `logs` (`Lake.sql_connection` calls it; a locked-down
connection uses `register_model_views`, which also returns the files to allow).

Layout: `models/<name>/tenant=<tenant>/date=<YYYY-MM-DD>/data.parquet` plus `state.json`.
A partition of a model is computed from the same day only: its sources are the `logs` of
that day (a snapshot pinned to the day's manifest version plus its landing rows) and its
upstream models are their partitions of that day. So every model is a per-day table with a
`date` column (added when the SQL does not select one), and a day is rebuilt only when its
*input token* changed: for `logs` the pinned manifest version and the day's landing rows,
for a model the hash of its compiled SQL and its inputs' tokens. `state.json` is written
after the data, so an interrupted build is simply redone. DuckDB streams a partition
straight into a Parquet file (zstd) that is then stored, so memory does not grow with the
size of a day; rows, columns and time range come from the file's footer.

After writing a partition the model's YAML tests run over it (`checks.run_checks`): a
`unique` test therefore means unique within a day.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlglot.expressions as exp

from loglake.ingest.labels import validate_tenant_id
from loglake.models.checks import CheckResult, run_checks
from loglake.models.project import DIALECT, Model, Project, load_project
from storage import duck, layout, manifest
from storage.landing import landing_tenants
from storage.objectstore import ObjectStore
from storage.snapshot import Snapshot, take_snapshot

PREFIX = "models"
_MODEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DATA = "data.parquet"
STATE = "state.json"


@dataclass
class PartitionBuild:
    """What happened to one (model, tenant, day): built or already up to date."""

    model: str
    tenant: str
    day: str
    status: str
    rows: int = 0
    columns: tuple[str, ...] = ()
    seconds: float = 0.0
    time_range: tuple[str, str] | None = None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[CheckResult]:
        """The YAML tests this partition failed."""
        return [c for c in self.checks if not c.passed]


def partition_prefix(model: str, tenant: str, day: str) -> str:
    """The folder of one model partition."""
    return f"{model_prefix(model, tenant)}date={day}/"


def model_prefix(model: str, tenant: str) -> str:
    """The folder of a model's partitions for one tenant."""
    return f"{PREFIX}/{model}/{layout.tenant_dir(tenant)}/"


def source_days(store: ObjectStore, tenant: str) -> list[str]:
    """Days with data for the tenant: published manifests plus landing rows."""
    days = set(manifest.days(store, tenant))
    landing = take_snapshot(store, tenant).landing
    if landing.num_rows:
        numbers = pc.unique(layout.day_numbers(landing.column("ts"))).to_pylist()
        days.update(layout.day_of_number(n) for n in numbers)
    return sorted(days)


def built_days(store: ObjectStore, model: str, tenant: str) -> list[str]:
    """Days for which `model` has a built partition."""
    prefix = model_prefix(model, tenant)
    return [
        k.removeprefix(prefix + "date=").split("/")[0] for k in model_files(store, model, tenant)
    ]


def read_state(store: ObjectStore, model: str, tenant: str, day: str) -> dict | None:
    """The state written with a partition, or None when it was never built."""
    try:
        return json.loads(store.get(partition_prefix(model, tenant, day) + STATE))
    except FileNotFoundError:
        return None


def build_models(
    store: ObjectStore,
    project: Project | None = None,
    *,
    tenants: Iterable[str] | None = None,
    select: Iterable[str] | None = None,
    days: Iterable[str] | None = None,
    full_refresh: bool = False,
    ancestors: bool = True,
    progress: Callable[[PartitionBuild, int, int], None] | None = None,
) -> list[PartitionBuild]:
    """Build the selected models (and, with `ancestors`, what they read) per tenant and day.

    `days` restricts the days considered (a Dagster partition passes one); by default
    all days with source data. Partitions whose input token is unchanged are skipped
    unless `full_refresh`. Without `ancestors` (Dagster, where each model is its own
    asset) the upstream partitions must already be built.
    """
    project = project or load_project()
    models = project.order(select)
    if not ancestors and select is not None:
        models = [m for m in models if m.name in set(select)]
    if tenants is None:
        tenants = sorted(set(manifest.tenants(store)) | set(landing_tenants(store)))
    tenants = list(tenants)
    for tenant in tenants:
        validate_tenant_id(tenant)
    wanted_days = None if days is None else set(days)
    plan = []
    for tenant in tenants:
        for day in source_days(store, tenant):
            if wanted_days is None or day in wanted_days:
                plan.extend((model, tenant, day) for model in models)
    results = []
    snapshots: dict[tuple[str, str], Snapshot] = {}
    for index, (model, tenant, day) in enumerate(plan, start=1):
        result = build_partition(store, project, model, tenant, day, snapshots, full_refresh)
        results.append(result)
        if progress is not None:
            progress(result, index, len(plan))
    return results


def build_partition(
    store: ObjectStore,
    project: Project,
    model: Model,
    tenant: str,
    day: str,
    snapshots: dict[tuple[str, str], Snapshot] | None = None,
    full_refresh: bool = False,
) -> PartitionBuild:
    """Build one model for one tenant and day (or find it up to date)."""
    started = time.perf_counter()
    snapshots = {} if snapshots is None else snapshots
    inputs: dict[str, str] = {}
    for source in project.reads_sources(model.name):
        snapshot = _day_snapshot(store, tenant, day, snapshots)
        inputs[source] = _snapshot_token(snapshot, day)
    for upstream in project.upstream_models(model.name):
        state = read_state(store, upstream, tenant, day)
        if state is None:
            raise RuntimeError(f"{model.name}: upstream {upstream} is not built for {day}")
        inputs[upstream] = state["token"]
    token = hashlib.sha256(json.dumps([model.sql, sorted(inputs.items())]).encode()).hexdigest()
    previous = read_state(store, model.name, tenant, day)
    if previous is not None and previous["token"] == token and not full_refresh:
        # The data is unchanged, so are its test results: a failed test stays failed.
        failed = previous.get("failed_checks") or {}
        if isinstance(failed, list):  # states written before failure counts were kept
            failed = dict.fromkeys(failed, 1)
        return PartitionBuild(
            model.name,
            tenant,
            day,
            "up-to-date",
            rows=previous["rows"],
            columns=tuple(previous["columns"]),
            seconds=time.perf_counter() - started,
            checks=[CheckResult(t, failed[t.name]) for t in model.tests if t.name in failed],
            time_range=tuple(previous["time_range"]) if previous.get("time_range") else None,
        )

    prefix = partition_prefix(model.name, tenant, day)
    con = duck.connect(store)
    try:
        with tempfile.TemporaryDirectory(prefix="loglake-model-") as scratch:
            if project.reads_sources(model.name):
                duck.register_logs(con, store, _day_snapshot(store, tenant, day, snapshots))
            for upstream in project.upstream_models(model.name):
                key = partition_prefix(upstream, tenant, day) + DATA
                _create_view(con, upstream, [store.duckdb_path(key)])
            built = Path(scratch) / DATA
            _with_date(con.sql(model.sql), day).write_parquet(str(built), compression="zstd")
            store.put(prefix + DATA, built.read_bytes())
            _create_view(con, model.name, [str(built)])
            rows, columns, time_range = _describe(built)
            checks = run_checks(con, model.name, model.tests)
    finally:
        con.close()
    state = {
        "token": token,
        "rows": rows,
        "columns": columns,
        "time_range": time_range,
        "failed_checks": {c.test.name: c.failures for c in checks if not c.passed},
    }
    store.put(prefix + STATE, json.dumps(state).encode())
    return PartitionBuild(
        model.name,
        tenant,
        day,
        "built",
        rows=rows,
        columns=tuple(columns),
        seconds=time.perf_counter() - started,
        time_range=time_range,
        checks=checks,
    )


def register_models(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    tenant: str,
    project: Project | None = None,
) -> list[str]:
    """Create a view per built model (all its days) for `tenant`; returns the names.

    Call after `storage.duck.register_logs`, e.g. in `Lake.sql_connection`. Without a
    `project`, every model found under `models/` in the lake is registered (one listing
    per model, no SQL parsing); models never built for the tenant get no view.
    """
    return list(register_model_views(con, store, tenant, project))


def register_model_views(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    tenant: str,
    project: Project | None = None,
) -> dict[str, list[str]]:
    """As `register_models`, returning each registered model's files as DuckDB paths: what a
    locked-down connection must list in `allowed_paths` (the views read them at query
    time), taken from the same listing the views were built from."""
    validate_tenant_id(tenant)
    names = list(project.models) if project else built_models(store)
    registered = {}
    for name in names:
        paths = [store.duckdb_path(k) for k in model_files(store, name, tenant)]
        if paths:
            _create_view(con, name, paths)
            registered[name] = paths
    return registered


def built_models(store: ObjectStore) -> list[str]:
    """Names of the models with partitions in the lake (any tenant)."""
    return [name for name in store.list_dirs(f"{PREFIX}/") if _MODEL_NAME.fullmatch(name)]


def model_files(store: ObjectStore, model: str, tenant: str) -> list[str]:
    """Keys of a model's built partition files for a tenant, by day (one listing): a
    partition counts once its state is written."""
    keys = {obj.key for obj in store.list(model_prefix(model, tenant))}
    return sorted(
        key for key in keys if key.endswith("/" + DATA) and key.removesuffix(DATA) + STATE in keys
    )


def _day_snapshot(
    store: ObjectStore, tenant: str, day: str, cache: dict[tuple[str, str], Snapshot]
) -> Snapshot:
    if (tenant, day) not in cache:
        lo, hi = layout.day_bounds(day)
        cache[(tenant, day)] = take_snapshot(store, tenant, lo, hi - 1)
    return cache[(tenant, day)]


def _snapshot_token(snapshot: Snapshot, day: str) -> str:
    pinned = snapshot.manifests.get(day)
    landing = snapshot.landing
    ts_sum = pc.sum(landing.column("ts")).as_py() if landing.num_rows else 0
    return f"v{pinned.version if pinned else -1}:landing{landing.num_rows}:{ts_sum}"


def _create_view(con: duckdb.DuckDBPyConnection, name: str, paths: list[str]) -> None:
    """(Re)create the view `name` over Parquet files (columns matched by name)."""
    files = exp.Array(expressions=[exp.Literal.string(p) for p in paths])
    scan = exp.Anonymous(
        this="read_parquet",
        expressions=[files, exp.EQ(this=exp.var("union_by_name"), expression=exp.true())],
    )
    view = exp.Create(
        this=exp.to_table(exp.to_identifier(name).sql(dialect=DIALECT)),
        kind="VIEW",
        replace=True,
        expression=exp.select(exp.Star()).from_(exp.Table(this=scan)),
    )
    con.execute(view.sql(dialect=DIALECT))


def _with_date(relation: duckdb.DuckDBPyRelation, day: str) -> duckdb.DuckDBPyRelation:
    """The model's rows with a leading `date` column of the partition's day, unless it has one."""
    if "date" in relation.columns:
        return relation
    date = exp.alias_(exp.cast(exp.Literal.string(day), exp.DataType.Type.DATE), "date")
    return relation.project(f"{date.sql(dialect=DIALECT)}, *")


def _describe(path: Path) -> tuple[int, list[str], tuple[str, str] | None]:
    """Rows, column names and the min and max of the first timestamp column (ISO text) of
    a written partition, from its Parquet footer (row-group statistics; no scan)."""
    metadata = pq.read_metadata(path)
    schema = metadata.schema.to_arrow_schema()
    stamp = next((f.name for f in schema if pa.types.is_timestamp(f.type)), None)
    # Parquet numbers leaf columns (a list column has its own), so find the stamp's by path
    leaf = next((j for j in range(metadata.num_columns)
                 if metadata.schema.column(j).path == stamp), None)  # fmt: skip
    bounds = []
    for group in range(metadata.num_row_groups if leaf is not None else 0):
        stats = metadata.row_group(group).column(leaf).statistics
        if stats is not None and stats.has_min_max:
            bounds.append((stats.min, stats.max))
    time_range = None
    if bounds:
        lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
        time_range = (lo.isoformat(), hi.isoformat())
    return metadata.num_rows, schema.names, time_range
