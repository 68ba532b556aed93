"""A dbt-like project: SQL model files, a YAML of sources/descriptions/tests, the model graph.

Main interface: `load_project(path)` → `Project`, whose `models` are compiled for DuckDB
and ordered by `Project.order()`. A model file `NAME.sql` holds one SELECT that names its
inputs with `{{ ref('model') }}` and `{{ source('name', 'table') }}`; they render as plain
table names (a ref as the model's name, a source as its relation, e.g. `logs`). The
dependencies are then *found by parsing the compiled SQL with sqlglot* (every table the
query reads, less its own CTEs), never declared a second time; a table that is neither a
model nor a declared source is an error, as are an unknown `ref`/`source` and a cycle.

Templates are rendered by Jinja2's sandbox, which offers only `ref`, `source` and `var`:
model files are code of the project, but nothing in them can reach Python objects.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "a.sql").write_text("SELECT * FROM {{ source('loglake', 'logs') }}")
>>> _ = (root / "b.sql").write_text("WITH x AS (SELECT * FROM {{ ref('a') }}) SELECT * FROM x")
>>> _ = (root / "schema.yml").write_text("sources: [{name: loglake, tables: [{name: logs}]}]")
>>> project = load_project(root)
>>> [(m.name, m.depends_on) for m in project.order()]
[('a', ('logs',)), ('b', ('a',))]
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
import sqlglot.expressions as exp
import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

DEFAULT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_like_models"
"""The project shipped with loglake: the Hubble flow analytics models."""

DIALECT = "duckdb"


class ModelError(ValueError):
    """A project that cannot be compiled: the message names the model and the cause."""


@dataclass(frozen=True)
class ColumnTest:
    """One YAML test: `kind` is not_null, unique or accepted_values (with `values`)."""

    model: str
    kind: str
    columns: tuple[str, ...]
    values: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        """A readable id, like dbt's: `not_null_model_column`."""
        return f"{self.kind}_{self.model}_{'__'.join(self.columns)}"


@dataclass(frozen=True)
class Source:
    """A relation the models read but do not build (the lake's `logs`)."""

    source: str
    table: str
    description: str = ""


@dataclass(frozen=True)
class Model:
    """A compiled model: its SQL for DuckDB, the relations it reads and its YAML facts."""

    name: str
    path: Path
    sql: str
    depends_on: tuple[str, ...]
    description: str = ""
    columns: Mapping[str, str] = field(default_factory=dict)
    tests: tuple[ColumnTest, ...] = ()


@dataclass(frozen=True)
class Project:
    """Models by name, the declared sources and the dependency graph between them."""

    root: Path
    models: dict[str, Model]
    sources: dict[str, Source]

    def upstream_models(self, name: str) -> tuple[str, ...]:
        """The models `name` reads directly (its sources left out)."""
        return tuple(d for d in self.models[name].depends_on if d in self.models)

    def reads_sources(self, name: str) -> tuple[str, ...]:
        """The source relations `name` reads directly."""
        return tuple(d for d in self.models[name].depends_on if d not in self.models)

    def order(self, select: Iterable[str] | None = None) -> list[Model]:
        """Models in dependency order; with `select`, those models and their ancestors."""
        wanted = set(self.models) if select is None else self.with_ancestors(select)
        sorter = graphlib.TopologicalSorter(
            {n: self.upstream_models(n) for n in sorted(self.models)}
        )
        return [self.models[n] for n in sorter.static_order() if n in wanted]

    def with_ancestors(self, select: Iterable[str]) -> set[str]:
        """The selected models plus everything they read, transitively."""
        todo = list(select)
        for name in todo:
            if name not in self.models:
                raise ModelError(
                    f"unknown model {name!r}; models: {', '.join(sorted(self.models))}"
                )
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.upstream_models(name))
        return seen


def load_project(root: str | Path = DEFAULT_PROJECT) -> Project:
    """Read `root/*.sql` and `root/*.yml`, compile every model and check the graph."""
    root = Path(root)
    if not root.is_dir():
        raise ModelError(f"model project {root} is not a directory")
    config = _read_yaml(root)
    sources = _sources(config)
    model_config = {m["name"]: m for m in config.get("models", []) if isinstance(m, dict)}
    files = {p.stem: p for p in sorted(root.glob("*.sql"))}
    unknown_yaml = sorted(set(model_config) - set(files))
    if unknown_yaml:
        raise ModelError(f"schema YAML describes models without a .sql file: {unknown_yaml}")
    names = set(files)
    clash = names & {s.table for s in sources.values()}
    if clash:
        raise ModelError(f"models named like a source relation: {sorted(clash)}")
    models = {}
    for name, path in files.items():
        raw = path.read_text()
        sql = render(name, raw, names, sources)
        deps = find_dependencies(name, sql, names, {s.table for s in sources.values()})
        facts = model_config.get(name, {})
        models[name] = Model(
            name=name,
            path=path,
            sql=sql,
            depends_on=deps,
            description=str(facts.get("description", "")).strip(),
            columns={
                c["name"]: str(c.get("description", "")).strip() for c in facts.get("columns", [])
            },
            tests=_tests(name, facts),
        )
    project = Project(root, models, {s.table: s for s in sources.values()})
    _check_acyclic(project)
    return project


