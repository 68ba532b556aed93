"""`Lake`: the lake as the service sees it — settings, object store and the operations the
CLI, the HTTP server and the Dagster assets share (flush, SQL over a tenant's logs).

    >>> import tempfile
    >>> lake = Lake.open(load_settings(lake=tempfile.mkdtemp()))
    >>> lake.tenants()
    []
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa

import logql2sql
from loglake.config import Settings, load_settings
from loglake.ingest.labels import validate_tenant_id
from loglake.models import register_models
from storage import duck, manifest
from storage.chunks import ChunkOptions
from storage.flush import FlushResult, flush
from storage.landing import landing_tenants
from storage.objectstore import ObjectStore
from storage.snapshot import take_snapshot

__all__ = ["Lake", "load_settings"]


class Lake:
    """A lake opened with its settings."""

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        self.settings = settings
        self.store = store
        self.chunk_options = ChunkOptions(
            partition_labels=tuple(settings.lake.partition_labels),
            max_partition_values=settings.lake.max_partition_values,
        )

    @classmethod
    def open(cls, settings: Settings) -> Lake:
        """Open the lake the settings point at (local directory or `s3://`)."""
        s3 = settings.storage.s3
        store = ObjectStore(
            settings.storage.lake,
            endpoint=s3.endpoint,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )
        return cls(settings, store)

    def tenants(self) -> list[str]:
        """Tenants with flushed or landed data."""
        return sorted(set(manifest.tenants(self.store)) | set(landing_tenants(self.store)))

    def flush(
        self,
        tenants: list[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> FlushResult:
        """Turn landing objects into chunks and manifest commits (see `storage.flush`)."""
        return flush(self.store, self.chunk_options, tenants=tenants, progress=progress)

    def sql_connection(self, tenant: str, threads: int | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the tenant's `logs` view over a pinned snapshot and a
        view per built SQL model."""
        con = duck.connect(self.store, threads=threads)
        duck.register_logs(con, self.store, take_snapshot(self.store, tenant))
        register_models(con, self.store, tenant)
        return con

    def logql(
        self,
        query: str,
        tenant: str,
        *,
        start: int,
        end: int,
        step: int = 0,
        limit: int = 100,
        direction: str = "backward",
    ) -> tuple[str, pa.Table]:
        """Answer LogQL over the tenant's logs: (result kind, rows).

        The query is translated by `logql2sql` and run by the query engine the HTTP API
        uses (`loglake.query.executor`: the tenant's limits, only the chunks of matching
        streams in range, stream labels from the manifest); raises its `QueryError`. Rows
        are `ts, line, labels, fingerprint` for log queries over `[start, end]`, and `ts,
        labels, value` for metric queries, evaluated every `step` from `start` to `end`, or
        once at `end` when `step` is 0 (an instant query).
        """
        from loglake.query.executor import Executor  # the engine imports this module
        from loglake.query.source import STREAMS

        validate_tenant_id(tenant)
        expr = logql2sql.parse(query)
        if step == 0 and not isinstance(expr, logql2sql.ast.LogExpr):
            start = end
        plan = logql2sql.plan(
            expr,
            start=start,
            end=end,
            step=step,
            limit=limit,
            direction=direction,
            streams=STREAMS,
        )
        table, _ = Executor(self).execute([tenant], plan)
        return plan.kind, table

    def sql(self, query: str, tenant: str) -> pa.Table:
        """Run a SQL query over the tenant's `logs` and return the result as Arrow."""
        validate_tenant_id(tenant)
        con = self.sql_connection(tenant)
        try:
            relation = con.sql(query)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        finally:
            con.close()
