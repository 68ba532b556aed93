"""Cilium Hubble flows as log entries.

`loglake.hubble.flows` decodes the JSON lines that `hubble observe -o json` prints and the
Hubble exporter writes to `events.log` (`decode_hubble_line`, `read_hubble_batches`).
"""
