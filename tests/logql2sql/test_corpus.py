"""The parser against Loki's corpora: every valid query parses and round-trips through
`format`, every invalid one is rejected with Loki's exact message.

Reads `/work/shared/logql/corpus.jsonl` in place (exact strings, including the one with
invalid UTF-8); skipped when the shared corpus is absent.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import logql2sql
from logql2sql.errors import ParseError

CORPUS = Path("/work/shared/logql/corpus.jsonl")
ROWS = (
    [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    if CORPUS.exists()
    else []
)


def _query(row: dict) -> str:
    if row.get("q_b64"):
        return base64.b64decode(row["q_b64"]).decode("utf-8", "surrogateescape")
    return row["q"]


VALID = [r for r in ROWS if r["status"] == "valid"]
INVALID = [r for r in ROWS if r["status"] == "invalid"]
V376_ONLY = [r for r in ROWS if r["status"] not in ("valid", "invalid")]


@pytest.mark.skipif(not VALID, reason="shared corpus absent")
def test_valid_queries_parse_and_round_trip():
    """All 2,733 queries Loki's HEAD parser accepts parse, and parse(format(e)) == e."""
    failures = []
    for row in VALID:
        q = _query(row)
        try:
            expr = logql2sql.parse(q)
            again = logql2sql.parse(logql2sql.format(expr))
        except logql2sql.LogQLError as err:
            failures.append((q, str(err)))
            continue
        if again != expr:
            failures.append((q, logql2sql.format(expr)))
    assert len(VALID) == 2733
    assert failures == []


@pytest.mark.skipif(not INVALID, reason="shared corpus absent")
def test_invalid_queries_rejected_with_lokis_message():
    """All 123 queries Loki rejects raise ParseError with Loki's own text."""
    mismatches = []
    for row in INVALID:
        q = _query(row)
        with pytest.raises(ParseError) as info:
            logql2sql.parse(q)
        if str(info.value) != row["head_error"]:
            mismatches.append((q, str(info.value), row["head_error"]))
    assert len(INVALID) == 123
    assert mismatches == []


@pytest.mark.skipif(not V376_ONLY, reason="shared corpus absent")
def test_v376_only_queries_rejected():
    """`variants(...) of (...)` and hex label-filter literals are gone at HEAD."""
    for row in V376_ONLY:
        with pytest.raises(ParseError):
            logql2sql.parse(_query(row))
