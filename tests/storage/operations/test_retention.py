"""Retention removes exactly what Loki's rule expires — a stream's rows in a chunk once the
newest of them is older than the stream's period (Loki's chunk `Through`), periods chosen
by Loki's rule precedence, whole days from the manifest, chunks where only some streams
expired rewritten — and nothing else."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from loglake.config import Settings
from loglake.ops_config import retention_policy
from storage import layout, manifest
from storage.chunks import read_chunk
from storage.flush import flush
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from storage.retention import RetentionPolicy, StreamRule, apply_retention
from storage.schema import LABELS_TYPE
from storage.selection import LabelMatcher
from tests.storage.helpers import DAY, T0, entries, query_rows
from tests.storage.operations.lake_builders import STREAMS, small_flushes

HOUR = 3600 * 1_000_000_000
NOW = T0 + 10 * DAY + HOUR // 2


def ten_days(store: ObjectStore, tenant: str) -> list[tuple[int, int, str]]:
    written = []
    for d in range(10):
        written += small_flushes(
            store, tenant, flushes=1, per_stream=12, start=T0 + d * DAY, step=2 * HOUR
        )
    return written


def surviving_rows(
    store: ObjectStore, tenant: str, periods: dict[int, int]
) -> list[tuple[int, int, str]]:
    """Independently of `storage.retention`: read every chunk and keep the rows of each
    (chunk, stream) whose newest entry is at most its period old at NOW."""
    kept = []
    for day in manifest.days(store, tenant):
        for key in manifest.load_latest(store, tenant, day).chunk_keys():
            rows = read_chunk(store, key).select(["fingerprint", "ts", "line"]).to_pylist()
            newest: dict[int, int] = {}
            for r in rows:
                newest[r["fingerprint"]] = max(newest.get(r["fingerprint"], 0), r["ts"])
            kept += [
                (r["fingerprint"], r["ts"], r["line"])
                for r in rows
                if NOW - newest[r["fingerprint"]] <= periods[r["fingerprint"]] * HOUR
            ]
    return sorted(kept)


def test_highest_priority_wins_and_ties_go_to_the_shorter_period() -> None:
    labels = pa.array([[("app", "a"), ("env", "dev")], [("app", "b")]], LABELS_TYPE)
    policy = RetentionPolicy(
        period_ns=30 * DAY,
        rules=(
            StreamRule((LabelMatcher("env", "=", "dev"),), priority=1, period_ns=1 * DAY),
            StreamRule((LabelMatcher("app", "=~", "a|b"),), priority=2, period_ns=10 * DAY),
            StreamRule((LabelMatcher("app", "=", "b"),), priority=2, period_ns=5 * DAY),
        ),
    )
    assert policy.periods(labels) == [10 * DAY, 5 * DAY]
    assert RetentionPolicy(period_ns=0).periods(labels) == [0, 0]


def test_retention_follows_lokis_precedence_and_removes_exactly_the_expired_chunks(
    tmp_path: Path,
) -> None:
    store = ObjectStore(str(tmp_path))
    settings = Settings.model_validate(
        {
            "compactor": {"retention_enabled": True},
            "limits_config": {
                "retention_period": "168h",
                "retention_stream": [
                    {"selector": '{namespace="dev"}', "priority": 1, "period": "72h"}
                ],
            },
            "overrides": {
                "t": {
                    "retention_stream": [
                        {"selector": '{env="dev"}', "priority": 1, "period": "120h"},
                        {"selector": '{env=~"d.*"}', "priority": 1, "period": "96h"},
                    ]
                }
            },
        }
    )
    written = {tenant: ten_days(store, tenant) for tenant in ("t", "u")}
    # Independently: tenant t's own rules replace the global ones (stream 2: tie -> 96h,
    # stream 3 falls back to the inherited 168h); tenant u has the global rule (stream 3).
    periods = {"t": {1: 168, 2: 96, 3: 168}, "u": {1: 168, 2: 168, 3: 72}}

    expected = {tenant: surviving_rows(store, tenant, periods[tenant]) for tenant in ("t", "u")}
    results = {}
    for tenant in ("t", "u"):
        results[tenant] = apply_retention(
            store, tenant, retention_policy(settings.limits_for(tenant)), now_ns=NOW
        )

    for tenant in ("t", "u"):
        assert query_rows(store, tenant) == expected[tenant]
        assert results[tenant].rows_removed == len(written[tenant]) - len(expected[tenant])
        # Loki's rule keeps entries older than the period while their chunk is not expired
        assert any(NOW - ts > periods[tenant][fp] * HOUR for fp, ts, _ in expected[tenant])
        assert all(NOW - ts <= 168 * HOUR + DAY for _, ts, _ in expected[tenant])
    # days 0-2 are past every stream's period: dropped from the manifest, chunks unread
    u = results["u"]
    assert u.days_dropped == 3
    for d in range(3):
        day = layout.day_of(T0 + d * DAY)
        assert manifest.load_latest(store, "u", day).refs.num_rows == 0
    # tenant t's api chunks hold streams 1 (168h) and 2 (96h): where only stream 2 expired
    # the chunk is rewritten without it
    assert results["t"].chunks_rewritten > 0
    assert u.chunks_rewritten == 0  # u's api streams share a period: chunks go whole
    # a second pass finds nothing more to do
    again = apply_retention(store, "u", retention_policy(settings.limits_for("u")), now_ns=NOW)
    assert (again.rows_removed, again.commits) == (0, 0)


def test_no_period_keeps_everything(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = ten_days(store, "t")
    result = apply_retention(store, "t", RetentionPolicy(), now_ns=NOW)
    assert result.commits == 0
    assert query_rows(store, "t") == sorted(written)


def test_a_chunk_expires_once_its_newest_entry_is_older_than_the_period(
    tmp_path: Path,
) -> None:
    store = ObjectStore(str(tmp_path))
    old, young = STREAMS[1], STREAMS[2]  # both in the api folder: one chunk holds both
    write_landing(store, "t", entries(1, old, [T0, T0 + HOUR, T0 + 2 * HOUR]))
    write_landing(store, "t", entries(2, young, [T0, T0 + 5 * HOUR]))
    flush(store)
    assert len(manifest.load_latest(store, "t", layout.day_of(T0)).chunk_keys()) == 1
    policy = RetentionPolicy(period_ns=DAY)

    # `now - Through > period` is Loki's test: at exactly the period nothing goes
    at_period = apply_retention(store, "t", policy, now_ns=T0 + 2 * HOUR + DAY)
    assert at_period.rows_removed == 0
    # one nanosecond later stream 1's rows go, all of them; stream 2 keeps its old entry
    later = apply_retention(store, "t", policy, now_ns=T0 + 2 * HOUR + DAY + 1)
    assert (later.rows_removed, later.chunks_rewritten) == (3, 1)
    assert [(fp, ts) for fp, ts, _ in query_rows(store, "t")] == [(2, T0), (2, T0 + 5 * HOUR)]
    whole = apply_retention(store, "t", policy, now_ns=T0 + 5 * HOUR + DAY + 1)
    assert (whole.rows_removed, whole.days_dropped) == (2, 1)
    assert query_rows(store, "t") == []
