"""Fixtures for the model tests: a lake holding the real shared Hubble flows (read in place)
plus clearly labelled synthetic flows (drops, audit verdicts, DNS errors), written as landing
objects by the Hubble decoder exactly as a push would, then flushed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from loglake.config import load_settings
from loglake.generate.hubble import FlowConfig, generate_flow_lines
from loglake.hubble.flows import HubbleEntry, iter_hubble_entries
from loglake.ingest.labels import fingerprint
from loglake.lake import Lake
from storage.landing import write_landing
from storage.schema import ENTRY_SCHEMA

HUBBLE_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "hubble"
TENANT = "team-a"
SYNTHETIC_DAY = "2024-05-01"
"""The generator's default start: the synthetic flows sit on a day of their own."""


def real_flow_lines() -> list[str]:
    """Every line of the shared captures, in file order (duplicates across files included)."""
    if not HUBBLE_DATA.is_dir():
        pytest.skip("shared Hubble data not present")
    lines = []
    for path in sorted(HUBBLE_DATA.glob("*.json")):
        lines.extend(line for line in path.read_text().splitlines() if line.strip())
    return lines


def synthetic_flow_lines(flows: int = 3000) -> list[str]:
    """Synthetic flows from loglake's generator (nodes `synthetic-…`), one day's worth."""
    return list(generate_flow_lines(FlowConfig(seed=7, flows=flows, end_ns=None)))


def entries_table(entries: list[HubbleEntry]) -> pa.Table:
    """Entries as the push path lands them (labels plus the derived service_name)."""
    labels = [{**e.labels, "service_name": e.labels["job"]} for e in entries]
    return pa.table(
        {
            "fingerprint": [fingerprint(tuple(sorted(lab.items()))) for lab in labels],
            "ts": [e.ts_ns for e in entries],
            "line": [e.line for e in entries],
            "labels": [sorted(lab.items()) for lab in labels],
            "structured_metadata": [[] for _ in entries],
        },
        schema=ENTRY_SCHEMA,
    )


def land_lines(lake: Lake, tenant: str, lines: list[str]) -> None:
    """Decode Hubble lines and write them as one landing object."""
    write_landing(lake.store, tenant, entries_table(list(iter_hubble_entries(lines))))


def unique_flows(lines: list[str]) -> list[dict]:
    """The distinct flow records (the lake returns identical entries once), parsed."""
    return [json.loads(line) for line in dict.fromkeys(lines)]


@pytest.fixture(scope="session")
def flow_lines() -> dict[str, list[str]]:
    """Real and synthetic lines, read once per session."""
    return {"real": real_flow_lines(), "synthetic": synthetic_flow_lines()}


def make_hubble_lake(root: Path, flow_lines: dict[str, list[str]]) -> Lake:
    """A lake with the real flows flushed into chunks and the synthetic ones still landing."""
    lake = Lake.open(load_settings(lake=str(root)))
    land_lines(lake, TENANT, flow_lines["real"])
    lake.flush()
    land_lines(lake, TENANT, flow_lines["synthetic"])
    return lake


@pytest.fixture
def hubble_lake(tmp_path: Path, flow_lines: dict[str, list[str]]) -> Lake:
    """A fresh Hubble lake for a test that changes it."""
    return make_hubble_lake(tmp_path / "lake", flow_lines)


@pytest.fixture(scope="session")
def built_lake(
    tmp_path_factory: pytest.TempPathFactory, flow_lines: dict[str, list[str]]
) -> Iterator[tuple[Lake, list]]:
    """A Hubble lake with every model built once for the session: (lake, build results).
    Tests must not change it."""
    from loglake.models import build_models

    lake = make_hubble_lake(tmp_path_factory.mktemp("built") / "lake", flow_lines)
    yield lake, build_models(lake.store, tenants=[TENANT])
