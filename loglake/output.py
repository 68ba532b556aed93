"""Writing query results: a rich table on the terminal, CSV / JSON / Parquet files, or log
entries as logcli prints them (`format_entry`).

Map columns (labels, structured metadata) are shown as `{name="value", …}` in tables and
CSV, the way Loki prints label sets; JSON output converts values as the SQL API does
(`loglake.jsonvalues`: maps as objects at any depth, non-finite floats as Loki's strings).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from loglake.ingest.labels import labels_text
from loglake.jsonvalues import json_columns

FORMATS = ("table", "csv", "json", "parquet")


def _is_map(t: pa.DataType) -> bool:
    return pa.types.is_map(t)


def _label_text(pairs: list[tuple[str, str]] | None) -> str:
    if pairs is None:
        return ""
    inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(pairs))
    return "{" + inner + "}"


def _flatten_maps(table: pa.Table) -> pa.Table:
    """Replace map columns with their `{k="v"}` text (for tables and CSV)."""
    for i, f in enumerate(table.schema):
        if _is_map(f.type):
            text = pa.array([_label_text(v) for v in table.column(i).to_pylist()], pa.string())
            table = table.set_column(i, f.name, text)
    return table


def _json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as objects, their values converted as every JSON answer is (`jsonvalues`)."""
    names = table.column_names
    return [dict(zip(names, row, strict=True)) for row in zip(*json_columns(table), strict=True)]


def write_result(
    table: pa.Table, fmt: str = "table", output: str | None = None, stream: TextIO | None = None
) -> None:
    """Write a result in `fmt` to `output` (a path) or the terminal."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        if not output:
            raise ValueError("--format parquet needs --output FILE")
        pq.write_table(table, output, compression="zstd")
        return
    if fmt == "csv":
        flat = _flatten_maps(table)
        if output:
            pacsv.write_csv(flat, output)
        else:
            sink = pa.BufferOutputStream()
            pacsv.write_csv(flat, sink)
            (stream or sys.stdout).write(sink.getvalue().to_pybytes().decode())
        return
    if fmt == "json":
        text = json.dumps(_json_rows(table), default=str, ensure_ascii=False, indent=1)
        if output:
            Path(output).write_text(text + "\n")
        else:
            (stream or sys.stdout).write(text + "\n")
        return
    console = Console(file=open(output, "w") if output else stream)  # noqa: SIM115
    rich_table = Table(show_lines=False)
    flat = _flatten_maps(table)
    for name in flat.column_names:
        rich_table.add_column(name, overflow="fold")
    for row in flat.to_pylist():
        rich_table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(rich_table)
    console.print(f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}", style="dim")
    if output:
        console.file.close()


def rfc3339(ns: int) -> str:
    """A nanosecond time as logcli prints it (RFC 3339, UTC, trailing zeros dropped)."""
    moment = datetime.fromtimestamp(ns // 10**9, tz=UTC)
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def format_entry(ts: int, line: str, labels: dict[str, str], output: str) -> str:
    """One log entry as logcli prints it: `default`, `raw` or `jsonl`."""
    if output == "raw":
        return line
    if output == "jsonl":
        record = {"labels": labels, "line": line, "timestamp": rfc3339(ts)}
        return json.dumps(record, ensure_ascii=False)
    return f"{rfc3339(ts)} {labels_text(labels)} {line}"
