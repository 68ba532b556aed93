"""`sqlbuild.fn` builds the very node `exp.func` builds, with its builder looked up once."""

from __future__ import annotations

import pytest
from sqlglot import exp

from logql2sql.sqlbuild import _data_type, cast, col, fn, lit, negate, num

NAMES = [
    "regexp_matches",  # a typed node
    "regexp_extract",  # a builder that takes the dialect
    "list_transform",
    "coalesce",
    "greatest",
    "strlen",  # unknown to sqlglot: an anonymous call
    "epoch_ns",
    "map_extract",
]


@pytest.mark.parametrize("name", NAMES)
def test_fn_builds_what_exp_func_builds(name):
    args = (col("line"), lit("x"))
    ours, theirs = fn(name, *args), exp.func(name, *args, dialect="duckdb")
    assert type(ours) is type(theirs)
    assert ours == theirs
    assert ours.sql("duckdb") == theirs.sql("duckdb")
    again = fn(name, col("line"), lit("x"))  # the second call takes the remembered path
    assert again.sql("duckdb") == theirs.sql("duckdb")


def test_fn_without_arguments_and_with_text():
    assert fn("map").sql("duckdb") == exp.func("map", dialect="duckdb").sql("duckdb")
    assert fn("abs", num(-2)).sql("duckdb") == "ABS(-2)"


def test_data_types_are_fresh_nodes():
    flat, nested = _data_type("DOUBLE"), _data_type("MAP(VARCHAR, VARCHAR)")
    assert flat is not _data_type("DOUBLE") and nested is not _data_type("MAP(VARCHAR, VARCHAR)")
    assert nested.expressions[0] is not _data_type("MAP(VARCHAR, VARCHAR)").expressions[0]
    assert cast(col("v"), "MAP(VARCHAR, VARCHAR)").sql("duckdb") == ("CAST(v AS MAP(TEXT, TEXT))")
    assert cast(col("v"), "HUGEINT").sql("duckdb") == "CAST(v AS INT128)"


def test_columns_with_and_without_table():
    assert col("line").sql("duckdb") == "line"
    assert col("line", "e").sql("duckdb") == "e.line"
    assert col("line") == exp.column("line")


def test_negate_keeps_a_connector_whole():
    a, b = col("a"), col("b")
    assert negate(exp.or_(a, b)).sql("duckdb") == "NOT (a OR b)"
    assert negate(exp.and_(a.copy(), b.copy())).sql("duckdb") == "NOT (a AND b)"
    assert negate(col("c")).sql("duckdb") == "NOT c"
