"""DuckDB over the lake: connections that never download extensions (`connect`: a database
of its own; `query_connection`: a connection of the process's shared one), and the `logs`
view.

`register_logs` binds a pinned `Snapshot` as a relation with the columns
(tenant, labels, fingerprint, ts, line, structured_metadata): the snapshot's chunk files
read with `read_parquet` plus its landing rows, with identical (stream, ts, line) entries
returned once, and without the lines the snapshot's delete requests select
(`Snapshot.deletes`). The SQL is built as sqlglot expressions; paths and the tenant id
enter it only as literals.

Query-time deletion works as Loki's `log.NewFilteringPipeline`: an entry is left out when
its stream matches a request's selector, its timestamp lies in the request's inclusive
`[start, end]` and its line passes the request's line filters. Each request's query is
compiled by `logql2sql` over the raw entries, so the selector and filters mean exactly
what they mean in a LogQL query, and the entries it returns are anti-joined away on
(fingerprint, ts, line) — the key that identifies an entry. Every reader of the `logs`
relation (LogQL, `/api/v1/sql`, `loglake sql`, exports, models) sees the same result.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import itertools
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.expressions as exp

import logql2sql
from storage.delete_requests import DeleteRequest
from storage.objectstore import ObjectStore
from storage.overlaps import Overlaps, repeated
from storage.selection import labels_mask
from storage.snapshot import Snapshot

ENTRY_COLUMNS = ("fingerprint", "ts", "line", "labels", "structured_metadata")
LOGS_COLUMNS = ("tenant", "labels", "fingerprint", "ts", "line", "structured_metadata")

_counter = itertools.count()
_NS_PER_MS = 1_000_000
_NO_LIMIT = 2**62
_ENTRIES = "_snapshot_entries"


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


_shared_lock = threading.Lock()
_shared: dict[tuple[int, int | None], tuple[duckdb.DuckDBPyConnection, object]] = {}
_cursors: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
"""The shared databases' connections still open somewhere (`query_connection`)."""
_EXIT_WAIT_S = 10.0
_EXIT_SETTLE_S = 0.2
_exiting = False


def _forget_shared() -> None:
    """In a forked child: start without the parent's databases, and never release them.

    Their engine threads do not exist in the child and their locks may be held, so closing
    or freeing them there crashes the child: a `Popen` with a `preexec_fn` runs this hook
    before it execs (a segmentation fault), and a child that exits through the interpreter
    frees what modules hold (an abort). The parent's table gets one more reference, which
    nothing ever drops; the child's own queries open a database of their own.
    """
    global _shared, _shared_lock, _cursors
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_shared))
    _shared = {}
    _shared_lock = threading.Lock()  # another thread of the parent may have held it
    _cursors = weakref.WeakSet()  # the parent's: nothing in the child runs on them


def _close_shared() -> None:
    """Close the shared databases and their connections at exit, interrupting the queries
    still running on them.

    A query left running in a daemon thread (a request's worker thread when a server
    stops, a caller's own thread) would otherwise still be inside DuckDB once the
    interpreter tears down; when it calls back into Python its thread is unwound through
    DuckDB's frames, which aborts the process ("FATAL: exception not rethrown"). A
    connection that is busy refuses to close: its query is interrupted, raises in its own
    thread and returns to Python while this waits (up to `_EXIT_WAIT_S`) with the
    interpreter lock released. A closed connection fails any later call, and no new shared
    connection is handed out."""
    global _exiting
    with _shared_lock:
        _exiting = True
        open_ = [*_cursors, *(con for con, _ in _shared.values())]
        _shared.clear()
    # Another thread may be inside a call that has let go of the interpreter lock: it finds
    # its connection closed (or its query interrupted) and must take the lock back before
    # the interpreter is torn down, so this waits a moment when other threads exist.
    settle = bool(open_) and threading.active_count() > 1
    deadline = time.monotonic() + _EXIT_WAIT_S
    while open_:
        busy = []
        for con in open_:
            try:
                con.close()
            except duckdb.ResourceInUseException:  # a call of it has not returned yet
                with contextlib.suppress(duckdb.Error):
                    con.interrupt()
                busy.append(con)
        open_ = busy
        if open_ and time.monotonic() < deadline:
            time.sleep(0.01)
        elif open_:
            break
    if settle:
        time.sleep(_EXIT_SETTLE_S)


os.register_at_fork(after_in_child=_forget_shared)
atexit.register(_close_shared)  # closed before the interpreter tears the engine down


