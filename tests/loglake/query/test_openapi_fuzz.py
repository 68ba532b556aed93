"""schemathesis against `/openapi.json`: generated requests for every operation of the
served description (Loki's query parameters declared as `loglake.query.openapi` describes
them) never get a 5xx. In process (ASGI), on a lake with a few pushed and flushed streams,
a bounded and derandomized number of examples per operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from loglake.config import load_settings
from loglake.server import create_app
from tests.loglake.query.conftest import BASE

schemathesis = pytest.importorskip("schemathesis")  # pinned in the dev extra

S = 10**9
EXAMPLES = 8


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app with data (flushed and landing), its OpenAPI description filled in."""
    lake = tmp_path_factory.mktemp("fuzz") / "lake"
    config = load_settings(lake=str(lake))
    config.limits_config = config.limits_config.model_validate(
        {**config.limits_config.model_dump(), "query_timeout": 5 * S}
    )
    app = create_app(config)
    with TestClient(app) as client:
        for app_name, flush in (("api", True), ("web", False)):
            values = [
                [str(BASE + i * S), f"level=info status={200 + i} msg=hello"] for i in range(20)
            ]
            body = {"streams": [{"stream": {"app": app_name}, "values": values}]}
            assert client.post("/loki/api/v1/push", json=body).status_code == 204
            if flush:
                app.state.lake.flush()
        yield app


@pytest.fixture(scope="module")
def loki_schema(served: Any) -> Any:
    """The served description, loaded by schemathesis from `/openapi.json`."""
    return schemathesis.openapi.from_asgi("/openapi.json", served)


def test_openapi_lists_loki_query_endpoints(served: Any) -> None:
    with TestClient(served) as client:
        paths = client.get("/openapi.json").json()["paths"]
    for path in ("query", "query_range", "labels", "series", "detected_fields"):
        operation = paths[f"/loki/api/v1/{path}"]["get"]
        assert "query" in {p["name"] for p in operation["parameters"]} or path == "series"
    values = paths["/loki/api/v1/detected_field/{name}/values"]["get"]["parameters"]
    assert [p["name"] for p in values if p["in"] == "path"] == ["name"]


VALID_QUERIES = [
    '{app="api"}',
    '{app=~".+"} |= "status" | logfmt | status >= 205',
    '{app="web"} | json | line_format "{{.msg}}"',
    'sum by (app) (rate({app=~".+"}[1m]))',
    'topk(2, sum by (status) (count_over_time({app="api"} | logfmt [5m])))',
    'quantile_over_time(0.9, {app="api"} | logfmt | unwrap status [1m]) by (app)',
    'sum(count_over_time({app="api"} | detected_level != "" [1m])) by (detected_level)',
    "vector(1)+vector(1)",
]
"""Valid LogQL, so that the other parameters are fuzzed past the query parser."""
RANGE = {"start": str(BASE - 3600 * S), "end": str(BASE + 3600 * S)}


def _strategies(operation: Any) -> list[tuple[str, Any]]:
    """Free positive and negative cases; for operations with a `query` parameter also
    cases with a valid query (and with valid bounds) and every other parameter fuzzed."""
    out = [
        ("positive", operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)),
        ("negative", operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE)),
    ]
    names = {p["name"] for p in operation.definition.raw.get("parameters", [])}
    if "query" in names:
        queries = st.sampled_from(VALID_QUERIES)
        out.append(
            ("valid query", queries.flatmap(lambda q: operation.as_strategy(query={"query": q})))
        )
        if {"start", "end"} <= names:
            bounded = queries.flatmap(lambda q: operation.as_strategy(query={"query": q, **RANGE}))
            out.append(("valid query and range", bounded))
    return out


def test_no_server_errors(loki_schema: Any) -> None:
    """Every operation: no 5xx. (schemathesis' own pytest plugin does not run under
    pytest 9, so the operations' strategies are driven here with Hypothesis.)"""
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in loki_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        for kind, strategy in _strategies(operation):

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call()
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} query={case.query} "
                        f"-> {response.status_code} {response.text[:200]!r}"
                    )

            try:
                run()
            except Unsatisfiable:
                # nothing to make invalid (no parameters, no body): positive cases only
                assert kind == "negative", operation.label
    assert calls > len(operations) * EXAMPLES
    assert not failures, "\n".join(failures[:20])


def test_fixture_data_is_there(served: Any) -> None:
    """The fuzzed app answers real queries (the run is not against an empty lake)."""
    with TestClient(served) as client:
        r = client.get(
            "/loki/api/v1/query_range",
            params={"query": '{app=~".+"}', "start": BASE - S, "end": BASE + 60 * S},
        )
    assert r.status_code == 200
    assert sum(len(s["values"]) for s in r.json()["data"]["result"]) == 40
