"""The emitted `spark` SQL, run on Apache Spark in local mode over a Parquet fixture.

A representative subset of Loki's engine cases (`cases/spark_cases.txt`): each case's
streams are written as a Parquet file with the entry schema, read by Spark as the `logs`
view, and the rows of the Spark SQL are compared with Loki's expectation, as the DuckDB
engine-case test does. Skipped when pyspark (or Java) is absent. Spark binds to 127.0.0.1
with its UI off.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import logql2sql
from tests.logql2sql.engine_cases import (
    ENTRY_SCHEMA,
    _fingerprint,
    case_bounds,
    case_id,
    compare_rows,
    load_cases,
)

pyspark_sql = pytest.importorskip("pyspark.sql", reason="pyspark not installed")
if shutil.which("java") is None:
    pytest.skip("java not installed", allow_module_level=True)

LISTED = [
    line.split("\t", 1)
    for line in (Path(__file__).parent / "cases" / "spark_cases.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
CASES = {case_id(c): c for c in load_cases()}


@pytest.fixture(scope="module")
def spark():
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("logql2sql-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()


def write_fixture(path: Path, streams: list[dict]) -> None:
    """The case's streams as one Parquet file with the lake's entry schema."""
    cols: dict[str, list] = {n: [] for n in ENTRY_SCHEMA.names}
    for stream in streams:
        labels = sorted((k, v) for k, v in stream["labels"].items() if v != "")
        for item in stream["entries"]:
            meta = item[2] if len(item) > 2 and item[2] else {}
            cols["fingerprint"].append(_fingerprint(dict(labels)))
            cols["ts"].append(int(item[0]))
            cols["line"].append(item[1])
            cols["labels"].append(labels)
            cols["structured_metadata"].append(sorted(meta.items()))
    pq.write_table(pa.table(cols, schema=ENTRY_SCHEMA), path)


def _params():
    for entry in LISTED:
        marks = [pytest.mark.xfail(strict=True, reason=entry[1])] if len(entry) > 1 else []
        yield pytest.param(entry[0], id=entry[0], marks=marks)


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize("cid", list(_params()))
def test_spark_sql_gives_lokis_result(spark, tmp_path, cid):
    case = CASES[cid]
    start, end, step = case_bounds(case)
    sql = logql2sql.translate(case["query"], dialect="spark", start=start, end=end, step=step)
    write_fixture(tmp_path / "logs.parquet", case["streams"])
    spark.read.parquet(str(tmp_path / "logs.parquet")).createOrReplaceTempView("logs")
    rows = [tuple(r) for r in spark.sql(sql).collect()]
    status, detail = compare_rows(case, rows)
    assert status == "pass", detail
