"""Loki's own engine evaluations, run as DuckDB SQL emitted by logql2sql (meaning, not text).

One parametrized test over `/work/shared/logql/logqltest_cases.jsonl` (read in place; the
test is skipped when the shared corpus is absent). Cases listed in
`cases/engine_known_failures.txt` are strict xfails, so the list stays truthful.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.logql2sql.engine_cases import case_id, load_cases, run_case

KNOWN_FAILURES = {
    line.strip()
    for line in (Path(__file__).parent / "cases" / "engine_known_failures.txt")
    .read_text()
    .splitlines()
    if line.strip() and not line.startswith("#")
}
CASES = load_cases()


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _params():
    for case in CASES:
        marks = []
        if case_id(case) in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(strict=True, reason="known gap, see report"))
        yield pytest.param(case, id=case_id(case), marks=marks)


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize("streams", [None, "streams"], ids=["entry-labels", "streams"])
@pytest.mark.parametrize("case", list(_params()))
def test_engine_case(con, case, streams):
    """The emitted SQL gives Loki's expected result (or fails where Loki fails), whether it
    reads each entry's labels or the streams relation the executor binds."""
    status, detail = run_case(con, case, streams)
    assert status == "pass", detail