def query_connection(
    store: ObjectStore | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection of this process's shared in-memory database (one per S3 filesystem and
    thread count), as `connect` configures one: close it when done.

    Opening a database costs about 20 ms of CPU, as much as a small query; a connection of
    an open one costs microseconds. What a query path creates stays its own: registered
    Arrow tables and temporary views belong to the connection (`bind_logs` makes `logs` a
    temporary view), so queries running at once never see each other's relations. Paths
    that lock the engine down (`/api/v1/sql`) or set database-wide options use `connect`.
    """
    fs = store.fs if store is not None and store.is_s3 else None
    key = (id(fs), threads)
    with _shared_lock:
        if _exiting:
            raise duckdb.ConnectionException("the process is exiting: no new query starts")
        entry = _shared.get(key)
        if entry is None:  # the filesystem is kept with it, so that its id keys nothing else
            entry = _shared[key] = (connect(store if fs is not None else None, threads), fs)
        con = entry[0].cursor()
        _cursors.add(con)
    con.execute("SET enable_progress_bar = false")
    return con


Bind = Callable[[str, pa.Table], str]
"""How a query reads an Arrow table: `bind(kind, table)` makes the table readable under a
name it returns; `kind` (`landing`, `dup_streams`) says what the table holds."""


def arrow_binder(con: duckdb.DuckDBPyConnection) -> Bind:
    """Binds tables as Arrow registrations of `con`, under fresh names."""

    def bind(kind: str, table: pa.Table) -> str:
        name = f"_{kind}_{next(_counter)}"
        con.register(name, table)
        return name

    return bind


def entries_relation(
    store: ObjectStore,
    snapshot: Snapshot,
    chunk_keys: list[str],
    landing: str,
    with_landing: bool = True,
) -> exp.Query:
    """A query over the snapshot's raw entries (chunks + landing), not yet deduplicated.

    `chunk_keys` are the chunks read (the executor passes the ones its streams and time
    range need); `landing` names the bound landing rows, read unless `with_landing` is
    false (then `chunk_keys` must not be empty). When the manifest records that none of
    the chunks has structured metadata, the column is an empty map: the chunks' metadata
    column is then never read.
    """
    columns = [exp.column(c) for c in ENTRY_COLUMNS]
    parts: list[exp.Query] = []
    if chunk_keys:
        files = [exp.Literal.string(store.duckdb_path(k)) for k in chunk_keys]
        scan = exp.Anonymous(this="read_parquet", expressions=[exp.Array(expressions=files)])
        read = columns
        if not snapshot.metadata_in(chunk_keys):
            empty = exp.cast(exp.Anonymous(this="MAP"), "MAP(TEXT, TEXT)")
            read = [*columns[:-1], exp.alias_(empty, "structured_metadata")]
        parts.append(exp.select(*read).from_(exp.Table(this=scan)))
    if with_landing and (snapshot.landing.num_rows or not parts):
        # an empty landing still gives the columns
        parts.append(exp.select(*columns).from_(exp.to_identifier(landing)))
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False)
    return query


@functools.lru_cache(maxsize=1024)
def _selected_by(query: str, start_ms: int, end_ms: int) -> exp.Query:
    """A request's query compiled over `_ENTRIES`: every entry it selects, unordered.
    Cached: a request is compiled once per process, not once per query it filters."""
    compiled = logql2sql.compile(
        query,
        start=start_ms * _NS_PER_MS,
        end=end_ms * _NS_PER_MS + 1,  # log queries read [start, end); Loki's end is inclusive
        limit=_NO_LIMIT,
        direction="forward",
        source=_ENTRIES,
    )
    selected = compiled.expression.copy()
    selected.set("order", None)  # a set, not a page of results
    selected.set("limit", None)
    return selected


def deleted_entries(requests: tuple[DeleteRequest, ...]) -> exp.Query:
    """(fingerprint, ts, line) of every entry of relation `_ENTRIES` a request selects."""
    parts: list[exp.Query] = [
        exp.select("fingerprint", "ts", "line").from_(
            exp.alias_(
                exp.paren(_selected_by(r.query, r.start_ms, r.end_ms).copy()), f"d{n}", table=True
            )
        )
        for n, r in enumerate(requests)
    ]
    query = parts[0]
    for part in parts[1:]:
        query = exp.union(query, part, distinct=False, copy=False)
    return query


def delete_candidates(snapshot: Snapshot) -> exp.Expression:
    """A predicate true for every entry a delete request of the snapshot could select:
    streams matching a request's selector, within the requests' overall time range. The
    other entries skip the anti-join, and chunks sorted by fingerprint prune row groups."""
    refs = snapshot.chunk_refs().select(["fingerprint", "labels"])
    streams = pa.concat_tables(
        [refs, snapshot.landing.select(["fingerprint", "labels"]).cast(refs.schema)]
    )
    fingerprints: set[int] = set()
    for request in snapshot.deletes:
        hit = labels_mask(streams.column("labels"), request.matchers)
        fingerprints.update(streams.column("fingerprint").filter(hit).to_pylist())
    first = min(r.start_ms for r in snapshot.deletes) * _NS_PER_MS
    last = max(r.end_ms for r in snapshot.deletes) * _NS_PER_MS
    return exp.and_(
        exp.column("fingerprint").isin(*(exp.Literal.number(f) for f in sorted(fingerprints))),
        exp.column("ts").between(exp.Literal.number(first), exp.Literal.number(last)),
    )


def without_deleted(
    raw: exp.Query, snapshot: Snapshot, candidate: exp.Expression | None = None
) -> exp.Query:
    """`raw` (a query over the snapshot with the entry columns) minus the entries its
    delete requests select. `candidate` is the snapshot's `delete_candidates`, passed by a
    caller that filters several relations of one snapshot (computed here when absent)."""
    if not snapshot.deletes:
        return raw
    # fixed names: a WITH inside each tenant's subquery scopes them
    entries, deleted = _ENTRIES, "_deleted_entries"
    columns = [exp.column(c) for c in ENTRY_COLUMNS]
    candidate = delete_candidates(snapshot) if candidate is None else candidate.copy()
    same_entry = exp.and_(
        *(
            exp.column(c, table=deleted).eq(exp.column(c, table=entries))
            for c in ("fingerprint", "ts", "line")
        )
    )
    gone = exp.Exists(this=exp.select("1").from_(deleted).where(same_entry, copy=False))
    untouched = exp.select(*columns).from_(entries).where(exp.not_(candidate), copy=False)
    survivors = (
        exp.select(*(c.copy() for c in columns))
        .from_(entries)
        .where(exp.and_(candidate.copy(), exp.not_(gone), copy=False), copy=False)
    )
    # inlined, not materialized: each part reads only the columns and rows it needs
    # (copy=False: the parts are built here, and copying a long IN list costs)
    return (
        exp.union(untouched, survivors, distinct=False, copy=False)
        .with_(entries, as_=raw, materialized=False, copy=False)
        .with_(deleted, as_=deleted_entries(snapshot.deletes), materialized=False, copy=False)
    )


def logs_query(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    snapshot: Snapshot,
    chunk_keys: list[str] | None = None,
    bind: Bind | None = None,
) -> exp.Query:
    """The `logs` relation of a snapshot as a query: tenant column, deduplicated entries,
    deleted lines left out.

    `chunk_keys` narrows the chunks read (default: all of the snapshot's). The landing
    rows and the list of overlapping streams are bound with `bind` (default: Arrow
    registrations of `con`), once each.

    Entries where the snapshot's sources overlap (`Snapshot.overlaps`, narrowed by
    `repeated_keys` to the keys that occur twice) are read once more, from the chunks that
    hold them and landing, and deduplicated. The other entries of those
    sources are read once, past a filter that leaves the overlapping ones out; the entries
    of every other chunk (most of them: overlaps are a second at a flush boundary) are read
    as they are, with no filter to evaluate per row.
    """
    keys = snapshot.chunk_keys() if chunk_keys is None else chunk_keys
    bind = bind or arrow_binder(con)
    landing = bind("landing", snapshot.landing)
    tenant = exp.alias_(exp.Literal.string(snapshot.tenant), "tenant")
    out_columns = [tenant, *(exp.column(c) for c in LOGS_COLUMNS[1:])]
    overlaps = repeated_keys(con, store, snapshot, snapshot.overlaps(), keys)
    if not overlaps:
        raw = without_deleted(entries_relation(store, snapshot, keys, landing), snapshot)
        return exp.select(*out_columns).from_(
            exp.alias_(exp.paren(raw, copy=False), "raw", table=True, copy=False), copy=False
        )
    involved = overlaps.chunks(snapshot.chunk_refs())
    candidate = delete_candidates(snapshot) if snapshot.deletes else None
    overlapping = without_deleted(
        entries_relation(store, snapshot, [k for k in keys if k in involved], landing),
        snapshot,
        candidate,
    )
    dup_name = bind("dup_streams", pa.table({"fingerprint": overlaps.fingerprints}))
    ts = exp.column("ts")
    maybe_twice = exp.and_(
        exp.column("fingerprint").isin(
            query=exp.select("fingerprint").from_(exp.to_identifier(dup_name))
        ),
        exp.or_(
            *(
                ts.between(exp.Literal.number(lo), exp.Literal.number(hi))
                for lo, hi in overlaps.spans
            )
        ),
    )
    parts: list[exp.Query] = []
    clean_keys = [k for k in keys if k not in involved]
    if clean_keys:
        clean = without_deleted(
            entries_relation(store, snapshot, clean_keys, landing, with_landing=False),
            snapshot,
            candidate,
        )
        parts.append(
            exp.select(*(c.copy() for c in out_columns)).from_(
                exp.alias_(exp.paren(clean, copy=False), "clean", table=True, copy=False),
                copy=False,
            )
        )
    parts.append(
        exp.select(*(c.copy() for c in out_columns))
        .from_("overlapping")
        .where(exp.not_(maybe_twice), copy=False)
    )
    parts.append(
        exp.select(*(c.copy() for c in out_columns))
        .from_("overlapping")
        .where(maybe_twice.copy(), copy=False)
        .distinct(exp.column("fingerprint"), exp.column("ts"), exp.column("line"))
    )
    union = exp.union(*parts, distinct=False, copy=False)
    # `overlapping` inlined, not materialized: a materialized CTE would hold every entry
    # it reads, lines included, in memory.
    return union.with_("overlapping", as_=overlapping, materialized=False, copy=False)


SCAN_LIMIT_ROWS = 4_000_000
"""Above this many entries of overlapping streams in the chunks read, `repeated_keys`
keeps the overlaps as they are rather than count their keys."""

_CACHE_SIZE = 64
_key_counts: OrderedDict[tuple, pa.Table] = OrderedDict()
_key_counts_lock = threading.Lock()


def repeated_keys(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    snapshot: Snapshot,
    overlaps: Overlaps,
    keys: list[str],
) -> Overlaps:
    """`overlaps` narrowed to the (stream, ts) keys that occur more than once in the chunks
    `keys` and the landing rows (`storage.overlaps.repeated`): empty when no entry can be
    read twice, which spares the read its deduplication.

    The counts of a set of chunks are cached (chunks never change once written), so the
    queries of one manifest version count them once."""
    if not overlaps:
        return overlaps
    refs = snapshot.chunk_refs()
    involved = overlaps.chunks(refs)
    read = sorted(k for k in keys if k in involved)
    if read:
        streams = refs.filter(pc.is_in(refs.column("chunk"), pa.array(read, pa.string())))
        streams = streams.filter(pc.is_in(streams.column("fingerprint"), overlaps.fingerprints))
        if pc.sum(streams.column("rows")).as_py() > SCAN_LIMIT_ROWS:
            return overlaps
    counts = [_chunk_key_counts(con, tuple(store.duckdb_path(k) for k in read), overlaps)]
    landing = snapshot.landing
    if landing.num_rows:
        fingerprint, ts = landing.column("fingerprint"), landing.column("ts")
        inside = landing.filter(overlaps.contains(fingerprint, ts))
        ones = pa.array(np.ones(inside.num_rows, dtype=np.int64))
        counts.append(
            pa.table(
                {"fingerprint": inside.column("fingerprint"), "ts": inside.column("ts"), "n": ones}
            )
        )
    return repeated(pa.concat_tables(counts, promote_options="permissive"))


def _chunk_key_counts(
    con: duckdb.DuckDBPyConnection, paths: tuple[str, ...], overlaps: Overlaps
) -> pa.Table:
    """(fingerprint, ts, n) of the chunks' entries in `overlaps` (cached)."""
    if not paths:
        return pa.table(
            {
                "fingerprint": pa.array([], pa.int64()),
                "ts": pa.array([], pa.int64()),
                "n": pa.array([], pa.int64()),
            }
        )
    cache_key = (paths, tuple(overlaps.fingerprints.to_pylist()), overlaps.spans)
    with _key_counts_lock:
        if cache_key in _key_counts:
            _key_counts.move_to_end(cache_key)
            return _key_counts[cache_key]
    files = exp.Array(expressions=[exp.Literal.string(p) for p in paths])
    ts = exp.column("ts")
    in_span = exp.or_(
        *(ts.between(exp.Literal.number(lo), exp.Literal.number(hi)) for lo, hi in overlaps.spans)
    )
    fingerprints = [exp.Literal.number(f) for f in cache_key[1]]
    query = (
        exp.select("fingerprint", "ts", exp.alias_(exp.Count(this=exp.Star()), "n"))
        .from_(exp.Table(this=exp.Anonymous(this="read_parquet", expressions=[files])))
        .where(exp.and_(exp.column("fingerprint").isin(*fingerprints), in_span))
        .group_by("fingerprint", "ts")
    )
    counts = con.sql(query.sql(dialect="duckdb")).to_arrow_table()
    with _key_counts_lock:
        _key_counts[cache_key] = counts
        while len(_key_counts) > _CACHE_SIZE:
            _key_counts.popitem(last=False)
    return counts


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
