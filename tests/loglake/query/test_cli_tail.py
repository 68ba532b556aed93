"""`loglake query --tail`, as `logcli query --tail`: a real `python -m loglake` child follows
a log query through a real server's websocket (`--addr`) or on the lake itself (`--lake`),
prints what was already there and then each entry pushed while it runs, once and in order,
and ends with status 0 on SIGTERM. Refused tails print the server's error and exit 1."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loglake.cli import app
from loglake.client import PushClient
from loglake.config import load_settings
from loglake.server import create_app
from tests.threadserver import ThreadServer

ROOT = Path(__file__).resolve().parents[3]
SELECTOR = '{app="tailed"}'
runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path):
    """A real server on a loopback port over a fresh lake: (lake path, url)."""
    lake = str(tmp_path / "lake")
    with ThreadServer(create_app(load_settings(lake=lake))) as server:
        yield lake, server.url


def _target(kind: str, lake: str, url: str) -> list[str]:
    return ["--addr", url] if kind == "addr" else ["--lake", lake]


class _Tail:
    """A `loglake query --tail` child whose stdout lines arrive on a queue."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loglake", "query", "--tail", SELECTOR, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def take(self, n: int, timeout: float = 60) -> list[str]:
        deadline, out = time.monotonic() + timeout, []
        while len(out) < n:
            left = deadline - time.monotonic()
            assert left > 0 and self.proc.poll() is None, (out, self.proc.stderr.read())
            try:
                out.append(self.lines.get(timeout=min(left, 1)))
            except queue.Empty:
                continue
        return out

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.mark.parametrize("kind", ["addr", "lake"])
def test_tail_prints_existing_then_new_entries_once(served, kind: str) -> None:
    lake, url = served
    now = time.time_ns()
    with PushClient(url) as client:
        client.push({SELECTOR: [(now - 2 * 10**9, "already there")]})
        client.push({'{app="other"}': [(now - 10**9, "not selected")]})
        tail = _Tail(*_target(kind, lake, url), "--output", "raw")
        try:
            assert tail.take(1) == ["already there"]
            pushed = [f"live {i}" for i in range(3)]
            for line in pushed:
                client.push({SELECTOR: [(time.time_ns(), line)]})
            assert tail.take(3) == pushed
            time.sleep(2.5)  # more than two polls: nothing is sent twice
            assert tail.lines.empty()
        finally:
            code = tail.stop()
    assert code == 0


def test_tail_output_default_shows_time_and_labels(served) -> None:
    lake, url = served
    ts = time.time_ns() - 10**9
    with PushClient(url) as client:
        client.push({SELECTOR: [(ts, "hello")]})
    tail = _Tail("--addr", url)
    try:
        (line,) = tail.take(1)
    finally:
        assert tail.stop() == 0
    assert line.endswith(' {app="tailed", service_name="tailed"} hello')
    assert line.startswith(time.strftime("%Y-%m-%dT", time.gmtime(ts / 1e9)))


@pytest.mark.parametrize("kind", ["addr", "lake"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--delay-for", "6"], "delay_for can't be greater than 5"),
        (["--limit", "0"], "limit must be a positive value"),
    ],
)
def test_refused_tail_prints_the_error(served, kind: str, args: list[str], message: str) -> None:
    lake, url = served
    result = runner.invoke(app, ["query", "--tail", SELECTOR, *_target(kind, lake, url), *args])
    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.parametrize("kind", ["addr", "lake"])
def test_a_metric_query_cannot_be_tailed(served, kind: str) -> None:
    lake, url = served
    query = f"sum(rate({SELECTOR}[1m]))"
    result = runner.invoke(app, ["query", "--tail", query, *_target(kind, lake, url)])
    assert result.exit_code == 1
    assert "only log selector is supported" in result.output


def test_a_tail_on_the_lake_reads_one_tenant(served) -> None:
    lake, url = served
    result = runner.invoke(app, ["query", "--tail", SELECTOR, "--lake", lake, "--org-id", "a|b"])
    assert result.exit_code == 1
    assert "multiple org IDs present" in result.output


def test_dropped_entries_are_listed_on_stderr_as_logcli_does(capsys) -> None:
    """loglake's server never drops entries, but a Loki server tells a slow client which
    it dropped: logcli lists them on stderr, and so does `query --tail --addr`."""
    from loglake.livetail import print_dropped

    print_dropped([{"labels": {"app": "a"}, "timestamp": "1700000000000000000"}])
    print_dropped([])
    err = capsys.readouterr().err
    assert err == (
        'Server dropped following entries due to slow client\n1700000000000000000 {app="a"}\n'
    )
