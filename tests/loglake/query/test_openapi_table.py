"""The OpenAPI parameters of Loki's query paths come from the route table
(`loglake.query.api.ENDPOINTS`, `LABEL_VALUES`) and, for the paths routed elsewhere, from
`openapi`: each path declares exactly the parameters Loki reads for it
(`pkg/loghttp/params.go`, `pkg/loghttp/query.go`), in Loki's order, and `/openapi.json`
serves them on both methods."""

from __future__ import annotations

from pathlib import Path

import pytest

from loglake.config import Settings
from loglake.query import api, openapi
from loglake.server import create_app

BOUNDS = ["start", "end", "since"]
DECLARED = {
    "query": ["query", "limit", "time", "direction"],
    "query_range": ["query", *BOUNDS, "step", "interval", "limit", "direction"],
    "labels": [*BOUNDS, "query"],
    "label": [*BOUNDS, "query"],
    "label/{name}/values": ["name", *BOUNDS, "query"],
    "series": ["match[]", *BOUNDS],
    "index/stats": ["query", *BOUNDS],
    "index/volume": ["query", *BOUNDS, "limit", "targetLabels", "aggregateBy"],
    "index/volume_range": ["query", *BOUNDS, "step", "limit", "targetLabels", "aggregateBy"],
    "detected_labels": ["query", *BOUNDS],
    "detected_fields": ["query", *BOUNDS, "line_limit", "limit", "field_limit", "step"],
    "detected_field/{name}/values": ["name", "query", *BOUNDS, "line_limit", "limit", "step"],
    "format_query": ["query"],
    "tail": ["query", "start", "limit", "delay_for"],
}
"""Every documented path and its parameters (path parameter first)."""


@pytest.mark.parametrize("path", sorted(DECLARED))
def test_each_path_declares_lokis_parameters(path: str) -> None:
    assert [p["name"] for p in openapi.parameters(path)] == DECLARED[path]


def test_the_route_table_holds_the_parameters_of_its_paths() -> None:
    table = api.parameter_names()
    assert set(table) == {*api.ENDPOINTS, api.LABEL_VALUES}
    for path, names in table.items():
        assert [n for n in DECLARED[path] if n != "name"] == list(names), path


def test_the_served_description_declares_them(tmp_path: Path) -> None:
    app = create_app(Settings.model_validate({"storage": {"lake": str(tmp_path)}}))
    paths = app.openapi()["paths"]
    for path, names in DECLARED.items():
        if path == "tail":  # a websocket: not an OpenAPI operation
            continue
        operations = paths[f"{openapi.PREFIX}{path}"]
        for method in ("get", "post"):
            declared = operations[method]["parameters"]
            assert [p["name"] for p in declared] == names, (path, method)
            array = [p for p in declared if p["schema"].get("type") == "array"]
            assert [p["name"] for p in array] == (["match[]"] if path == "series" else [])
