"""The models as Dagster assets: one per model with the graph's dependencies and the YAML's
descriptions, daily partitions, a day's materialization touching that day only, and the
hourly schedule asking for the recent days."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.defs import models as model_defs
from dagster_project.defs.resources import LakeResource
from loglake.lake import Lake
from loglake.models import load_project
from loglake.models.build import read_state
from tests.dagster_instance import instance_for_test
from tests.loglake.models.conftest import SYNTHETIC_DAY, TENANT


def test_every_model_is_an_asset_with_graph_dependencies() -> None:
    project = load_project()
    graph = defs.resolve_asset_graph()
    for model in project.models.values():
        node = graph.get(dg.AssetKey(model.name))
        expected = {dg.AssetKey(d) for d in project.upstream_models(model.name)}
        if project.reads_sources(model.name):
            expected.add(dg.AssetKey("lake_flush"))
        assert node.parent_keys == expected, model.name
        assert node.description == model.description
        assert node.partitions_def == model_defs.PARTITIONS
    assert graph.get(dg.AssetKey("dns_errors")).parent_keys == {dg.AssetKey("dns_queries")}


def test_daily_materialization_only_processes_its_day(hubble_lake: Lake) -> None:
    resource = LakeResource(lake=hubble_lake.settings.storage.lake)
    selected = [
        a for a in model_defs.assets if a.key.path[0] in ("hubble_flows", "drops_by_reason")
    ]
    # An instance kept open while results are read (a result only holds a weak reference
    # to the instance materialize would otherwise create and drop).
    with instance_for_test() as instance:
        result = dg.materialize(
            selected, partition_key=SYNTHETIC_DAY, resources={"lake": resource}, instance=instance
        )
        assert result.success
        [mat] = [m for m in result.asset_materializations_for_node("drops_by_reason")]
        again = dg.materialize(
            selected, partition_key=SYNTHETIC_DAY, resources={"lake": resource}, instance=instance
        )
        [again_mat] = again.asset_materializations_for_node("hubble_flows")
    metadata = {k: v.value for k, v in mat.metadata.items()}
    assert metadata["partitions_built"] == 1 and metadata["tenants"] == TENANT
    assert metadata["rows"] > 0 and "reason" in metadata["columns"]
    assert metadata["time_range"].startswith(SYNTHETIC_DAY)
    store = hubble_lake.store
    assert read_state(store, "hubble_flows", TENANT, SYNTHETIC_DAY) is not None
    # the real flows' days were not touched
    assert read_state(store, "hubble_flows", TENANT, "2021-11-10") is None

    assert again_mat.metadata["partitions_built"].value == 0
    assert again_mat.metadata["partitions_up_to_date"].value == 1


def test_schedule_requests_yesterday_and_today() -> None:
    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def("hubble_models_schedule")
    assert schedule.job_name == "hubble_models_job"
    tick = dt.datetime(2024, 5, 2, 0, 20, tzinfo=dt.UTC)
    with instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=repository
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2024-05-01", "2024-05-02"]
    assert len({r.run_key for r in requests}) == 2
    assert all(model_defs.PARTITIONS.has_partition_key(r.partition_key) for r in requests)
