"""The CLI commands run the same functions: `models list|build`, `report hubble`, `export`."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from loglake.cli import app
from loglake.config import load_settings
from loglake.lake import Lake
from tests.loglake.models.conftest import TENANT, land_lines

runner = CliRunner()


def test_models_build_then_list(tmp_path: Path, flow_lines) -> None:
    root = str(tmp_path / "lake")
    lake = Lake.open(load_settings(lake=root))
    lines = flow_lines["real"][:200]
    land_lines(lake, "fake", lines)
    days = {json.loads(line)["flow"]["time"][:10] for line in lines}
    args = ["models", "build", "--lake", root, "--select", "dns_errors"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # hubble_flows, dns_queries, dns_errors for each day, for the default tenant 'fake'
    assert f"{3 * len(days)} partitions built" in result.output
    again = runner.invoke(app, args)
    assert f"0 partitions built, {3 * len(days)} up to date" in again.output
    listed = runner.invoke(app, ["models", "list", "--lake", root])
    assert listed.exit_code == 0
    rows = {line.split("│")[1].strip(): line.split("│") for line in listed.output.splitlines()
            if "│" in line}  # fmt: skip
    assert rows["dns_errors"][3].strip() == str(len(days))
    assert rows["top_talkers"][3].strip() == "0"
    unknown = runner.invoke(app, ["models", "build", "--lake", root, "--select", "nope"])
    assert unknown.exit_code == 2 and "unknown model 'nope'" in unknown.output


def test_report_and_exports(built_lake, tmp_path: Path) -> None:
    lake, _ = built_lake
    root = lake.settings.storage.lake
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["report", "hubble", "--lake", root, "--tenant", TENANT, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().count("data:image/png;base64,") == 7

    parquet = tmp_path / "talkers.parquet"
    result = runner.invoke(
        app, ["export", "top_talkers", "--lake", root, "--tenant", TENANT, "--output", str(parquet)]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(parquet).num_rows > 0

    db = tmp_path / "lake.duckdb"
    result = runner.invoke(app, ["export", "--duckdb", str(db), "--lake", root, "--tenant", TENANT])
    assert result.exit_code == 0 and "hubble_flows" in result.output

    bad = runner.invoke(
        app, ["export", "SELECT * FROM nowhere", "--lake", root, "--output", str(tmp_path / "x")]
    )
    assert bad.exit_code == 1 and "nowhere" in bad.output
