"""The housekeeping assets at Dagster's three test levels — definitions load, one asset on
a temporary lake, a full materialization — plus their schedule and asset checks."""

import datetime
from pathlib import Path

import dagster as dg
import yaml

from dagster_project.definitions import defs
from dagster_project.defs.compaction import (
    LAKE_WRITER_POOL,
    TENANT_DAYS,
    compaction_schedule,
    lake_compaction,
    partition_key,
    tenant_day,
)
from dagster_project.defs.housekeeping import (
    lake_deletes,
    lake_gc,
    lake_retention,
    landing_backlog_below_limit,
    referenced_chunks_exist,
)
from dagster_project.defs.ingest import lake_flush
from dagster_project.defs.resources import LakeResource
from loglake.ops_config import parse_delete_query
from storage import delete_requests, manifest
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from tests.dagster_instance import instance_for_test
from tests.storage.helpers import T0, entries, query_rows
from tests.storage.operations.lake_builders import STREAMS, small_flushes

DAY = "2024-05-01"
TICK = datetime.datetime(2024, 5, 2, 10, tzinfo=datetime.UTC)


def metadata_of(result: dg.ExecuteInProcessResult, node: str) -> dict:
    [materialization] = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in materialization.metadata.items()}


def test_definitions_hold_the_housekeeping_assets_schedules_and_checks() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {"compaction_schedule", "retention_daily", "deletes_hourly", "gc_hourly"} <= {
        s.name for s in repo.schedule_defs
    }
    graph = repo.asset_graph
    for key in ("lake_compaction", "lake_retention", "lake_deletes", "lake_gc"):
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == "housekeeping"
        assert node.pools == {LAKE_WRITER_POOL}
        assert node.description
    checks = {k.name for k in graph.asset_check_keys}
    assert {
        "no_overlapping_stream_chunks",
        "landing_backlog_below_limit",
        "referenced_chunks_exist",
    } <= checks


def test_partition_keys_round_trip() -> None:
    for tenant in ("fake", "a...b", "x.y_z(1)*"):
        key = partition_key(tenant, DAY)
        assert "..." not in key
        assert tenant_day(key) == (tenant, DAY)


def test_compaction_asset_on_a_temporary_lake(tmp_path: Path) -> None:
    lake = LakeResource(lake=str(tmp_path / "lake"))
    store = lake.open().store
    written = small_flushes(store, flushes=4)
    key = partition_key("t", DAY)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(TENANT_DAYS.name, [key])
        result = dg.materialize(
            [lake_compaction], partition_key=key, instance=instance, resources={"lake": lake}
        )
    assert result.success
    metadata = metadata_of(result, "lake_compaction")
    assert (metadata["chunks_before"], metadata["chunks_after"]) == (8, 2)
    assert metadata["rows"] == len(written)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "no_overlapping_stream_chunks" and check.passed
    assert query_rows(store) == sorted(written)


def test_compaction_schedule_requests_a_run_per_tenant_day_with_small_chunks(
    tmp_path: Path,
) -> None:
    lake = LakeResource(lake=str(tmp_path / "lake"))
    store = lake.open().store
    small_flushes(store, "a", flushes=2)
    small_flushes(store, "b", flushes=1)  # one chunk per folder: nothing to merge
    with instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, resources={"lake": lake}, scheduled_execution_time=TICK
        )
        requests = compaction_schedule(context)
        assert [r.partition_key for r in requests] == [partition_key("a", DAY)]
        assert requests[0].tags["loglake/tenant_day"] == partition_key("a", DAY)
        assert instance.get_dynamic_partitions(TENANT_DAYS.name) == [partition_key("a", DAY)]
    with instance_for_test() as instance:
        empty = LakeResource(lake=str(tmp_path / "empty"))
        context = dg.build_schedule_context(
            instance=instance, resources={"lake": empty}, scheduled_execution_time=TICK
        )
        assert isinstance(compaction_schedule(context), dg.SkipReason)


def test_full_materialization_flush_compact_retention_deletes_gc(tmp_path: Path) -> None:
    config = tmp_path / "loglake.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"lake": str(tmp_path / "lake")},
                "compactor": {
                    "retention_enabled": True,
                    "delete_request_cancel_period": "0s",
                    "retention_delete_delay": "0s",
                },
                "limits_config": {"retention_period": "0s"},
            }
        )
    )
    lake = LakeResource(lake=str(tmp_path / "lake"), config_file=str(config))
    store = ObjectStore(str(tmp_path / "lake"))
    written = small_flushes(store, flushes=3)
    write_landing(store, "t", entries(1, STREAMS[1], [T0 + 1], ["not yet flushed"]))
    matchers, _filters = parse_delete_query('{env="dev"}')
    delete_requests.add_request(store, "t", '{env="dev"}', 0, (T0 // 10**6) + 10**8, matchers)
    old_chunks = set(manifest.load_latest(store, "t", DAY).chunk_keys())

    with instance_for_test() as instance:
        instance.add_dynamic_partitions(TENANT_DAYS.name, [partition_key("t", DAY)])
        flushed = dg.materialize([lake_flush], instance=instance, resources={"lake": lake})
        first = dg.materialize(
            [lake_retention, lake_deletes], instance=instance, resources={"lake": lake}
        )
        compacted = dg.materialize(
            [lake_compaction],
            partition_key=partition_key("t", DAY),
            instance=instance,
            resources={"lake": lake},
        )
        last = dg.materialize(
            [lake_gc, referenced_chunks_exist, landing_backlog_below_limit],
            instance=instance,
            resources={"lake": lake},
            selection=[lake_gc],
        )
    assert flushed.success and first.success and compacted.success and last.success
    assert metadata_of(first, "lake_deletes")["requests_processed"] == 1
    assert metadata_of(first, "lake_deletes")["shards_processed"] == 1
    assert metadata_of(first, "lake_retention")["enabled"] is True
    assert metadata_of(last, "lake_gc")["chunks_deleted"] >= len(old_chunks)
    expected = sorted([r for r in written if r[0] != 2] + [(1, T0 + 1, "not yet flushed")])
    assert query_rows(store) == expected
    assert not any(store.exists(k) for k in old_chunks)
    assert len(manifest.load_latest(store, "t", DAY).chunk_keys()) == 2


def test_referenced_chunks_check_fails_when_a_live_chunk_is_gone(tmp_path: Path) -> None:
    lake = LakeResource(lake=str(tmp_path / "lake"))
    store = lake.open().store
    small_flushes(store, flushes=1)
    assert referenced_chunks_exist(lake=lake).passed
    store.delete([manifest.load_latest(store, "t", DAY).chunk_keys()[0]])
    assert not referenced_chunks_exist(lake=lake).passed
    assert landing_backlog_below_limit(lake=lake).passed
