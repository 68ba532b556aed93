"""`loglake compact|retention|deletes|gc` run the housekeeping with the settings of the
configuration file and report what they did."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from loglake.cli import app
from loglake.ops_config import parse_delete_query
from storage import delete_requests, manifest
from storage.objectstore import ObjectStore
from tests.storage.helpers import T0, query_rows
from tests.storage.operations.lake_builders import small_flushes

DAY = "2024-05-01"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_housekeeping_commands(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    store = ObjectStore(str(lake))
    written = small_flushes(store, "fake", flushes=3)
    config = tmp_path / "loglake.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"lake": str(lake)},
                "compactor": {"retention_enabled": True, "delete_request_cancel_period": "0s"},
                "limits_config": {
                    "retention_period": "0s",
                    "retention_stream": [
                        {"selector": '{service_name="db"}', "priority": 1, "period": "24h"}
                    ],
                },
            }
        )
    )
    old = set(manifest.load_latest(store, "fake", DAY).chunk_keys())

    assert "compacted 1 of 1 days: 6 chunks" in run("compact", "--config", str(config))
    assert len(manifest.load_latest(store, "fake", DAY).chunk_keys()) == 2

    query = '{env="dev"} |= "level=error"'
    matchers, filters = parse_delete_query(query)
    delete_requests.add_request(
        store, "fake", query, T0 // 10**6, time.time_ns() // 10**6 - 1, matchers, filters
    )
    assert "1 delete requests processed" in run("deletes", "--config", str(config))

    # the db stream is older than 24h: all of it goes; the rest is kept forever
    out = run("retention", "--config", str(config))
    assert "fake: " in out and "entries removed" in out
    expected = sorted(r for r in written if r[0] == 1 or (r[0] == 2 and "level=error" not in r[2]))
    assert query_rows(store, "fake") == expected

    assert "would delete 0 chunks" in run("gc", "--config", str(config), "--dry-run")
    out = run("gc", "--config", str(config), "--grace", "0s")
    # 6 flushed chunks replaced by compaction, the compacted api chunk rewritten by the
    # delete, the compacted db chunk dropped by retention
    assert "deleted 8 chunks" in out
    assert not any(store.exists(k) for k in old)
    assert query_rows(store, "fake") == expected


def test_retention_is_off_unless_enabled(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    small_flushes(ObjectStore(str(lake)), "fake", flushes=1)
    assert "retention is disabled" in run("retention", "--lake", str(lake))
    assert "retention_enabled: true" in run("deletes", "--lake", str(lake))
