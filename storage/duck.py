"""DuckDB over the lake: connections that never download extensions, and the `logs` view.

`register_logs` binds a pinned `Snapshot` as a relation with the columns
(tenant, labels, fingerprint, ts, line, structured_metadata): the snapshot's chunk files
read with `read_parquet` plus its landing rows, with identical (stream, ts, line) entries
returned once. The SQL is built as sqlglot expressions; paths and the tenant id enter it
only as literals.
"""

from __future__ import annotations

import itertools

import duckdb
import pyarrow as pa
import sqlglot.expressions as exp

from storage.objectstore import ObjectStore
from storage.snapshot import Snapshot

ENTRY_COLUMNS = ("fingerprint", "ts", "line", "labels", "structured_metadata")
LOGS_COLUMNS = ("tenant", "labels", "fingerprint", "ts", "line", "structured_metadata")

_counter = itertools.count()


def connect(
    store: ObjectStore | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that reads the lake and never fetches extensions."""
    config = {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    if threads:
        config["threads"] = str(threads)
    con = duckdb.connect(config=config)
    con.execute("SET enable_progress_bar = false")  # results, not progress, on the terminal
    if store is not None:
        store.register_duckdb(con)
    return con


def entries_relation(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    snapshot: Snapshot,
    chunk_keys: list[str] | None = None,
) -> exp.Query:
    """A query over the snapshot's raw entries (chunks + landing), not yet deduplicated.

    `chunk_keys` narrows the chunks read (the executor passes the ones its streams and
    time range need); by default all of the snapshot's chunks are read.
    """
    keys = snapshot.chunk_keys() if chunk_keys is None else chunk_keys
    columns = [exp.column(c) for c in ENTRY_COLUMNS]
    parts: list[exp.Query] = []
    if keys:
        files = exp.Array(expressions=[exp.Literal.string(store.duckdb_path(k)) for k in keys])
        scan = exp.Anonymous(this="read_parquet", expressions=[files])
        parts.append(exp.select(*columns).from_(exp.Table(this=scan)))
    landing = snapshot.landing if snapshot.landing.num_rows or not parts else None
    if landing is not None:
        name = f"_landing_{next(_counter)}"
        con.register(name, landing)
        parts.append(exp.select(*columns).from_(exp.to_identifier(name)))
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return query


def logs_query(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    snapshot: Snapshot,
    chunk_keys: list[str] | None = None,
) -> exp.Query:
    """The `logs` relation of a snapshot as a query: tenant column, deduplicated entries."""
    raw = entries_relation(con, store, snapshot, chunk_keys)
    tenant = exp.alias_(exp.Literal.string(snapshot.tenant), "tenant")
    out_columns = [tenant, *(exp.column(c) for c in LOGS_COLUMNS[1:])]
    dups = snapshot.dedup_fingerprints()
    if len(dups) == 0:
        return exp.select(*out_columns).from_(exp.alias_(exp.paren(raw), "raw", table=True))
    dup_name = f"_dup_streams_{next(_counter)}"
    con.register(dup_name, pa.table({"fingerprint": dups}))
    in_dups = exp.column("fingerprint").isin(
        query=exp.select("fingerprint").from_(exp.to_identifier(dup_name))
    )
    plain = exp.select(*out_columns).from_("raw").where(exp.not_(in_dups))
    deduped = (
        exp.select(*out_columns)
        .from_("raw")
        .where(in_dups.copy())
        .distinct(exp.column("fingerprint"), exp.column("ts"), exp.column("line"))
    )
    return exp.union(plain, deduped, distinct=False).with_("raw", as_=raw)


def register_logs(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    snapshot: Snapshot,
    name: str = "logs",
) -> None:
    """Create (or replace) the view `name` over a snapshot."""
    query = logs_query(con, store, snapshot)
    view = exp.Create(
        this=exp.to_table(name),
        kind="VIEW",
        replace=True,
        expression=query,
    )
    con.execute(view.sql(dialect="duckdb"))