def render(name: str, raw: str, models: set[str], sources: Mapping[tuple[str, str], Source]) -> str:
    """Render one model's template: `ref()` and `source()` become table names."""

    def ref(target: str) -> str:
        if target not in models:
            raise ModelError(f"model {name!r}: ref({target!r}) names no model")
        return exp.to_identifier(target).sql(dialect=DIALECT)

    def source(source_name: str, table: str) -> str:
        found = sources.get((source_name, table))
        if found is None:
            raise ModelError(f"model {name!r}: source({source_name!r}, {table!r}) is not declared")
        return exp.to_identifier(found.table).sql(dialect=DIALECT)

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    try:
        return env.from_string(raw).render(ref=ref, source=source)
    except TemplateError as err:
        raise ModelError(f"model {name!r}: template error: {err}") from None


def find_dependencies(name: str, sql: str, models: set[str], sources: set[str]) -> tuple[str, ...]:
    """The relations a compiled model reads, from its sqlglot parse (CTE names excluded)."""
    try:
        tree = sqlglot.parse_one(sql, dialect=DIALECT)
    except sqlglot.errors.ParseError as err:
        raise ModelError(f"model {name!r}: SQL does not parse: {err}") from None
    if not isinstance(tree, exp.Query):
        raise ModelError(f"model {name!r}: a model is one SELECT, got {tree.key.upper()}")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found: list[str] = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or table.name in ctes:
            continue
        if table.name not in models and table.name not in sources:
            raise ModelError(
                f"model {name!r} reads {table.name!r}, which is neither a model nor a source; "
                "use {{ ref('…') }} or {{ source('…', '…') }}"
            )
        if table.name == name:
            raise ModelError(f"model {name!r} reads itself")
        if table.name not in found:
            found.append(table.name)
    return tuple(sorted(found))


def _check_acyclic(project: Project) -> None:
    graph = {n: project.upstream_models(n) for n in project.models}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        cycle = " -> ".join(reversed(err.args[1]))
        raise ModelError(f"models form a cycle: {cycle}") from None


def _read_yaml(root: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {"sources": [], "models": []}
    for path in sorted([*root.glob("*.yml"), *root.glob("*.yaml")]):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ModelError(f"{path.name}: invalid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ModelError(f"{path.name}: expected a mapping at the top level")
        for key in ("sources", "models"):
            merged[key].extend(data.get(key) or [])
    return merged


def _sources(config: Mapping[str, Any]) -> dict[tuple[str, str], Source]:
    sources = {}
    for entry in config.get("sources", []):
        for table in entry.get("tables", []):
            source = Source(entry["name"], table["name"], str(table.get("description", "")))
            sources[(source.source, source.table)] = source
    return sources


def _tests(model: str, facts: Mapping[str, Any]) -> tuple[ColumnTest, ...]:
    tests = []
    for column in facts.get("columns", []):
        for test in column.get("tests", []) or []:
            tests.append(_one_test(model, (column["name"],), test))
    for test in facts.get("tests", []) or []:
        kind, args = _test_kind(model, test)
        columns = tuple(args.get("columns", ())) if isinstance(args, dict) else ()
        if not columns:
            raise ModelError(f"model {model!r}: model-level test {kind} needs `columns`")
        tests.append(_one_test(model, columns, {kind: args}))
    return tuple(tests)


def _test_kind(model: str, test: Any) -> tuple[str, Any]:
    if isinstance(test, str):
        return test, {}
    if isinstance(test, dict) and len(test) == 1:
        return next(iter(test.items()))
    raise ModelError(f"model {model!r}: cannot read test {test!r}")


def _one_test(model: str, columns: tuple[str, ...], test: Any) -> ColumnTest:
    kind, args = _test_kind(model, test)
    if kind not in ("not_null", "unique", "accepted_values"):
        raise ModelError(f"model {model!r}: unknown test {kind!r}")
    values: tuple[Any, ...] = ()
    if kind == "accepted_values":
        values = tuple((args or {}).get("values", ()))
        if not values:
            raise ModelError(f"model {model!r}: accepted_values on {columns} needs `values`")
    return ColumnTest(model, kind, columns, values)
