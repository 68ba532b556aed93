"""SQL over the PostgreSQL wire protocol, read-only and scoped to one tenant.

Main interface: `PgServer(lake, tenant, (host, port), users)`, with `serve_forever()`,
`serve_in_thread()`, `address` and `close()`. The protocol is buenavista's
(`buenavista.postgres.BuenaVistaServer`: startup, MD5 password authentication, simple and
extended query protocol); loglake provides the database behind it:

- `LiveTenantDatabase`: the tenant's `logs` (a pinned snapshot) and every built model as
  views in an in-memory DuckDB, created *before* the connection is locked down with
  `allowed_paths` = exactly the lake files the views read, `enable_external_access = false`
  and `lock_configuration = true` (no other file, no extension, no setting can be reached
  afterwards). A locked database cannot gain views or paths, so when the lake moves (a
  flush publishes a manifest version, a push lands an object, a model gains a partition) a
  new one is built from the latest snapshot and replaces it; the old one is closed once no
  session uses it;
- every statement outside a transaction runs on the latest published state (one listing of
  the tenant's manifests, landing objects and model partitions tells whether it moved); a
  transaction (`BEGIN` … `COMMIT`) sees the state of its `BEGIN` throughout, as a
  repeatable-read Postgres transaction would;
- every statement is parsed with sqlglot and only queries (SELECT/WITH/VALUES, DESCRIBE,
  SHOW) and transaction control run; anything else is refused, `SET` is accepted and
  ignored (BI drivers send `SET extra_float_digits` and the like);
- clients authenticate with the `users` map (user → password); there is no anonymous
  access.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb
import sqlglot
import sqlglot.expressions as exp
from buenavista import bv_dialects, postgres, rewrite
from buenavista.backends.duckdb import DuckDBQueryResult
from buenavista.core import Connection, QueryResult, Session

from loglake.export import persist_logs
from loglake.ingest.labels import validate_tenant_id
from loglake.lake import Lake
from loglake.models import model_files
from loglake.models.build import built_models
from loglake.query.sqlapi import locked_connection
from storage import layout

_ALLOWED = (exp.Query, exp.Describe, exp.Show, exp.Transaction, exp.Commit, exp.Rollback)


class ReadOnlyError(Exception):
    """A statement other than a query was sent."""


def statement_kind(sql: str) -> str:
    """What a client's text is: `query`, `set`, `begin`, `commit` or `rollback`; anything
    that could change state raises `ReadOnlyError`.

    >>> statement_kind("SELECT 1; SELECT 2")
    'query'
    >>> statement_kind("COPY logs TO 'x.csv'")
    Traceback (most recent call last):
    ...
    loglake.export.pgwire.ReadOnlyError: read-only endpoint: COPY statements are not allowed
    """
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as err:
        raise ReadOnlyError(f"cannot check statement: {err}") from None
    if not statements or all(isinstance(s, exp.Set) for s in statements):
        return "set"
    for statement in statements:
        if not isinstance(statement, _ALLOWED):
            kind = statement.key.upper()
            if isinstance(statement, exp.Command):
                kind = str(statement.this).upper()
            raise ReadOnlyError(f"read-only endpoint: {kind} statements are not allowed")
    if len(statements) == 1 and isinstance(statements[0], exp.Transaction):
        return "begin"
    if len(statements) == 1 and isinstance(statements[0], exp.Commit):
        return "commit"
    if len(statements) == 1 and isinstance(statements[0], exp.Rollback):
        return "rollback"
    if any(isinstance(s, exp.Transaction | exp.Commit | exp.Rollback) for s in statements):
        raise ReadOnlyError("read-only endpoint: send transaction control on its own")
    return "query"


def lake_state(lake: Lake, tenant: str) -> tuple[tuple[str, ...], ...]:
    """What the tenant's database is built from, as object keys: the manifest versions,
    the landing objects and the built model partitions.

    Published objects are immutable (a model partition is replaced whole, under the same
    key, and its view reads it at query time), so the database is current exactly while
    these keys are unchanged.
    """
    store = lake.store
    models = tuple(key for name in built_models(store) for key in model_files(store, name, tenant))
    return (
        tuple(o.key for o in store.list(layout.manifest_prefix(tenant))),
        tuple(o.key for o in store.list(layout.landing_prefix(tenant))),
        models,
    )


def tenant_database(lake: Lake, tenant: str) -> duckdb.DuckDBPyConnection:
    """The tenant's `logs` (persisted, see `persist_logs`) and models in an in-memory
    DuckDB, locked down as the SQL endpoint's connections are."""
    validate_tenant_id(tenant)
    return locked_connection(lake, tenant, register=persist_logs, memory_limit=None)


@dataclass(eq=False)
class Generation:
    """One locked database of the tenant, built from the lake state `state`."""

    state: tuple[tuple[str, ...], ...]
    db: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False


