"""The route table: every query endpoint `loglake.query.api` answers is served over HTTP
with GET and POST (Loki takes both), each with an OpenAPI operation id of its own, and a
path the table does not hold is Loki's 404."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from loglake.config import Settings
from loglake.query import api
from loglake.server import create_app


def test_every_endpoint_of_the_table_is_routed_for_get_and_post(tmp_path: Path) -> None:
    app = create_app(Settings.model_validate({"storage": {"lake": str(tmp_path)}}))
    paths = app.openapi()["paths"]
    operation_ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path in (*api.ENDPOINTS, api.LABEL_VALUES):
        assert set(paths[f"/loki/api/v1/{path}"]) >= {"get", "post"}, path
    with TestClient(app) as client:
        assert client.get("/loki/api/v1/labels").status_code == 200
        assert client.post("/loki/api/v1/label/app/values").json()["status"] == "success"
        missing = client.get("/loki/api/v1/no_such_endpoint")
        assert missing.status_code == 404
