"""The query engine: LogQL over the lake, answered as Grafana Loki answers.

Modules, one job each:

- `executor`: `Executor.run(tenants, QueryRequest)` — parse, limits, compile
  (`logql2sql`), bind the `logs` relation, run on DuckDB with a timeout, shape the result.
- `source`: the `logs` view of one query — manifest-pruned chunk files plus landing rows.
- `params`: one parser per HTTP parameter, Loki's defaults and 400 messages.
- `api`: the `/loki/api/v1/*` endpoints without HTTP (routes and CLI share it).
- `metadata`: labels, label values, series, index stats, volume.
- `limits`, `stats`, `encode`, `errors`, `tenants`, `sqlapi` (`POST /api/v1/sql`).
"""
