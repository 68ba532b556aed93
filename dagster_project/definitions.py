"""Dagster entry point: `dagster dev -m dagster_project.definitions`.

Loads every module of `dagster_project/defs/` and collects what each defines in the
module-level lists `assets`, `asset_checks`, `jobs`, `schedules` and `sensors` (and extra
`resources`), so adding an area is adding a file. The logic they orchestrate lives in
`storage/` and `loglake/`.
"""

import importlib
import pkgutil

from dagster import Definitions, EnvVar

from dagster_project import defs as defs_package
from dagster_project.defs.resources import LakeResource

KINDS = ("assets", "asset_checks", "jobs", "schedules", "sensors")


def load_defs() -> Definitions:
    """Definitions gathered from every module in `dagster_project.defs`."""
    found: dict[str, list] = {kind: [] for kind in KINDS}
    resources = {"lake": LakeResource(lake=EnvVar("LOGLAKE_LAKE"))}
    for info in sorted(pkgutil.iter_modules(defs_package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{defs_package.__name__}.{info.name}")
        for kind in KINDS:
            found[kind].extend(getattr(module, kind, ()))
        resources.update(getattr(module, "resources", {}))
    return Definitions(**found, resources=resources)


defs = load_defs()
