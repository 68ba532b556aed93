"""Runs Loki's own engine evaluations (`logqltest_cases.jsonl`) through the emitted DuckDB SQL.

Each case's streams become an in-memory `logs` table with the lake's entry schema; the
query is compiled for the case's time (instant) or start/end/step (range), executed, and
the rows are compared with Loki's expected vector, matrix, scalar, empty result or failure
(whose message must contain the text Loki's case expects).
`python -m tests.logql2sql.engine_cases` prints the pass rate per source file.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from unittest import mock

import duckdb
import pyarrow as pa
import pytest

import logql2sql
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.lower import Lowerer
from storage.chunks import ChunkOptions, encode_chunk

ENTRY_SCHEMA = pa.schema(
    [
        ("fingerprint", pa.int64()),
        ("ts", pa.int64()),
        ("line", pa.string()),
        ("labels", pa.map_(pa.string(), pa.string())),
        ("structured_metadata", pa.map_(pa.string(), pa.string())),
    ]
)
CASES_FILE = Path("/work/shared/logql/logqltest_cases.jsonl")
KNOWN_FAILURES_FILE = Path(__file__).parent / "cases" / "engine_known_failures.txt"
"""The cases the translator is known to get wrong: strict xfails wherever cases run."""


def load_cases() -> list[dict]:
    """All engine cases, or none when the shared corpus is absent."""
    if not CASES_FILE.exists():
        return []
    return [json.loads(line) for line in CASES_FILE.read_text().splitlines() if line.strip()]


def case_id(case: dict) -> str:
    return f"{Path(case['file']).stem}:{case['line']}"


def listed_ids(path: Path) -> set[str]:
    """The case ids a list file names, one a line (`#` comments and blank lines skipped)."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def case_params(cases: list[dict], *xfails: tuple[set[str], str]) -> list:
    """One pytest parameter per case, id `case_id`; a strict xfail with the reason of the
    first `(ids, reason)` list that names it, so the lists stay truthful."""
    params = []
    for case in cases:
        reasons = [reason for ids, reason in xfails if case_id(case) in ids]
        marks = [pytest.mark.xfail(strict=True, reason=reasons[0])] if reasons else []
        params.append(pytest.param(case, id=case_id(case), marks=marks))
    return params


def takes_logfmt_path(query: str) -> bool:
    """Whether `query` is lowered by the logfmt path (`Lowerer.logfmt_samples`, which
    returns None where it does not apply), so that tests comparing it with the general
    lowering know they compare two implementations."""
    taken: list[bool] = []
    original = Lowerer.logfmt_samples

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        taken.append(out is not None)
        return out

    with mock.patch.object(Lowerer, "logfmt_samples", spy):
        logql2sql.compile(query, start=0, end=0, step=10**9, cache=False)
    return any(taken)


def _fingerprint(labels: dict[str, str]) -> int:
    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def write_fixture(path: Path, streams: list[dict]) -> None:
    """The case's streams as one Parquet file with the lake's entry schema, encoded as the
    lake encodes its chunks (what the Spark and ClickHouse tests read): so these engines
    are also shown to read real chunks. Rows are sorted by (fingerprint, ts), as chunks
    declare; identical entries are kept (Loki's engine cases count them)."""
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
    table = pa.table(cols, schema=ENTRY_SCHEMA).sort_by(
        [("fingerprint", "ascending"), ("ts", "ascending")]
    )
    path.write_bytes(encode_chunk(table, ChunkOptions()).to_pybytes())


def load_fixture(con: duckdb.DuckDBPyConnection, streams: list[dict]) -> None:
    """Bind `logs` to a case's streams (empty label values dropped), entry schema, and
    `streams` to its distinct (fingerprint, labels), as the executor binds both."""
    cols: dict[str, list] = {n: [] for n in ENTRY_SCHEMA.names}
    for stream in streams:
        labels = sorted((k, v) for k, v in stream["labels"].items() if v != "")
        fp = _fingerprint(dict(labels))
        for item in stream["entries"]:
            meta = item[2] if len(item) > 2 and item[2] else {}
            cols["fingerprint"].append(fp)
            cols["ts"].append(int(item[0]))
            cols["line"].append(item[1])
            cols["labels"].append(labels)
            cols["structured_metadata"].append(sorted(meta.items()))
    table = pa.table(cols, schema=ENTRY_SCHEMA)
    con.register("logs", table)
    con.register(
        "streams", con.sql("SELECT DISTINCT fingerprint, labels FROM logs").to_arrow_table()
    )


_SPECIAL_VALUES = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def expected_value(v) -> float | None:
    """A sample value: a number, or its text as Loki's JSON spells it (`1.5`, `NaN`,
    `+Inf`, `-Inf`)."""
    if v is None:
        return None
    if isinstance(v, str) and v in _SPECIAL_VALUES:
        return _SPECIAL_VALUES[v]
    return float(v)


