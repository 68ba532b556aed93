"""Export to BI tools: result files, a DuckDB database file, and (in `pgwire`) SQL over the
PostgreSQL wire protocol.

Main interface:

- `analytics_connection(lake, tenant)` → DuckDB with `logs` and every built model as views;
- `export_result(lake, tenant, model_or_sql, fmt, output)` → rows written as parquet, csv
  or xlsx (nested values — labels, lists — become JSON text in csv/xlsx);
- `export_duckdb(lake, tenant, path)` → a DuckDB database file whose views read the lake's
  Parquet chunks and model partitions in place (landing rows not yet flushed are copied into
  the file), so DuckDB-aware BI tools open it directly;
- `persist_logs(con, store, snapshot)` → the `logs` view built only from objects that live in
  the database (no connection-local Arrow registrations), which a database file and every
  cursor of a shared connection can see.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlglot.expressions as exp

from loglake.ingest.labels import validate_tenant_id
from loglake.lake import Lake
from loglake.models import register_models
from storage import duck
from storage.objectstore import ObjectStore
from storage.snapshot import Snapshot, take_snapshot

FORMATS = ("parquet", "csv", "xlsx")


def analytics_connection(lake: Lake, tenant: str) -> duckdb.DuckDBPyConnection:
    """A connection with the tenant's `logs` and built models, as `loglake sql` should see."""
    validate_tenant_id(tenant)
    return lake.sql_connection(tenant)  # which registers the built models next to `logs`


def _query_for(con: duckdb.DuckDBPyConnection, what: str) -> str:
    """A model name becomes `SELECT * FROM model`; anything else is taken as SQL."""
    names = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    if what in names:
        return exp.select(exp.Star()).from_(exp.to_identifier(what)).sql(dialect="duckdb")
    return what


def export_result(lake: Lake, tenant: str, what: str, fmt: str, output: str | Path) -> int:
    """Write a model or a query result to `output` in `fmt`; returns the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    con = analytics_connection(lake, tenant)
    try:
        table = con.sql(_query_for(con, what)).to_arrow_table()
    finally:
        con.close()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, output, compression="zstd")
    elif fmt == "csv":
        pacsv.write_csv(_flat(table), output)
    else:
        _write_xlsx(_flat(table), Path(output))
    return table.num_rows


def _is_nested(t: pa.DataType) -> bool:
    return pa.types.is_map(t) or pa.types.is_list(t) or pa.types.is_struct(t)


def _json_value(value: object) -> object:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return dict(value)  # a map column: list of (key, value) pairs
    return value


def _flat(table: pa.Table) -> pa.Table:
    """Nested columns as JSON text (CSV and spreadsheets have no nested cells)."""
    for i, column in enumerate(table.schema):
        if _is_nested(column.type):
            text = [
                None if v is None else json.dumps(_json_value(v), default=str, ensure_ascii=False)
                for v in table.column(i).to_pylist()
            ]
            table = table.set_column(i, column.name, pa.array(text, pa.string()))
    return table


def _write_xlsx(table: pa.Table, path: Path) -> None:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"remove_timezone": True})
    try:
        sheet = workbook.add_worksheet("data")
        bold = workbook.add_format({"bold": True})
        stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_row(0, 0, table.column_names, bold)
        for c, column in enumerate(table.columns):
            for r, value in enumerate(column.to_pylist(), start=1):
                if value is None:
                    continue
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, stamp)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), day)
                elif isinstance(value, int) and abs(value) >= 2**53:
                    sheet.write_string(r, c, str(value))  # Excel numbers are doubles
                else:
                    sheet.write(r, c, value)
        sheet.autofilter(0, 0, max(table.num_rows, 1), max(table.num_columns - 1, 0))
        sheet.freeze_panes(1, 0)
    finally:
        workbook.close()


def persist_logs(
    con: duckdb.DuckDBPyConnection, store: ObjectStore, snapshot: Snapshot, prefix: str = "loglake"
) -> None:
    """Create the `logs` view with its landing rows (and overlapping-stream list) stored as
    tables of the database (`<prefix>_landing`, …) instead of connection-local Arrow
    registrations."""

    def bind(kind: str, table: pa.Table) -> str:
        name = f"{prefix}_{kind}"
        source = f"_persist_{kind}"
        con.register(source, table)
        try:
            create = exp.Create(
                this=exp.to_table(name),
                kind="TABLE",
                replace=True,
                expression=exp.select(exp.Star()).from_(exp.to_identifier(source)),
            )
            con.execute(create.sql(dialect="duckdb"))
        finally:
            con.unregister(source)
        return name

    query = duck.logs_query(con, store, snapshot, bind=bind)
    view = exp.Create(this=exp.to_table("logs"), kind="VIEW", replace=True, expression=query)
    con.execute(view.sql(dialect="duckdb"))


def export_duckdb(lake: Lake, tenant: str, path: str | Path) -> list[str]:
    """Write a DuckDB database file with `logs` and the built models as views; returns the
    view names. The views read the lake's files by absolute path (or `s3://` URL, which the
    opening tool must be able to read), so the file stays small and is rebuilt to refresh."""
    validate_tenant_id(tenant)
    path = Path(path)
    if path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config={"autoinstall_known_extensions": "false"})
    try:
        lake.store.register_duckdb(con)
        persist_logs(con, lake.store, take_snapshot(lake.store, tenant))
        return ["logs", *register_models(con, lake.store, tenant)]
    finally:
        con.close()
