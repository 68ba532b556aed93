"""SQL over the PostgreSQL wire protocol, read-only and scoped to one tenant.

Main interface: `PgServer(lake, tenant, (host, port), users)`, with `serve_forever()`,
`serve_in_thread()`, `address` and `close()`. The protocol is buenavista's
(`buenavista.postgres.BuenaVistaServer`: startup, MD5 password authentication, simple and
extended query protocol); loglake provides the database behind it:

- one in-memory DuckDB per server holding the tenant's `logs` (a snapshot pinned at start:
  restart to see newer data) and every built model as views, created *before* the
  connection is locked down with `allowed_paths` = exactly the lake files the views read,
  `enable_external_access = false` and `lock_configuration = true` (no other file, no
  extension, no setting can be reached afterwards);
- every statement is parsed with sqlglot and only queries (SELECT/WITH/VALUES, DESCRIBE,
  SHOW) and transaction control run; anything else is refused, `SET` is accepted and
  ignored (BI drivers send `SET extra_float_digits` and the like);
- clients authenticate with the `users` map (user → password); there is no anonymous
  access.
"""

from __future__ import annotations

import threading

import duckdb
import sqlglot
import sqlglot.expressions as exp
from buenavista import bv_dialects, postgres, rewrite
from buenavista.backends.duckdb import DuckDBConnection, DuckDBQueryResult, DuckDBSession
from buenavista.core import QueryResult, Session

from loglake.export import persist_logs
from loglake.ingest.labels import validate_tenant_id
from loglake.lake import Lake
from loglake.models import model_files, register_models
from storage import duck
from storage.snapshot import take_snapshot

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


class _ReadOnlySession(DuckDBSession):
    """A buenavista session over a cursor of the tenant's database that runs only queries.

    Transaction control is acknowledged without touching DuckDB (nothing can be written);
    `SET` is acknowledged and ignored.
    """

    def execute_sql(self, sql: str, params=None) -> QueryResult:
        kind = statement_kind(sql)
        if kind == "begin":
            self.in_txn = True
            return DuckDBQueryResult(status="BEGIN")
        if kind in ("commit", "rollback"):
            self.in_txn = False
            return DuckDBQueryResult(status=kind.upper())
        if kind == "set":
            return DuckDBQueryResult(status="SET")
        relation = self._cursor.sql(sql, params=list(params) if params else None)
        if relation is None:
            return DuckDBQueryResult(status="SELECT 0")
        return DuckDBQueryResult(relation.to_arrow_reader())


class _TenantConnection(DuckDBConnection):
    """Sessions are cursors of the tenant's locked-down DuckDB."""

    def parameters(self) -> dict[str, str]:
        return {**super().parameters(), "server_version": "14.0 (loglake)"}

    def new_session(self) -> Session:
        return _ReadOnlySession(self.db.cursor())


def tenant_database(lake: Lake, tenant: str) -> duckdb.DuckDBPyConnection:
    """The tenant's `logs` and models in an in-memory DuckDB, then locked down."""
    validate_tenant_id(tenant)
    con = duck.connect(lake.store)
    snapshot = take_snapshot(lake.store, tenant)
    persist_logs(con, lake.store, snapshot)
    models = register_models(con, lake.store, tenant)
    paths = [lake.store.duckdb_path(k) for k in snapshot.chunk_keys()]
    paths += [lake.store.duckdb_path(k) for m in models for k in model_files(lake.store, m, tenant)]
    allowed = exp.Array(expressions=[exp.Literal.string(p) for p in paths])
    con.execute(f"SET allowed_paths = {allowed.sql(dialect='duckdb')}")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


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
        self.db = tenant_database(lake, tenant)
        rewriter = rewrite.Rewriter(bv_dialects.BVPostgres(), bv_dialects.BVDuckDB())
        self._server = _Server(
            address, _TenantConnection(self.db), rewriter=rewriter, auth=dict(users)
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
        self.db.close()
