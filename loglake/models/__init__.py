"""dbt-like SQL models over the lake: compile, order, build per day, test, register as views.

Main interface:

- `load_project(path)` → `Project` (models compiled for DuckDB, dependency graph found by
  parsing the SQL with sqlglot; `ModelError` for unknown refs, unknown tables and cycles);
- `build_models(store, project, tenants=…, select=…, days=…)` → per-(model, tenant, day)
  `PartitionBuild`s, Parquet under `models/<name>/tenant=…/date=…/` in the lake;
- `register_models(con, store, tenant)` → a DuckDB view per built model, next to `logs`
  (`register_model_views` also returns the files each view reads, for `allowed_paths`);
- `run_checks(con, relation, tests)` → the YAML tests (not_null, unique, accepted_values).

The project shipped with loglake is `dbt_like_models/` (Hubble flow analytics).
"""

from loglake.models.build import (
    PartitionBuild,
    build_models,
    model_files,
    register_model_views,
    register_models,
)
from loglake.models.checks import CheckResult, run_checks
from loglake.models.project import DEFAULT_PROJECT, Model, ModelError, Project, load_project

__all__ = [
    "DEFAULT_PROJECT",
    "CheckResult",
    "Model",
    "ModelError",
    "PartitionBuild",
    "Project",
    "build_models",
    "load_project",
    "model_files",
    "register_model_views",
    "register_models",
    "run_checks",
]
