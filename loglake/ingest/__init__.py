"""Loki push ingestion: decode push bodies, validate them with Loki's limits, build Arrow.

- `labels`: label-set parsing, canonical text, fingerprints, `service_name`, tenant ids.
- `push_proto`: Loki's push protobuf messages (built at runtime), their reading straight into
  Arrow columns (ptars), and a body encoder.
- `push`: `decode_push_batch` / `decode_push` (JSON / protobuf+snappy, gzip/deflate) and
  `build_entries` (validation with Loki's limits and messages → the accepted entries, as a
  landing object stores them and as a table of `storage.schema.ENTRY_SCHEMA`).
- `ratelimit`: the per-tenant ingestion rate limiter (Loki's local strategy).
"""
