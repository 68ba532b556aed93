"""Model benchmark: building the Hubble models in the lake vs the same SQL on a flat Parquet.

Run: `python bench/models.py [--flows 10000000] [--days 2]`.

One run, same data: loglake's seeded flow generator writes `--flows` synthetic flows over
`--days` days; they are decoded by the Hubble decoder, landed and flushed into a lake. Then:

- lake: `build_models` materializes every model per day (per-day `logs` snapshot over the
  chunks, Parquet partitions, YAML tests run on each), wall-clock seconds per model;
- direct: the same compiled SQL of each model run by one DuckDB connection over a flat
  Parquet file of the same (ts, line, labels) rows, each model's result kept as a table for
  the next — the floor the framework adds its per-day partitioning, snapshots and writes to.

The figure per model is lake seconds / direct seconds (1.0 = no overhead); printed with the
rows, so a reader sees where the time goes. Machines here are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from loglake.config import load_settings  # noqa: E402
from loglake.generate.hubble import DEFAULT_START_NS, FlowConfig, generate_flow_lines  # noqa: E402
from loglake.hubble.flows import iter_hubble_entries  # noqa: E402
from loglake.ingest.labels import fingerprint  # noqa: E402
from loglake.lake import Lake  # noqa: E402
from loglake.models import build_models, load_project  # noqa: E402
from storage.landing import write_landing  # noqa: E402
from storage.schema import ENTRY_SCHEMA  # noqa: E402

console = Console()
BATCH = 200_000
DAY_NS = 86_400 * 1_000_000_000


def entries(lines: list[str]) -> pa.Table:
    """Decoded flow lines as lake entries (labels as the push path sets them)."""
    decoded = list(iter_hubble_entries(lines))
    labels = [{**e.labels, "service_name": "hubble"} for e in decoded]
    return pa.table(
        {
            "fingerprint": [fingerprint(tuple(sorted(lab.items()))) for lab in labels],
            "ts": [e.ts_ns for e in decoded],
            "line": [e.line for e in decoded],
            "labels": [sorted(lab.items()) for lab in labels],
            "structured_metadata": [[] for _ in decoded],
        },
        schema=ENTRY_SCHEMA,
    )


def load(lake: Lake, flat: Path, flows: int, days: int) -> int:
    """Generate, land and flush the flows; write the flat Parquet of the same rows."""
    config = FlowConfig(seed=42, flows=flows, end_ns=DEFAULT_START_NS + days * DAY_NS)
    writer: pq.ParquetWriter | None = None
    rows = 0
    lines = generate_flow_lines(config)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("generate + land", total=flows)
        while batch := list(itertools.islice(lines, BATCH)):
            table = entries(batch)
            write_landing(lake.store, "bench", table)
            flat_rows = table.select(["ts", "line", "labels"])
            if writer is None:
                writer = pq.ParquetWriter(flat, flat_rows.schema, compression="zstd")
            writer.write_table(flat_rows)
            rows += table.num_rows
            bar.advance(task, len(batch))
    if writer is not None:
        writer.close()
    started = time.perf_counter()
    lake.flush()
    console.print(f"flushed {rows:,} entries in {time.perf_counter() - started:.1f}s")
    return rows


def direct_seconds(flat: Path) -> dict[str, tuple[float, int]]:
    """Each model's SQL on one DuckDB over the flat Parquet: (seconds, rows). Results are
    fetched as Arrow, as the lake build fetches them, and registered for the next model."""
    con = duckdb.connect()
    con.read_parquet(str(flat)).create_view("logs")
    out = {}
    for model in load_project().order():
        started = time.perf_counter()
        result = con.sql(model.sql).to_arrow_table()
        con.register(model.name, result)
        out[model.name] = (time.perf_counter() - started, result.num_rows)
    con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake.open(load_settings(lake=str(Path(tmp) / "lake")))
        flat = Path(tmp) / "flows.parquet"
        rows = load(lake, flat, args.flows, args.days)

        lake_seconds: dict[str, float] = defaultdict(float)
        lake_rows: dict[str, int] = defaultdict(int)
        started = time.perf_counter()
        for result in build_models(lake.store, tenants=["bench"]):
            lake_seconds[result.model] += result.seconds
            lake_rows[result.model] += result.rows
        lake_total = time.perf_counter() - started
        direct = direct_seconds(flat)

    table = Table(title=f"{rows:,} flows over {args.days} days: build time per model")
    for column in ("model", "rows", "lake s", "direct s", "lake / direct"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for name, (seconds, _) in direct.items():
        ratio = lake_seconds[name] / seconds if seconds else float("nan")
        table.add_row(
            name,
            f"{lake_rows[name]:,}",
            f"{lake_seconds[name]:.2f}",
            f"{seconds:.2f}",
            f"{ratio:.2f}",
        )
    direct_total = sum(s for s, _ in direct.values())
    table.add_row("all", "", f"{lake_total:.2f}", f"{direct_total:.2f}",
                  f"{lake_total / direct_total:.2f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
