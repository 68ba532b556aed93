"""Retention removes exactly the entries older than their stream's period — Loki's rule
precedence, whole days from the manifest, partial chunks rewritten — and nothing else."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from loglake.ops_config import OpsSettings
from storage import layout, manifest
from storage.objectstore import ObjectStore
from storage.retention import RetentionPolicy, StreamRule, apply_retention
from storage.schema import LABELS_TYPE
from storage.selection import LabelMatcher
from tests.storage.helpers import DAY, T0
from tests.storage.operations.lake_builders import query_rows, small_flushes

HOUR = 3600 * 1_000_000_000
NOW = T0 + 10 * DAY + HOUR // 2


def ten_days(store: ObjectStore, tenant: str) -> list[tuple[int, int, str]]:
    written = []
    for d in range(10):
        written += small_flushes(
            store, tenant, flushes=1, per_stream=12, start=T0 + d * DAY, step=2 * HOUR
        )
    return written


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


def test_retention_follows_lokis_precedence_and_removes_exactly_the_expired(
    tmp_path: Path,
) -> None:
    store = ObjectStore(str(tmp_path))
    ops = OpsSettings.build(
        {"retention_enabled": True},
        {
            "retention_period": "168h",
            "retention_stream": [{"selector": '{namespace="dev"}', "priority": 1, "period": "72h"}],
        },
        {
            "t": {
                "retention_stream": [
                    {"selector": '{env="dev"}', "priority": 1, "period": "120h"},
                    {"selector": '{env=~"d.*"}', "priority": 1, "period": "96h"},
                ]
            }
        },
    )
    written = {tenant: ten_days(store, tenant) for tenant in ("t", "u")}
    # Independently: tenant t's own rules replace the global ones (stream 2: tie -> 96h,
    # stream 3 falls back to the inherited 168h); tenant u has the global rule (stream 3).
    periods = {"t": {1: 168, 2: 96, 3: 168}, "u": {1: 168, 2: 168, 3: 72}}

    results = {}
    for tenant in ("t", "u"):
        results[tenant] = apply_retention(
            store, tenant, ops.limits_for(tenant).policy(), now_ns=NOW
        )

    for tenant in ("t", "u"):
        expected = sorted(
            (fp, ts, line)
            for fp, ts, line in written[tenant]
            if NOW - ts <= periods[tenant][fp] * HOUR
        )
        assert query_rows(store, tenant) == expected
        assert results[tenant].rows_removed == len(written[tenant]) - len(expected)
    # days 0-2 are past every stream's period: dropped from the manifest, chunks unread
    u = results["u"]
    assert u.days_dropped == 3
    for d in range(3):
        day = layout.day_of(T0 + d * DAY)
        assert manifest.load_latest(store, "u", day).refs.num_rows == 0
    assert u.chunks_rewritten > 0  # the day a cutoff falls in was rewritten, not dropped
    # a second pass finds nothing more to do
    again = apply_retention(store, "u", ops.limits_for("u").policy(), now_ns=NOW)
    assert (again.rows_removed, again.commits) == (0, 0)


def test_no_period_keeps_everything(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path))
    written = ten_days(store, "t")
    result = apply_retention(store, "t", RetentionPolicy(), now_ns=NOW)
    assert result.commits == 0
    assert query_rows(store, "t") == sorted(written)
