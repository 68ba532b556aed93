"""`loglake dagster` starts the Dagster webserver and daemon on a free loopback port: its
GraphQL API lists the housekeeping schedules and the sensors, a started landing sensor
triggers a flush run that succeeds, and the whole process group stops on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dagster_project.definitions import defs
from loglake.serverprocess import free_port
from storage.landing import list_landing, write_landing
from storage.objectstore import ObjectStore
from tests.storage.helpers import T0, entries

REPOSITORIES = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name } schedules { name } sensors { name } } } } }
"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
    __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
RUNS = """
{ runsOrError(filter: {pipelineName: "flush_job"}) { ... on Runs { results {
    runId status tags { key value } } } } }
"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_dagster_dev_lists_schedules_and_sensors_and_runs_a_sensor_flush(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    store = ObjectStore(str(lake))
    write_landing(store, "fake", entries(1, {"service_name": "api"}, [T0, T0 + 1]))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dagster.log").open("wb")
    loglake = Path(sys.executable).with_name("loglake")
    proc = subprocess.Popen(
        [str(loglake), "dagster", "--lake", str(lake), "--port", str(port)]
        + ["--dagster-home", str(tmp_path / "home")],
        cwd=Path(__file__).resolve().parents[3],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "dagster.log").read_text()
            try:
                return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 120, "the Dagster webserver")
        assert (tmp_path / "home" / "dagster.yaml").exists()

        def repository() -> dict | None:
            nodes = graphql(url, REPOSITORIES)["repositoriesOrError"].get("nodes") or []
            return nodes[0] if nodes else None

        repo = wait_for(repository, 60, "the code location")
        schedules = {s["name"] for s in repo["schedules"]}
        assert schedules == {s.name for s in defs.get_repository_def().schedule_defs}
        assert "landing_sensor" in {s["name"] for s in repo["sensors"]}

        selector = {
            "repositoryLocationName": repo["location"]["name"],
            "repositoryName": repo["name"],
            "sensorName": "landing_sensor",
        }
        started = graphql(url, START_SENSOR, {"selector": selector})["startSensor"]
        assert started["__typename"] == "Sensor", started
        assert started["sensorState"]["status"] == "RUNNING"

        def finished_run() -> dict | None:
            runs = graphql(url, RUNS)["runsOrError"]["results"]
            done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
            return done[0] if done else None

        run = wait_for(finished_run, 150, "a sensor-triggered flush run")
        assert run["status"] == "SUCCESS", (tmp_path / "dagster.log").read_text()[-3000:]
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags.get("dagster/sensor_name") == "landing_sensor"
        assert list_landing(store) == []
    finally:
        stop_group(proc)
        log.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the process group is left


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group (webserver, daemon, code servers), SIGKILL stragglers."""

    def alive() -> bool:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if not alive():
            break
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while alive() and time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not linger as a zombie
            time.sleep(0.2)
    proc.wait()
