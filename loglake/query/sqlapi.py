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

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlglot import exp

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
    """Rows as JSON-ready lists, at any depth: maps become objects (a key that is not a
    string becomes its JSON text), structs objects, non-finite floats strings as Loki prints
    them (`NaN`, `+Inf`, `-Inf`)."""
    columns = [[_jsonable(v, c.type) for v in c.to_pylist()] for c in table.columns]
    return [list(row) for row in zip(*columns, strict=True)]


def _jsonable(value: object, type_: pa.DataType) -> object:
    """`value` (as `to_pylist` gives it for `type_`) made JSON-ready; see `json_rows`."""
    if value is None:
        return None
    if pa.types.is_dictionary(type_):
        return _jsonable(value, type_.value_type)
    if pa.types.is_map(type_):
        return {_key(_jsonable(k, type_.key_type)): _jsonable(v, type_.item_type) for k, v in value}
    if pa.types.is_struct(type_):
        return {f.name: _jsonable(value[f.name], f.type) for f in type_}
    if (
        pa.types.is_list(type_)
        or pa.types.is_large_list(type_)
        or pa.types.is_fixed_size_list(type_)
    ):
        return [_jsonable(v, type_.value_type) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return value


def _key(key: object) -> str:
    """A JSON object key: strings as they are, anything else as its JSON text."""
    return key if isinstance(key, str) else json.dumps(key, default=str, ensure_ascii=False)
