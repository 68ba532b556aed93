"""`Lake.logql` answers LogQL over flushed chunks and landing data alike."""

from __future__ import annotations

from pathlib import Path

from loglake.config import load_settings
from loglake.lake import Lake
from storage.landing import write_landing
from tests.storage.helpers import T0, entries

S = 1_000_000_000


def make_lake(tmp_path: Path) -> Lake:
    lake = Lake.open(load_settings(lake=str(tmp_path / "lake")))
    api = {"app": "api", "service_name": "api"}
    db = {"app": "db", "service_name": "db"}
    write_landing(
        lake.store,
        "fake",
        entries(1, api, [T0 + i * S for i in range(10)], [f"level=info n={i}" for i in range(10)]),
    )
    lake.flush()
    write_landing(
        lake.store, "fake", entries(2, db, [T0 + i * S for i in range(4)], ["level=error n=1"] * 4)
    )
    return lake


def test_instant_metric_query_counts_chunks_and_landing(tmp_path: Path) -> None:
    lake = make_lake(tmp_path)
    kind, rows = lake.logql(
        'sum by (app) (count_over_time({app=~".+"}[1m]))', "fake", start=0, end=T0 + 60 * S
    )
    assert kind == "metric"
    got = {dict(r["labels"])["app"]: r["value"] for r in rows.to_pylist()}
    # (T0, T0+60s]: the entries at T0 itself fall outside the left-open window.
    assert got == {"api": 9.0, "db": 3.0}


def test_range_metric_query_evaluates_every_step(tmp_path: Path) -> None:
    lake = make_lake(tmp_path)
    kind, rows = lake.logql(
        'count_over_time({app="api"}[5s])', "fake", start=T0 + 5 * S, end=T0 + 10 * S, step=5 * S
    )
    values = sorted((r["ts"], r["value"]) for r in rows.to_pylist())
    # windows are left-open: (t-5s, t]
    assert values == [(T0 + 5 * S, 5.0), (T0 + 10 * S, 4.0)]


def test_log_query_with_parser_and_filter(tmp_path: Path) -> None:
    lake = make_lake(tmp_path)
    kind, rows = lake.logql(
        '{app=~"api|db"} | logfmt | n > 7 or level="error"',
        "fake",
        start=T0,
        end=T0 + 60 * S,
        limit=3,
        direction="backward",
    )
    assert kind == "log"
    lines = [r["line"] for r in rows.to_pylist()]
    assert lines == ["level=info n=9", "level=info n=8", "level=error n=1"]
