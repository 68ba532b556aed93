"""Binding the `logs` relation of one query: only the chunks its streams and time need.

`bind_logs` pins a snapshot per tenant for the query's read range, resolves the stream
selectors against the pinned manifests' chunk references (one row per chunk and stream,
with min/max ts) so that only chunks holding a matching stream inside the range are read,
keeps only the landing rows of matching streams, and creates the view `logs` the compiled
SQL reads. Matchers are evaluated by DuckDB with the same RE2 semantics the query uses
(`logql2sql.pipeline.string_match`).

Next to `logs` it registers `streams` (`fingerprint, labels`, one row per matching stream),
which the compiled SQL can read instead of scanning every entry's label map: selectors are
matched and label maps built once per stream. `Plan.streams_unique` tells whether the
fingerprints name their label sets one to one (a 64-bit hash: a collision is possible in
principle, and then the query must be compiled without `streams`). `Plan.selected` tells
whether every stream `logs` holds in the range matches every selector (as when a selector
names the chunks' partition label, or matches every stream): then the compiled SQL need not
match them again per entry.

For a multi-tenant query (`X-Scope-OrgID: a|b`) every tenant's rows gain the label
`__tenant_id__`, as Loki adds it, so selectors can match on it and results show it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from logql2sql import ast
from logql2sql.pipeline import string_match
from storage import duck
from storage.objectstore import ObjectStore
from storage.schema import STREAMS_SCHEMA
from storage.snapshot import take_snapshot

TENANT_LABEL = "__tenant_id__"
STREAMS = "streams"
"""The name `bind_logs` registers the streams relation under."""
_counter = itertools.count()


@dataclass
class Plan:
    """What a query reads, from the manifests and landing (for stats and limits)."""

    chunks: int = 0
    streams: int = 0
    chunk_lines: int = 0
    chunk_bytes: int = 0
    landing_lines: int = 0
    landing_bytes: int = 0
    streams_unique: bool = True
    stream_labels: frozenset[str] = frozenset()
    """Label names of the streams relation's maps (single-tenant queries)."""
    selected: bool = False
    """Every stream of `logs` with entries in the range matches every selector."""
    metadata: bool = True
    """Some entry of `logs` may have structured metadata."""

    @property
    def lines(self) -> int:
        """Entries of the selected streams in the range."""
        return self.chunk_lines + self.landing_lines

    @property
    def bytes(self) -> int:
        """Line bytes of the selected streams in the range."""
        return self.chunk_bytes + self.landing_bytes


def matcher_predicate(
    selectors: Sequence[Sequence[ast.Matcher]], tenant: str | None, labels: str = "labels"
) -> exp.Expression:
    """`(selector 1) OR (selector 2) …` over a labels map column; `__tenant_id__` is the
    literal `tenant` when given (multi-tenant queries)."""
    ors: list[exp.Expression] = []
    for matchers in selectors:
        conds: list[exp.Expression] = []
        for m in matchers:
            if m.name == TENANT_LABEL and tenant is not None:
                value: exp.Expression = exp.Literal.string(tenant)
            else:
                value = exp.Coalesce(
                    this=exp.Bracket(
                        this=exp.column(labels), expressions=[exp.Literal.string(m.name)]
                    ),
                    expressions=[exp.Literal.string("")],
                )
            conds.append(string_match(value, m.op, m.value))
        ors.append(exp.and_(*conds) if conds else exp.true())
    return exp.or_(*ors) if ors else exp.true()


