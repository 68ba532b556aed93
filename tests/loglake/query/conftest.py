"""Fixtures for the query API tests: an in-process loglake app on a fresh local lake,
driven through HTTP by Starlette's TestClient (push and query through the real routes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loglake.config import load_settings
from loglake.server import create_app

HOUR = 3600 * 10**9
BASE = (time.time_ns() - 3 * HOUR) // HOUR * HOUR
"""A whole hour, three hours ago: pushed data is recent enough for the default limits."""


class Api:
    """A TestClient with push/query helpers for one tenant header (or none)."""

    def __init__(self, client: TestClient, lake: Path) -> None:
        self.client = client
        self.lake = lake

    def push(self, streams: list[dict[str, Any]], tenant: str | None = None) -> None:
        """Push JSON streams `{"stream": {...}, "values": [[ns, line], ...]}`; expect 204."""
        body = {
            "streams": [
                {"stream": s["stream"], "values": [[str(v[0]), *v[1:]] for v in s["values"]]}
                for s in streams
            ]
        }
        headers = {"X-Scope-OrgID": tenant} if tenant else {}
        response = self.client.post("/loki/api/v1/push", json=body, headers=headers)
        assert response.status_code == 204, response.text

    def get(self, path: str, tenant: str | None = None, **params: Any):
        """GET `/loki/api/v1/<path>` with parameters."""
        headers = {"X-Scope-OrgID": tenant} if tenant else {}
        return self.client.get(f"/loki/api/v1/{path}", params=params, headers=headers)

    def flush(self) -> None:
        """Turn landing into chunks and manifests, so queries read chunk files."""
        self.client.app.state.lake.flush()


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Factory: `make_api(auth_enabled=False, **limits)` → an `Api` on a fresh lake."""
    opened: list[TestClient] = []

    def make(auth_enabled: bool = False, **limits: Any) -> Api:
        lake = tmp_path / f"lake{len(opened)}"
        settings = load_settings(lake=str(lake))
        settings.auth_enabled = auth_enabled
        settings.limits_config = settings.limits_config.model_validate(
            {**settings.limits_config.model_dump(), **limits}
        )
        client = TestClient(create_app(settings))
        client.__enter__()
        opened.append(client)
        return Api(client, lake)

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """An `Api` without auth (tenant `fake`)."""
    return make_api()
