"""Incremental per-day builds: unchanged days are skipped, a changed day is rebuilt alone,
partitions land under models/<name>/tenant=…/date=…/, and built models are queryable."""

from __future__ import annotations

import duckdb
import pytest

from loglake.generate.hubble import FlowConfig, generate_flow_lines
from loglake.lake import Lake
from loglake.models import build_models, register_model_views, register_models
from storage import duck
from tests.loglake.models.conftest import SYNTHETIC_DAY, TENANT, land_lines

NEXT_DAY_NS = 1_714_608_000 * 1_000_000_000  # 2024-05-02T00:00:00Z


def test_second_build_skips_and_new_data_rebuilds_only_its_day(hubble_lake: Lake) -> None:
    store = hubble_lake.store
    first = build_models(store, tenants=[TENANT], select=["flows_by_verdict"])
    assert {r.model for r in first} == {"hubble_flows", "flows_by_verdict"}
    assert all(r.status == "built" for r in first)
    key = f"models/flows_by_verdict/tenant={TENANT}/date={SYNTHETIC_DAY}/data.parquet"
    assert store.exists(key)

    again = build_models(store, tenants=[TENANT], select=["flows_by_verdict"])
    assert {r.status for r in again} == {"up-to-date"}

    # a flush changes how the synthetic day is stored (landing -> chunks), not what it holds,
    # but its manifest version is new: that day, and only that day, is rebuilt
    hubble_lake.flush()
    after_flush = build_models(store, tenants=[TENANT], select=["flows_by_verdict"])
    rebuilt = {(r.model, r.day) for r in after_flush if r.status == "built"}
    assert rebuilt == {("hubble_flows", SYNTHETIC_DAY), ("flows_by_verdict", SYNTHETIC_DAY)}

    # new flows on a new day: only the new day is built
    land_lines(hubble_lake, TENANT, list(generate_flow_lines(FlowConfig(
        seed=9, flows=50, start_ns=NEXT_DAY_NS, end_ns=NEXT_DAY_NS + 3_600_000_000_000
    ))))  # fmt: skip
    third = build_models(store, tenants=[TENANT], select=["flows_by_verdict"])
    assert {(r.model, r.day) for r in third if r.status == "built"} == {
        ("hubble_flows", "2024-05-02"),
        ("flows_by_verdict", "2024-05-02"),
    }
    con = duck.connect(store)
    assert register_models(con, store, TENANT) == ["flows_by_verdict", "hubble_flows"]
    [(flows,)] = con.execute(
        "SELECT sum(flows) FROM flows_by_verdict WHERE date = DATE '2024-05-02'"
    ).fetchall()
    assert flows == 50 - _lost_events(50)


def _lost_events(n: int) -> int:
    lines = generate_flow_lines(FlowConfig(
        seed=9, flows=n, start_ns=NEXT_DAY_NS, end_ns=NEXT_DAY_NS + 3_600_000_000_000
    ))  # fmt: skip
    return sum(1 for line in lines if '"lost_events"' in line)


def test_full_refresh_rebuilds_and_tenants_are_separate(hubble_lake: Lake) -> None:
    store = hubble_lake.store
    land_lines(hubble_lake, "team-b", list(generate_flow_lines(FlowConfig(seed=3, flows=20))))
    build_models(store, select=["hubble_flows"])
    refreshed = build_models(store, tenants=["team-b"], select=["hubble_flows"], full_refresh=True)
    assert [(r.tenant, r.day, r.status) for r in refreshed] == [("team-b", SYNTHETIC_DAY, "built")]
    con = duck.connect(store)
    register_models(con, store, "team-b")
    [(n,)] = con.execute("SELECT count(*) FROM hubble_flows").fetchall()
    assert n == refreshed[0].rows <= 20
    con.close()
    con = duck.connect(store)
    register_models(con, store, TENANT)
    [(m,)] = con.execute(
        "SELECT count(*) FROM hubble_flows WHERE node LIKE 'synthetic-%'"
    ).fetchall()
    assert m > 1000  # team-a's synthetic day, not team-b's 20 flows


def test_model_views_work_on_a_locked_down_connection(built_lake) -> None:
    """A locked connection (as the SQL and Postgres endpoints lock theirs) reads the models
    through exactly the files `register_model_views` returns, and nothing else."""
    lake, results = built_lake
    con = duck.connect(lake.store)
    try:
        views = register_model_views(con, lake.store, TENANT)
        assert set(views) == {r.model for r in results}
        allowed = [path for files in views.values() for path in files]
        con.execute(f"SET allowed_paths = {allowed!r}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        for name in views:
            built = sum(r.rows for r in results if r.model == name)
            assert con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == built
        other = lake.store.duckdb_path(f"models/top_talkers/tenant={TENANT}/x.parquet")
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_parquet('{other}')")
    finally:
        con.close()


def test_entries_pushed_twice_count_once(hubble_lake: Lake, flow_lines) -> None:
    """A day whose streams overlap between chunks and landing goes through the `logs`
    deduplication (with its CTE inlined, see `storage.duck.logs_query`): identical entries
    pushed again are counted once."""
    hubble_lake.flush()  # the synthetic flows become chunks ...
    land_lines(hubble_lake, TENANT, flow_lines["synthetic"][:500])  # ... and partly land again
    [result] = build_models(
        hubble_lake.store, tenants=[TENANT], select=["hubble_flows"], days=[SYNTHETIC_DAY]
    )
    flows = sum('"flow":' in line for line in dict.fromkeys(flow_lines["synthetic"]))
    assert result.rows == flows


def test_a_failed_test_stays_failed_while_the_partition_is_up_to_date(
    hubble_lake: Lake, tmp_path
) -> None:
    """An unchanged partition is not rebuilt, and its failed YAML tests are reported again."""
    from loglake.models.project import load_project
    from tests.loglake.models.test_project import project_dir

    (tmp_path / "project").mkdir()
    root = project_dir(
        tmp_path / "project",
        {"m": "SELECT CAST(NULL AS INTEGER) AS k FROM {{ source('loglake', 'logs') }} LIMIT 2"},
        "models: [{name: m, columns: [{name: k, tests: [not_null]}]}]\n",
    )
    project = load_project(root)
    first = build_models(hubble_lake.store, project, tenants=[TENANT], days=[SYNTHETIC_DAY])
    again = build_models(hubble_lake.store, project, tenants=[TENANT], days=[SYNTHETIC_DAY])
    assert [(r.status, [(c.test.name, c.failures) for c in r.failed_checks]) for r in first] == [
        ("built", [("not_null_m_k", 2)])
    ]
    assert [(r.status, [(c.test.name, c.failures) for c in r.failed_checks]) for r in again] == [
        ("up-to-date", [("not_null_m_k", 2)])
    ]
