"""`POST /api/v1/sql`: read-only SQL over one tenant's `logs`, with nothing else reachable.

The connection is set up, then locked: the tenant's `logs` view (pinned snapshot: chunk
files plus landing rows registered as Arrow) is created, the snapshot's chunk files are
the only paths allowed (`allowed_paths`), external access is switched off
(`enable_external_access=false`: no `read_csv('/etc/passwd')`, `COPY … TO`, `ATTACH`,
`INSTALL`/`LOAD`, no other tenant's files) and the configuration is locked
(`lock_configuration=true`) so the user's SQL cannot switch any of it back. The query runs
under the tenant's `query_timeout` (DuckDB interrupted) and a row cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlglot import exp

from loglake.jsonvalues import json_columns
from loglake.lake import Lake
from loglake.models import register_model_views
from loglake.query.errors import QueryError, deadline
from storage import duck
from storage.objectstore import ObjectStore
from storage.snapshot import Snapshot, take_snapshot

MAX_ROWS = 100_000
MEMORY_LIMIT = "2GB"


@dataclass(frozen=True)
class SqlResult:
    """A SQL answer: the Arrow table and whether it was cut at `MAX_ROWS`."""

    table: pa.Table
    truncated: bool


def locked_connection(
    lake: Lake,
    tenant: str,
    register: Callable[[duckdb.DuckDBPyConnection, ObjectStore, Snapshot], None] = (
        duck.register_logs
    ),
    memory_limit: str | None = MEMORY_LIMIT,
) -> duckdb.DuckDBPyConnection:
    """A connection whose only data is the tenant's `logs` (made by `register`) and built
    SQL models, configuration locked: no file outside those, no network, no extensions."""
    snapshot = take_snapshot(lake.store, tenant)
    con = duck.connect(lake.store)
    try:
        register(con, lake.store, snapshot)
        views = register_model_views(con, lake.store, tenant)
        files = [lake.store.duckdb_path(k) for k in snapshot.chunk_keys()]
        files += [path for paths in views.values() for path in paths]
        settings: list[tuple[str, exp.Expression]] = [
            ("allowed_paths", exp.Array(expressions=[exp.Literal.string(f) for f in files]))
        ]
        if memory_limit is not None:
            settings.append(("memory_limit", exp.Literal.string(memory_limit)))
        settings += [("enable_external_access", exp.false()), ("lock_configuration", exp.true())]
        for name, value in settings:
            statement = exp.Set(
                expressions=[
                    exp.SetItem(this=exp.EQ(this=exp.to_identifier(name), expression=value))
                ]
            )
            con.execute(statement.sql(dialect="duckdb"))
    except Exception:
        con.close()
        raise
    return con


def run_sql(lake: Lake, tenant: str, query: str, max_rows: int = MAX_ROWS) -> SqlResult:
    """Run one SQL statement over the tenant's logs; `QueryError` 400 for bad SQL or
    forbidden access, 504 at the tenant's `query_timeout`."""
    if not query.strip():
        raise QueryError("query is empty")
    timeout = lake.settings.limits_for(tenant).query_timeout
    con = locked_connection(lake, tenant)
    try:
        with deadline(con, timeout):
            relation = con.sql(query)
            if relation is None:
                return SqlResult(pa.table({}), False)
            reader = relation.to_arrow_reader(batch_size=min(max_rows + 1, 65536))
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > max_rows:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
    finally:
        con.close()
    return SqlResult(table.slice(0, max_rows), table.num_rows > max_rows)


def json_rows(table: pa.Table) -> list[list[object]]:
    """Rows as JSON-ready lists (`loglake.jsonvalues`: maps and structs as objects at any
    depth, non-finite floats as Loki's strings)."""
    return [list(row) for row in zip(*json_columns(table), strict=True)]
