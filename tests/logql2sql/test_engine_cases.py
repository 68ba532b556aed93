"""Loki's own engine evaluations, run as DuckDB SQL emitted by logql2sql (meaning, not text).

One parametrized test over `/work/shared/logql/logqltest_cases.jsonl` (read in place; the
test is skipped when the shared corpus is absent). Cases listed in
`cases/engine_known_failures.txt` are strict xfails, so the list stays truthful.
"""

from __future__ import annotations

import duckdb
import pytest

from tests.logql2sql.engine_cases import (
    KNOWN_FAILURES_FILE,
    case_params,
    listed_ids,
    load_cases,
    run_case,
)

CASES = load_cases()


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize("streams", [None, "streams"], ids=["entry-labels", "streams"])
@pytest.mark.parametrize(
    "case", case_params(CASES, (listed_ids(KNOWN_FAILURES_FILE), "known gap, see report"))
)
def test_engine_case(con, case, streams):
    """The emitted SQL gives Loki's expected result (or fails where Loki fails), whether it
    reads each entry's labels or the streams relation the executor binds."""
    status, detail = run_case(con, case, streams)
    assert status == "pass", detail
