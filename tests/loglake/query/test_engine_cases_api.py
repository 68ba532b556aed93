"""Loki's engine cases (`logqltest_cases.jsonl`) end to end through the HTTP API: each
case's streams are pushed to a tenant of its own, the query goes through
`/loki/api/v1/query` or `/query_range`, and the JSON is compared with Loki's expectation.

The API step-aligns range queries as Loki's does, so only the range cases whose start and
end are already step multiples compare one-to-one (`../shared/reference/loki_observed.md`);
the others are not collected. The translator's known gaps
(`tests/logql2sql/cases/engine_known_failures.txt`) are strict xfails here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loglake.config import load_settings
from loglake.server import create_app
from tests.logql2sql.engine_cases import (
    KNOWN_FAILURES_FILE,
    api_rows,
    case_id,
    case_params,
    compare_rows,
    listed_ids,
    load_cases,
)

KNOWN_FAILURES = listed_ids(KNOWN_FAILURES_FILE)
API_KNOWN_FAILURES = listed_ids(Path(__file__).parent / "cases" / "api_known_failures.txt")


def _comparable(case: dict) -> bool:
    if case["type"] == "instant":
        return True
    step_ms = int(case["step_ns"]) // 10**6
    return all(int(case[k]) // 10**6 % step_ms == 0 for k in ("start_ns", "end_ns"))


CASES = [c for c in load_cases() if _comparable(c)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One server for all cases: auth on (a tenant per case), the cases' old timestamps
    accepted, no `service_name` derived (Loki's engine cases have none)."""
    settings = load_settings(lake=str(tmp_path_factory.mktemp("engine-lake")))
    settings.auth_enabled = True
    settings.limits_config = settings.limits_config.model_validate(
        {
            **settings.limits_config.model_dump(),
            "reject_old_samples": False,
            "discover_service_name": [],
        }
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _push(client: TestClient, tenant: str, streams: list[dict]) -> None:
    body = {"streams": []}
    for stream in streams:
        labels = {k: v for k, v in stream["labels"].items() if v != ""}
        values = [
            [str(e[0]), e[1], e[2]] if len(e) > 2 and e[2] else [str(e[0]), e[1]]
            for e in stream["entries"]
        ]
        body["streams"].append({"stream": labels, "values": values})
    if body["streams"]:
        r = client.post("/loki/api/v1/push", json=body, headers={"X-Scope-OrgID": tenant})
        assert r.status_code == 204, r.text


@pytest.mark.skipif(not CASES, reason="shared logqltest corpus absent")
@pytest.mark.parametrize(
    "case",
    case_params(
        CASES,
        (KNOWN_FAILURES, "logql2sql known gap"),
        (API_KNOWN_FAILURES, "lake dedup, see the list"),
    ),
)
def test_engine_case_through_api(client: TestClient, case: dict) -> None:
    """Loki's expected result (or failure, with Loki's message) comes back through the query
    API."""
    tenant = "case-" + case_id(case).replace(":", "-")
    _push(client, tenant, case["streams"])
    headers = {"X-Scope-OrgID": tenant}
    if case["type"] == "instant":
        params = {"query": case["query"], "time": case["time_ns"]}
        r = client.get("/loki/api/v1/query", params=params, headers=headers)
    else:
        start, end, step = int(case["start_ns"]), int(case["end_ns"]), int(case["step_ns"])
        params = {"query": case["query"], "start": str(start), "end": str(end)}
        params["step"] = repr(step / 1e9)
        r = client.get("/loki/api/v1/query_range", params=params, headers=headers)
    expected = case["expected"]
    if expected["kind"] == "fail":
        assert r.status_code >= 400, r.text[:300]
        assert expected.get("fail_msg_contains", "") in r.text, r.text[:300]
        return
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    if expected["kind"] == "scalar":
        assert data["resultType"] == "scalar"
    status, detail = compare_rows(case, api_rows(data))
    assert status == "pass", detail
