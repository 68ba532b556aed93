"""The model graph and the YAML tests: refs resolve to dependencies found by sqlglot, unknown
refs/tables and cycles are clear errors, and a YAML test fails when its data breaks it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from loglake.models import ModelError, load_project, run_checks
from loglake.models.project import DEFAULT_PROJECT

SOURCES = "sources: [{name: loglake, tables: [{name: logs}]}]\n"


def project_dir(tmp_path: Path, models: dict[str, str], yaml: str = "") -> Path:
    for name, sql in models.items():
        (tmp_path / f"{name}.sql").write_text(sql)
    (tmp_path / "schema.yml").write_text(SOURCES + yaml)
    return tmp_path


def test_shipped_project_graph() -> None:
    project = load_project(DEFAULT_PROJECT)
    assert project.models["hubble_flows"].depends_on == ("logs",)
    assert project.models["dns_errors"].depends_on == ("dns_queries",)
    order = [m.name for m in project.order()]
    assert order[0] == "hubble_flows"
    assert order.index("dns_queries") < order.index("dns_errors")
    assert {m.name for m in project.order(["dns_errors"])} == {
        "hubble_flows",
        "dns_queries",
        "dns_errors",
    }
    # every model has a description from the YAML, and compiled SQL has no template left
    assert all(m.description for m in project.models.values())
    assert all("{{" not in m.sql for m in project.models.values())


def test_dependencies_come_from_the_sql_not_from_ctes(tmp_path: Path) -> None:
    root = project_dir(
        tmp_path,
        {
            "a": "SELECT ts FROM {{ source('loglake', 'logs') }}",
            "b": "SELECT ts FROM {{ ref('a') }}",
            "c": "WITH a2 AS (SELECT * FROM {{ ref('a') }}) "
            "SELECT * FROM a2 JOIN {{ ref('b') }} USING (ts)",
        },
    )
    project = load_project(root)
    assert project.models["c"].depends_on == ("a", "b")
    assert project.models["b"].depends_on == ("a",)


def test_unknown_ref_is_an_error(tmp_path: Path) -> None:
    root = project_dir(tmp_path, {"a": "SELECT * FROM {{ ref('missing') }}"})
    with pytest.raises(ModelError, match=r"model 'a': ref\('missing'\) names no model"):
        load_project(root)


def test_unknown_source_and_raw_table_are_errors(tmp_path: Path) -> None:
    root = project_dir(tmp_path, {"a": "SELECT * FROM {{ source('loglake', 'other') }}"})
    with pytest.raises(ModelError, match="is not declared"):
        load_project(root)
    (root / "a.sql").write_text("SELECT * FROM secrets")
    with pytest.raises(ModelError, match="reads 'secrets', which is neither a model nor a source"):
        load_project(root)


def test_cycle_is_an_error(tmp_path: Path) -> None:
    root = project_dir(
        tmp_path,
        {
            "a": "SELECT * FROM {{ ref('c') }}",
            "b": "SELECT * FROM {{ ref('a') }}",
            "c": "SELECT * FROM {{ ref('b') }}",
        },
    )
    with pytest.raises(ModelError, match=r"models form a cycle: (\w -> ){3}\w"):
        load_project(root)


def test_templates_cannot_reach_python(tmp_path: Path) -> None:
    root = project_dir(tmp_path, {"a": "SELECT {{ ref.__globals__ }}"})
    with pytest.raises(ModelError, match="template error"):
        load_project(root)


def test_not_a_select_is_an_error(tmp_path: Path) -> None:
    root = project_dir(tmp_path, {"a": "DELETE FROM {{ source('loglake', 'logs') }}"})
    with pytest.raises(ModelError, match="a model is one SELECT"):
        load_project(root)


def test_yaml_tests_pass_and_fail_on_data(tmp_path: Path) -> None:
    root = project_dir(
        tmp_path,
        {"m": "SELECT 1 AS k, 'x' AS v"},
        """
models:
  - name: m
    description: a model
    columns:
      - name: k
        tests: [not_null, unique]
      - name: v
        tests:
          - accepted_values: {values: [x, y]}
    tests:
      - unique: {columns: [k, v]}
""",
    )
    [model] = load_project(root).models.values()
    assert [t.name for t in model.tests] == [
        "not_null_m_k",
        "unique_m_k",
        "accepted_values_m_v",
        "unique_m_k__v",
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE m AS SELECT * FROM (VALUES (1, 'x'), (2, 'y')) t(k, v)")
    assert [r.failures for r in run_checks(con, "m", model.tests)] == [0, 0, 0, 0]
    con.execute("INSERT INTO m VALUES (NULL, 'z'), (2, 'y'), (3, NULL)")
    assert [r.failures for r in run_checks(con, "m", model.tests)] == [1, 1, 1, 1]


def test_bad_yaml_test_is_an_error(tmp_path: Path) -> None:
    yaml = "models: [{name: m, columns: [{name: k, tests: [positive]}]}]"
    root = project_dir(tmp_path, {"m": "SELECT 1 AS k"}, yaml)
    with pytest.raises(ModelError, match="unknown test 'positive'"):
        load_project(root)
    (root / "schema.yml").write_text(SOURCES + "models: [{name: gone}]")
    with pytest.raises(ModelError, match="without a .sql file"):
        load_project(root)