def values_close(a: float | None, b: float | None) -> bool:
    """Sample values equal as Loki's tests compare them (NaN equals NaN)."""
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def label_key(labels: dict) -> tuple:
    """A label set as a sortable, hashable key."""
    return tuple(sorted(labels.items()))


def case_bounds(case: dict) -> tuple[int, int, int]:
    """(start, end, step) of a case, step 0 for an instant query."""
    if case["type"] == "instant":
        return int(case["time_ns"]), int(case["time_ns"]), 0
    return int(case["start_ns"]), int(case["end_ns"]), int(case["step_ns"])


def run_case(
    con: duckdb.DuckDBPyConnection, case: dict, streams: str | None = None
) -> tuple[str, str]:
    """('pass' | 'fail' | 'unsupported', detail) for one case; `streams`: the SQL reads
    stream labels from that relation, knowing its label names as the executor does (see
    `logql2sql.compile`)."""
    start, end, step = case_bounds(case)
    try:
        load_fixture(con, case["streams"])
        names = None
        if streams is not None:
            keys = con.sql("SELECT DISTINCT unnest(map_keys(labels)) FROM streams").fetchall()
            names = frozenset(k for (k,) in keys)
        compiled = logql2sql.compile(
            case["query"], start=start, end=end, step=step, streams=streams, stream_labels=names
        )
        rows = con.execute(compiled.sql).fetchall()
    except UnsupportedInDialect as err:
        return "unsupported", str(err)
    except (LogQLError, duckdb.Error) as err:
        if case["expected"]["kind"] != "fail":
            return "fail", f"error: {err}"
        # Loki's own error text must be part of ours.
        want = case["expected"].get("fail_msg_contains") or ""
        return ("pass", str(err)) if want in str(err) else ("fail", f"{want!r} not in {err}")
    return compare_rows(case, rows)


def compare_rows(case: dict, rows: list[tuple]) -> tuple[str, str]:
    """('pass' | 'fail', detail): metric rows `(ts, labels, value)` against the expectation."""
    expected = case["expected"]
    start, end, step = case_bounds(case)
    if expected["kind"] == "fail":
        return "fail", f"expected failure, got {len(rows)} rows"
    if expected["kind"] == "empty":
        return ("pass", "") if not rows else ("fail", f"expected empty, got {rows[:3]}")
    if expected["kind"] == "scalar":
        got = [float(r[2]) for r in rows]
        ok = len(got) == 1 and values_close(got[0], expected_value(expected["scalar"]))
        return ("pass", "") if ok else ("fail", f"scalar {got}")
    steps = [start] if step == 0 else list(range(start, end + 1, step))
    got: dict[tuple, list[float | None]] = {}
    for ts, labels, value in rows:
        series = got.setdefault(label_key(dict(labels)), [None] * len(steps))
        series[steps.index(ts)] = None if value is None else float(value)
    want = {
        label_key(s["labels"]): [expected_value(v) for v in s["values"]] for s in expected["series"]
    }
    if set(got) != set(want):
        return "fail", f"series {sorted(got)[:4]} != {sorted(want)[:4]}"
    for k, values in want.items():
        if not all(values_close(a, b) for a, b in zip(got[k], values, strict=True)):
            return "fail", f"values {k}: {got[k]} != {values}"
    return "pass", ""


def api_rows(data: dict) -> list[tuple[int, dict, float | None]]:
    """The `(ts, labels, value)` rows of a Loki query API result (`data` of a vector,
    matrix or scalar answer), as `compare_rows` reads the rows of the SQL."""

    def ns(seconds: float) -> int:
        return round(seconds * 1000) * 10**6

    if data["resultType"] == "scalar":
        t, v = data["result"]
        return [(ns(t), {}, expected_value(v))]
    return [
        (ns(t), series["metric"], expected_value(v))
        for series in data["result"]
        for t, v in (series["values"] if "values" in series else [series["value"]])
    ]


def main() -> None:
    con = duckdb.connect()
    per_file: dict[str, Counter] = {}
    for case in load_cases():
        status, detail = run_case(con, case)
        per_file.setdefault(Path(case["file"]).stem, Counter())[status] += 1
        if status != "pass":
            print(case_id(case), status, case["query"][:100], "|", detail[:200])
    total = Counter()
    for name, counts in sorted(per_file.items()):
        total += counts
        print(f"{name:22} {counts['pass']:4}/{sum(counts.values()):4}  {dict(counts)}")
    print(f"{'total':22} {total['pass']:4}/{sum(total.values()):4}  {dict(total)}")


if __name__ == "__main__":
    main()
