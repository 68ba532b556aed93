"""Fixtures that start real components on 127.0.0.1 and stop them: an S3 API server
(moto's, as s3fs's own tests use) and loglake servers as separate processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loglake.serverprocess import ServerProcess
from logql2sql.lower import Lowerer

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on a random loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "loglake-test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "loglake-test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_lake(s3_server: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A fresh bucket for one test; yields (lake URL, endpoint)."""
    import boto3

    bucket = "lake-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    bucket = "".join(c for c in bucket if c.isalnum() or c == "-")
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/prefix", s3_server


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Factory: `start_server(lake, settings)` starts a server process, stopped at teardown."""
    started: list[ServerProcess] = []

    def start(lake: str, settings: dict | None = None) -> ServerProcess:
        server = ServerProcess(lake, tmp_path, settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def lowerings(monkeypatch: pytest.MonkeyPatch) -> list[Lowerer]:
    """Every `Lowerer` the compile module builds from now on (the translation and parse
    caches cleared first, so nothing is served from an earlier test)."""
    built: list[Lowerer] = []

    class Counting(Lowerer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    compile_module = sys.modules["logql2sql.compile"]  # the package exports `compile`
    compile_module.cache_clear()
    monkeypatch.setattr(compile_module, "Lowerer", Counting)
    return built