def bind_logs(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    tenants: Sequence[str],
    selectors: Sequence[Sequence[ast.Matcher]],
    lo: int,
    hi: int,
    name: str = "logs",
    oldest_first: bool = False,
    streams: str = STREAMS,
) -> Plan:
    """Create the view `name` over the tenants' entries with `lo < ts <= hi` that the
    selectors can match, and the relation `streams` of their streams (single-tenant
    queries); returns what it will read.

    Chunks are listed newest first (`oldest_first`: oldest first), the order in which a
    backward (forward) log query wants them: its top-N filter then skips most row groups.
    """
    plan = Plan(selected=True, metadata=False)
    multi = len(tenants) > 1
    parts: list[exp.Query] = []
    for tenant in tenants:
        snapshot = take_snapshot(store, tenant, lo, hi)
        predicate = matcher_predicate(selectors, tenant if multi else None)
        refs = snapshot.chunk_refs(lo, hi)
        keys, chunk_streams, chunks_selected = _chunk_keys(
            con, refs, predicate, selectors, tenant if multi else None, lo, hi, plan, oldest_first
        )
        landing = _filter(con, snapshot.landing, predicate)
        if plan.selected:
            plan.selected = chunks_selected and _all_selected(
                con, landing, selectors, tenant if multi else None
            )
        plan.metadata = plan.metadata or snapshot.metadata_in(keys) or _has_metadata(landing)
        if not multi:
            _register_streams(con, streams, chunk_streams, landing, plan)
        plan.landing_lines += landing.num_rows
        if landing.num_rows:
            plan.landing_bytes += int(pc.sum(pc.binary_length(landing.column("line"))).as_py())
        snapshot = dataclasses.replace(snapshot, landing=landing)
        query = duck.logs_query(con, store, snapshot, keys)
        if multi:
            query = _with_tenant_label(query, tenant)
        parts.append(query)
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    view = exp.Create(  # temporary: the connection's own, when its database is shared
        this=exp.to_table(name),
        kind="VIEW",
        replace=True,
        expression=union,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )
    con.execute(view.sql(dialect="duckdb"))
    return plan


def _chunk_keys(
    con: duckdb.DuckDBPyConnection,
    refs: pa.Table,
    predicate: exp.Expression,
    selectors: Sequence[Sequence[ast.Matcher]],
    tenant: str | None,
    lo: int,
    hi: int,
    plan: Plan,
    oldest_first: bool,
) -> tuple[list[str], pa.Table, bool]:
    """The chunks to read, in reading order; their matching streams (`fingerprint,
    labels`); and whether each selector matches every stream those chunks hold in
    `(lo, hi]` (see `_all_selected`).

    One pass of the engine over the references in range evaluates the predicate and each
    selector; the rest is array work (a query costs milliseconds of fixed overhead)."""
    if refs.num_rows == 0:
        return [], STREAMS_SCHEMA.empty_table(), True
    name = f"_refs_{next(_counter)}"
    con.register(name, refs)
    try:
        in_range = exp.and_(
            exp.GT(this=exp.column("max_ts"), expression=exp.Literal.number(lo)),
            exp.LTE(this=exp.column("min_ts"), expression=exp.Literal.number(hi)),
        )
        order = (
            exp.Ordered(this=exp.column("min_ts"))
            if oldest_first
            else exp.Ordered(this=exp.column("max_ts"), desc=True)
        )
        flags = [
            exp.alias_(matcher_predicate([m], tenant), f"_s{i}") for i, m in enumerate(selectors)
        ]
        query = (
            exp.select(
                "chunk",
                "fingerprint",
                "rows",
                "bytes",
                "labels",
                exp.alias_(exp.func("coalesce", predicate.copy(), exp.false()), "_picked"),
                *flags,
            )
            .from_(name)
            .where(in_range)
            .order_by(order)
        )
        found = con.sql(query.sql(dialect="duckdb")).to_arrow_table()
    finally:
        con.unregister(name)
    picked = found.filter(found.column("_picked"))
    keys = list(dict.fromkeys(picked.column("chunk").to_pylist()))
    fingerprints = picked.column("fingerprint").to_numpy()
    _, first = np.unique(fingerprints, return_index=True)
    plan.chunks += len(keys)
    plan.streams += len(first)
    plan.chunk_lines += int(pc.sum(picked.column("rows")).as_py() or 0)
    plan.chunk_bytes += int(pc.sum(picked.column("bytes")).as_py() or 0)
    streams = picked.select(["fingerprint", "labels"]).take(np.sort(first))
    chosen = pa.array(keys, found.column("chunk").type)
    read = found.filter(pc.is_in(found.column("chunk"), value_set=chosen))
    selected = all(
        pc.all(read.column(f"_s{i}")).as_py() is not False for i in range(len(selectors))
    )
    return keys, streams.cast(STREAMS_SCHEMA), selected


