"""Dagster at its three test levels: the definitions load, the flush asset materializes on
a temporary lake, and the landing sensor asks for a run exactly when there is work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.defs.ingest import lake_flush
from dagster_project.defs.resources import LakeResource
from dagster_project.defs.sensors import landing_sensor
from storage.landing import list_landing, write_landing
from tests.dagster_instance import failed_materialization, instance_for_test
from tests.storage.helpers import T0, entries


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {"landing_sensor", "kafka_lag_sensor"} <= {s.name for s in repo.sensor_defs}
    assert {s.name for s in repo.schedule_defs} == {
        "flush_every_15_minutes",
        "compaction_schedule",
        "retention_daily",
        "deletes_hourly",
        "gc_hourly",
        "hubble_models_schedule",
    }


def test_dagster_cli_validates_the_definitions(tmp_path: Path) -> None:
    env = {**os.environ, "LOGLAKE_LAKE": str(tmp_path / "lake"), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).with_name("dagster")
    out = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "dagster_project.definitions"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Validation successful" in out.stderr + out.stdout


def test_flush_asset_materializes_on_a_temporary_lake(tmp_path: Path) -> None:
    lake = LakeResource(lake=str(tmp_path / "lake"))
    store = lake.open().store
    write_landing(store, "fake", entries(1, {"service_name": "api"}, [T0, T0 + 1, T0 + 2]))
    with instance_for_test() as instance:
        result = dg.materialize([lake_flush], resources={"lake": lake}, instance=instance)
        assert result.success
        [materialization] = result.asset_materializations_for_node("lake_flush")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["rows"] == 3
    assert metadata["manifest_commits"] == 1
    assert metadata["chunks"] == 1
    assert list_landing(store) == []
    assert lake.open().sql("SELECT count(*) AS n FROM logs", "fake").to_pylist() == [{"n": 3}]


def test_a_flush_failing_for_one_tenant_fails_the_run_after_flushing_the_others(
    tmp_path: Path,
) -> None:
    lake = LakeResource(lake=str(tmp_path / "lake"))
    store = lake.open().store
    for tenant in ("a", "b"):
        write_landing(store, tenant, entries(1, {"service_name": "api"}, [T0, T0 + 1]))
    (broken,) = list_landing(store, "a")
    with open(store.path(broken.key), "r+b") as f:
        f.truncate(broken.size // 2)
    message, metadata = failed_materialization(lake_flush, lake)
    assert "flush failed for 1 tenant(s): tenant 'a'" in message
    assert metadata["failed_tenants"] == "a"
    assert metadata["rows"] == 2
    assert lake.open().sql("SELECT count(*) AS n FROM logs", "b").to_pylist() == [{"n": 2}]


def test_full_materialization_of_all_assets(tmp_path: Path) -> None:
    """Every unpartitioned asset that needs only the lake (Kafka's needs a broker and is
    materialized in its own tests; partitioned ones are run per partition there)."""
    lake = LakeResource(lake=str(tmp_path / "lake"))
    write_landing(lake.open().store, "t", entries(1, {"service_name": "x"}, [T0]))
    local = [
        a
        for a in defs.assets or []
        if a.partitions_def is None and set(a.required_resource_keys) <= {"lake", "io_manager"}
    ]
    assert lake_flush in local
    with instance_for_test() as instance:
        result = dg.materialize(local, resources={"lake": lake}, instance=instance)
        assert result.success
    assert lake.open().sql("SELECT count(*) AS n FROM logs", "t").to_pylist() == [{"n": 1}]


def test_landing_sensor_requests_a_flush_only_when_landing_has_objects(tmp_path: Path) -> None:
    lake = LakeResource(lake=str(tmp_path / "lake"))
    with dg.build_sensor_context(resources={"lake": lake}) as context:
        assert isinstance(landing_sensor(context), dg.SkipReason)
    write_landing(lake.open().store, "fake", entries(1, {"service_name": "api"}, [T0]))
    with dg.build_sensor_context(resources={"lake": lake}) as context:
        request = landing_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == list_landing(lake.open().store)[0].key