class LiveTenantDatabase:
    """The tenant's latest published lake state as a locked-down DuckDB (see the module
    docstring). Sessions hold a `Generation` through `refresh` and give it back with
    `release`; thread-safe (buenavista serves each client from its own thread)."""

    def __init__(self, lake: Lake, tenant: str) -> None:
        validate_tenant_id(tenant)
        self.lake = lake
        self.tenant = tenant
        self.rebuilds = 0
        self._lock = threading.Lock()
        self._open: set[Generation] = set()
        self._current = self._build(lake_state(lake, tenant))

    def _build(self, state: tuple[tuple[str, ...], ...]) -> Generation:
        self.rebuilds += 1
        generation = Generation(state, tenant_database(self.lake, self.tenant))
        self._open.add(generation)
        return generation

    def generations_open(self) -> int:
        """How many databases are open: the current one plus those sessions still hold."""
        with self._lock:
            return len(self._open)

    def refresh(self, held: Generation | None) -> Generation:
        """The generation for the latest lake state; `held` (the caller's current one, if
        any) is released when a newer one is handed out instead."""
        state = lake_state(self.lake, self.tenant)
        with self._lock:
            if state != self._current.state:
                old, self._current = self._current, self._build(state)
                old.retired = True
                self._close_if_unused(old)
            fresh = self._current
            if fresh is not held:
                fresh.users += 1
                if held is not None:
                    held.users -= 1
                    self._close_if_unused(held)
            return fresh

    def release(self, held: Generation) -> None:
        """A session is done with `held`."""
        with self._lock:
            held.users -= 1
            self._close_if_unused(held)

    def close(self) -> None:
        """Close every database (sessions still open fail their next statement)."""
        with self._lock:
            for generation in self._open:
                generation.db.close()
            self._open.clear()

    def _close_if_unused(self, generation: Generation) -> None:
        if generation.retired and generation.users == 0 and generation in self._open:
            generation.db.close()
            self._open.discard(generation)


class _ReadOnlySession(Session):
    """A buenavista session that runs only queries, each on the latest lake state (or, in
    a transaction, on the state of its `BEGIN`).

    Transaction control is acknowledged without touching DuckDB (nothing can be written);
    `SET` is acknowledged and ignored.
    """

    def __init__(self, live: LiveTenantDatabase) -> None:
        super().__init__()
        self._live = live
        self._generation: Generation | None = None
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self.in_txn = False

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the latest database (the pinned one inside a transaction)."""
        if self._cursor is None or not self.in_txn:
            generation = self._live.refresh(self._generation)
            if generation is not self._generation or self._cursor is None:
                if self._cursor is not None:
                    self._cursor.close()
                self._generation, self._cursor = generation, generation.db.cursor()
        return self._cursor

    def in_transaction(self) -> bool:
        return self.in_txn

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
        if self._generation is not None:
            self._live.release(self._generation)
        self._cursor = self._generation = None

    def execute_sql(self, sql: str, params=None) -> QueryResult:
        kind = statement_kind(sql)
        if kind == "begin":
            self.in_txn = False
            self.cursor()  # pin the latest state for the whole transaction
            self.in_txn = True
            return DuckDBQueryResult(status="BEGIN")
        if kind in ("commit", "rollback"):
            self.in_txn = False
            return DuckDBQueryResult(status=kind.upper())
        if kind == "set":
            return DuckDBQueryResult(status="SET")
        relation = self.cursor().sql(sql, params=list(params) if params else None)
        if relation is None:
            return DuckDBQueryResult(status="SELECT 0")
        return DuckDBQueryResult(relation.to_arrow_reader())


class _TenantConnection(Connection):
    """Sessions over the tenant's live database."""

    def __init__(self, live: LiveTenantDatabase) -> None:
        super().__init__()
        self.live = live

    def parameters(self) -> dict[str, str]:
        return {"server_version": "14.0 (loglake)", "client_encoding": "UTF8", "DateStyle": "ISO"}

    def new_session(self) -> Session:
        return _ReadOnlySession(self.live)


class _Server(postgres.BuenaVistaServer):
    """buenavista's server without its localhost-only guard: clients authenticate instead."""

    def verify_request(self, request, client_address) -> bool:
        return True


class PgServer:
    """A PostgreSQL-protocol endpoint over one tenant's logs and models."""

    def __init__(
        self, lake: Lake, tenant: str, address: tuple[str, int], users: dict[str, str]
    ) -> None:
        if not users or not all(users.values()):
            raise ValueError("pg-serve needs at least one user with a non-empty password")
        self.live = LiveTenantDatabase(lake, tenant)
        rewriter = rewrite.Rewriter(bv_dialects.BVPostgres(), bv_dialects.BVDuckDB())
        self._server = _Server(
            address, _TenantConnection(self.live), rewriter=rewriter, auth=dict(users)
        )
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); port 0 asks the OS for a free one."""
        host, port = self._server.server_address[:2]
        return host, port

    def serve_forever(self) -> None:
        """Serve until `close()` (or Ctrl-C)."""
        self._server.serve_forever()

    def serve_in_thread(self) -> PgServer:
        """Serve from a daemon thread (tests, `loglake demo`)."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the database."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self.live.close()
