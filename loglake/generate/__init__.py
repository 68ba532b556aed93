"""Deterministic data generators for the demo, the tests and the benchmarks.

- `loglake.generate.applogs`: application logs in logfmt (`generate_app_logs`,
  `loki_push_batches`).
- `loglake.generate.hubble`: Cilium Hubble flows as exporter JSON lines (`generate_flow_lines`).

Everything is seeded: the same configuration always yields the same bytes.
"""
