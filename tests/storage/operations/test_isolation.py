"""A tenant whose housekeeping fails does not hold back the others: compaction, retention
and deletes finish every other tenant (day, request), then `HousekeepingError` names the
failures with what was done; the CLI reports both and exits 1, the Dagster assets fail
with the work done in their metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dagster_project.defs.housekeeping import lake_deletes, lake_retention
from dagster_project.defs.resources import LakeResource
from loglake.cli import app
from loglake.config import Settings
from loglake.lake import Lake
from loglake.operations import HousekeepingError, apply_retention, compact_lake, process_deletes
from loglake.ops_config import parse_delete_query
from storage import delete_requests, manifest
from storage.objectstore import ObjectStore
from tests.dagster_instance import failed_materialization
from tests.storage.helpers import T0
from tests.storage.operations.lake_builders import chunk_rows, small_flushes

DAY = "2024-05-01"
TENANTS = ("a", "b", "c")
MS = 1_000_000


def broken_lake(root: Path, **settings: object) -> Lake:
    """Tenants a, b and c with many small chunks; b's chunks no longer decode."""
    store = ObjectStore(str(root))
    for tenant in TENANTS:
        small_flushes(store, tenant, flushes=3, per_stream=4)
    for key in manifest.load_latest(store, "b", DAY).chunk_keys():
        path = Path(store.path(key))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return Lake(Settings.model_validate({"storage": {"lake": str(root)}, **settings}), store)


def chunk_count(lake: Lake, tenant: str) -> int:
    return len(manifest.load_latest(lake.store, tenant, DAY).chunk_keys())


RETENTION = {
    "compactor": {"retention_enabled": True, "delete_request_cancel_period": "0s"},
    # env="dev" streams expired long ago; their chunks are shared with env="prod" ones,
    # which retention must read and rewrite
    "limits_config": {"retention_stream": [{"selector": '{env="dev"}', "period": "24h"}]},
}


def test_compaction_compacts_the_other_tenants_and_names_the_failed_day(tmp_path) -> None:
    lake = broken_lake(tmp_path)
    before = {tenant: chunk_count(lake, tenant) for tenant in TENANTS}
    with pytest.raises(HousekeepingError) as failed:
        compact_lake(lake)
    assert list(failed.value.errors) == [f"tenant 'b', day {DAY}"]
    assert f"tenant 'b', day {DAY}" in str(failed.value)
    assert sorted(r.tenant for r in failed.value.result) == ["a", "c"]
    assert chunk_count(lake, "a") < before["a"] and chunk_count(lake, "c") < before["c"]
    assert chunk_count(lake, "b") == before["b"]


def test_retention_applies_to_the_other_tenants(tmp_path) -> None:
    lake = broken_lake(tmp_path, **RETENTION)
    with pytest.raises(HousekeepingError) as failed:
        apply_retention(lake)
    assert list(failed.value.errors) == ["tenant 'b'"]
    run = failed.value.result
    assert run.enabled and sorted(r.tenant for r in run.results) == ["a", "c"]
    for tenant in ("a", "c"):
        rows = chunk_rows(lake.store, tenant, DAY)["labels"].to_pylist()
        envs = {dict(labels)["env"] for labels in rows}
        assert envs == {"prod"}


def add_request(lake: Lake, tenant: str) -> str:
    matchers, filters = parse_delete_query('{env="dev"}')
    request = delete_requests.add_request(
        lake.store, tenant, '{env="dev"}', T0 // MS, (T0 + 86_400 * 10**9) // MS, matchers, filters
    )
    return request.request_id


def test_deletes_process_the_other_tenants_requests(tmp_path) -> None:
    lake = broken_lake(tmp_path, **RETENTION)
    ids = {tenant: add_request(lake, tenant) for tenant in TENANTS}
    with pytest.raises(HousekeepingError) as failed:
        process_deletes(lake)
    assert list(failed.value.errors) == [f"tenant 'b', request {ids['b']}"]
    assert sorted(r.tenant for r in failed.value.result) == ["a", "c"]
    status = {
        tenant: {r.request_id: r.status for r in delete_requests.list_requests(lake.store, tenant)}
        for tenant in TENANTS
    }
    assert status["a"][ids["a"]] == status["c"][ids["c"]] == delete_requests.PROCESSED
    assert status["b"][ids["b"]] != delete_requests.PROCESSED  # pending, for the next run


def test_cli_reports_what_was_done_and_the_failure_and_exits_1(tmp_path) -> None:
    broken_lake(tmp_path)
    result = CliRunner().invoke(app, ["compact", "--lake", str(tmp_path)])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "compacted 2 of 2 days" in output
    assert f"compaction of tenant 'b', day {DAY} failed" in output


def test_dagster_assets_fail_with_the_work_done_in_their_metadata(tmp_path) -> None:
    broken_lake(tmp_path, **RETENTION)
    config = tmp_path / "loglake.yaml"
    config.write_text(yaml.safe_dump(RETENTION))
    resource = LakeResource(lake=str(tmp_path), config_file=str(config))
    message, metadata = failed_materialization(lake_retention, resource)
    assert "retention failed for 1 step(s): tenant 'b'" in message
    assert metadata["failed"] == "tenant 'b'"
    assert metadata["tenants"] == 2 and metadata["rows_removed"] > 0
    lake = resource.open()
    add_request(lake, "a")
    failed_id = add_request(lake, "b")
    message, metadata = failed_materialization(lake_deletes, resource)
    assert f"deletes failed for 1 step(s): tenant 'b', request {failed_id}" in message
    assert metadata["failed"] == f"tenant 'b', request {failed_id}"
    assert metadata["requests_processed"] == 1
