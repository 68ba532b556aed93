"""The emitted `spark` SQL, run on Apache Spark in local mode over a Parquet fixture.

A representative subset of Loki's engine cases (`cases/spark_cases.txt`): each case's
streams are written as a Parquet file with the entry schema, read by Spark as the `logs`
view, and the rows of the Spark SQL are compared with Loki's expectation, as the DuckDB
engine-case test does. RE2 regexes rewritten for Java (`logql2sql.spark.java_regex`) are
checked on Spark against RE2's answers, and the constructs without a Spark form must raise
`UnsupportedInDialect`. Skipped when pyspark (or Java) is absent. Spark binds to 127.0.0.1
with its UI off; one session serves the module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlglot import exp

import logql2sql
from logql2sql import spark as spark_lowering
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.sqlbuild import fn, lit
from tests.logql2sql.engine_cases import (
    case_bounds,
    case_id,
    compare_rows,
    load_cases,
    write_fixture,
)
from tests.logql2sql.regex_checks import REGEX_CHECKS

pyspark_sql = pytest.importorskip("pyspark.sql", reason="pyspark not installed")
if shutil.which("java") is None:
    pytest.skip("java not installed", allow_module_level=True)
PySparkException = pytest.importorskip("pyspark.errors").PySparkException

LISTED = [
    line.split("\t")
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
        .config("spark.sql.adaptive.enabled", "false")
        # The fixtures are tiny: compiling generated Java for each plan costs more than
        # interpreting it (about 1.6x per case measured here), and the results are the same.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()


def _params():
    """Listed cases: `id<TAB>family` must pass, `id<TAB>family<TAB>reason` is a strict xfail."""
    for entry in LISTED:
        marks = [pytest.mark.xfail(strict=True, reason=entry[2])] if len(entry) > 2 else []
        yield pytest.param(entry[0], id=entry[0], marks=marks)


def run_on_spark(spark, tmp_path: Path, case: dict) -> list[tuple]:
    """The rows of a case's query, translated for Spark and run over its streams."""
    start, end, step = case_bounds(case)
    sql = logql2sql.translate(case["query"], dialect="spark", start=start, end=end, step=step)
    write_fixture(tmp_path / "logs.parquet", case["streams"])
    spark.read.parquet(str(tmp_path / "logs.parquet")).createOrReplaceTempView("logs")
    return [tuple(r) for r in spark.sql(sql).collect()]


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize("cid", list(_params()))
def test_spark_sql_gives_lokis_result(spark, tmp_path, cid):
    case = CASES[cid]
    if case["expected"]["kind"] == "fail":
        # Loki fails the query: so must the translation or Spark, with Loki's words.
        with pytest.raises((LogQLError, PySparkException)) as err:
            run_on_spark(spark, tmp_path, case)
        assert case["expected"].get("fail_msg_contains", "") in str(err.value)
        return
    status, detail = compare_rows(case, run_on_spark(spark, tmp_path, case))
    assert status == "pass", detail


def test_regexes_match_as_re2_on_spark(spark):
    columns = [
        fn("regexp_full_match" if full else "regexp_matches", lit(text), lit(pattern)).as_(f"c{i}")
        for i, (full, pattern, text, _) in enumerate(REGEX_CHECKS)
    ]
    sql = spark_lowering.adapt(exp.select(*columns)).sql(dialect="spark")
    got = list(spark.sql(sql).collect()[0])
    wrong = [(p, t, g) for (_, p, t, want), g in zip(REGEX_CHECKS, got, strict=True) if g != want]
    assert not wrong


@pytest.mark.parametrize(
    "query",
    [
        'count_over_time({app="a"} | json [1m])',
        'count_over_time({app="a"} | json user="u.id" [1m])',
        'count_over_time({app="a"} | unpack [1m])',
        'count_over_time({app="a"} |= ip("10.0.0.0/8") [1m])',
        'count_over_time({app="a"} | logfmt | addr = ip("10.0.0.1") [1m])',
        'count_over_time({app="a"} |~ "(?U)a+" [1m])',
    ],
)
def test_constructs_without_a_spark_form_are_refused(query):
    with pytest.raises(UnsupportedInDialect):
        logql2sql.translate(query, dialect="spark", start=0, end=60 * 10**9)