def _all_selected(
    con: duckdb.DuckDBPyConnection,
    landing: pa.Table,
    selectors: Sequence[Sequence[ast.Matcher]],
    tenant: str | None,
) -> bool:
    """Whether each selector matches every stream of the (already filtered) landing rows.

    With the chunks' answer (`_chunk_keys`: every stream the chosen chunks hold in
    `(lo, hi]`), this says whether each selector matches every stream a query of `logs`
    sees, whatever its pipeline (an entry outside the range is never read)."""
    if not selectors or landing.num_rows == 0:
        return True
    every = [
        exp.func("bool_and", matcher_predicate([m], tenant)).as_(f"s{i}")
        for i, m in enumerate(selectors)
    ]
    name = f"_selected_{next(_counter)}"
    con.register(name, landing)
    try:
        row = con.execute(exp.select(*every).from_(name).sql(dialect="duckdb")).fetchall()[0]
    finally:
        con.unregister(name)
    return all(v is None or v for v in row)


def _has_metadata(table: pa.Table) -> bool:
    """Whether any row of an entry table has structured metadata."""
    if table.num_rows == 0:
        return False
    maps = table.column("structured_metadata").chunks
    return any(m.offsets[-1].as_py() > m.offsets[0].as_py() for m in maps)


def _register_streams(
    con: duckdb.DuckDBPyConnection,
    name: str,
    chunk_streams: pa.Table,
    landing: pa.Table,
    plan: Plan,
) -> None:
    """Register `name`: the distinct streams of the chosen chunks and landing rows."""
    tables = [chunk_streams]
    if landing.num_rows:
        tables.append(landing.select(["fingerprint", "labels"]).cast(STREAMS_SCHEMA))
    both = pa.concat_tables(tables)
    if len(tables) > 1:
        both_name = f"_streams_in_{next(_counter)}"
        con.register(both_name, both)
        try:
            distinct = exp.select("fingerprint", "labels").distinct().from_(both_name)
            both = con.sql(distinct.sql(dialect="duckdb")).to_arrow_table()
        finally:
            con.unregister(both_name)
    fingerprints = both.column("fingerprint")
    plan.streams_unique = pc.count_distinct(fingerprints).as_py() == len(fingerprints)
    names = pc.unique(both.column("labels").combine_chunks().keys)
    plan.stream_labels = frozenset(names.to_pylist())
    con.register(name, both.cast(STREAMS_SCHEMA))


def _filter(con: duckdb.DuckDBPyConnection, table: pa.Table, predicate: exp.Expression) -> pa.Table:
    """The rows of an entry table whose labels the predicate accepts."""
    if table.num_rows == 0:
        return table
    name = f"_landing_in_{next(_counter)}"
    con.register(name, table)
    try:
        query = exp.select("*").from_(name).where(predicate.copy())
        return con.sql(query.sql(dialect="duckdb")).to_arrow_table().cast(table.schema)
    finally:
        con.unregister(name)


def _with_tenant_label(query: exp.Query, tenant: str) -> exp.Query:
    """The tenant's rows with `__tenant_id__` added to their labels."""
    tenant_map = exp.Anonymous(
        this="map_from_entries",
        expressions=[
            exp.Array(
                expressions=[
                    exp.Struct(
                        expressions=[
                            exp.PropertyEQ(
                                this=exp.to_identifier("k"),
                                expression=exp.Literal.string(TENANT_LABEL),
                            ),
                            exp.PropertyEQ(
                                this=exp.to_identifier("v"), expression=exp.Literal.string(tenant)
                            ),
                        ]
                    )
                ]
            )
        ],
    )
    labels = exp.Anonymous(this="map_concat", expressions=[exp.column("labels"), tenant_map])
    columns = [
        exp.column(c) if c != "labels" else exp.alias_(labels, "labels") for c in duck.LOGS_COLUMNS
    ]
    return exp.select(*columns).from_(exp.alias_(exp.paren(query), "t", table=True))
