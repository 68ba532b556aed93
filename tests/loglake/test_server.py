"""The push API over a real `loglake serve` process: real clients push, data is read back
through SQL, bad input gets Loki's status and message and stores nothing, and a `kill -9`
loses no acknowledged line."""

from __future__ import annotations

import gzip
import logging
import threading
import time
import zlib
from pathlib import Path

import cramjam
import httpx
import pytest

from loglake.client import PushClient
from loglake.config import load_settings
from loglake.ingest.push_proto import encode_push
from loglake.lake import Lake
from loglake.metrics import Metrics
from loglake.server import run_flush
from storage.landing import list_landing, write_landing
from tests.storage.helpers import T0, entries

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def lake_at(url: str, endpoint: str | None = None) -> Lake:
    settings = load_settings(lake=url)
    settings.storage.s3.endpoint = endpoint
    return Lake.open(settings)


def lines_of(lake: Lake, tenant: str = "fake") -> list[str]:
    table = lake.sql("SELECT line FROM logs ORDER BY ts, line", tenant)
    return table.column("line").to_pylist()


def test_python_logging_loki_pushes_and_sql_reads_back(start_server, tmp_path: Path) -> None:
    import logging_loki

    server = start_server(str(tmp_path / "lake"))
    handler = logging_loki.LokiHandler(
        url=f"{server.addr}/loki/api/v1/push", tags={"application": "shop"}, version="1"
    )
    logger = logging.getLogger("loglake-test-shop")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.warning("payment declined", extra={"tags": {"region": "eu"}})
        logger.info("order placed")
    finally:
        logger.removeHandler(handler)
    lake = lake_at(str(tmp_path / "lake"))
    rows = lake.sql(
        "SELECT line, labels['application'] AS app, labels['severity'] AS severity, "
        "labels['service_name'] AS service FROM logs ORDER BY ts",
        "fake",
    ).to_pylist()
    assert rows == [
        {"line": "payment declined", "app": "shop", "severity": "warning", "service": "shop"},
        {"line": "order placed", "app": "shop", "severity": "info", "service": "shop"},
    ]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_json_protobuf_gzip_deflate_bodies(start_server, tmp_path: Path, request, backend) -> None:
    if backend == "s3":
        url, endpoint = request.getfixturevalue("s3_lake")
        server = start_server(url, {"storage": {"lake": url, "s3": {"endpoint": endpoint}}})
    else:
        url, endpoint = str(tmp_path / "lake"), None
        server = start_server(url)
    now = time.time_ns()
    proto = encode_push([('{job="p"}', [(now, "proto line", {"trace_id": "abc"})])])
    json_body = (
        b'{"streams":[{"stream":{"job":"j"},"values":[["%d","json line"],'
        b'["%d","json meta",{"user":"u1"}]]}]}' % (now + 1, now + 2)
    )
    gz = gzip.compress(json_body.replace(b"json", b"gzip"))
    deflated = zlib.compress(json_body.replace(b"json", b"deflate"))
    push = f"{server.addr}/loki/api/v1/push"
    assert httpx.post(push, content=proto, headers=PROTOBUF).status_code == 204
    for body, encoding in ((json_body, None), (gz, "gzip"), (deflated, "deflate")):
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if encoding:
            headers["Content-Encoding"] = encoding
        assert httpx.post(push, content=body, headers=headers).status_code == 204
    lake = lake_at(url, endpoint)
    rows = lake.sql(
        "SELECT line, structured_metadata AS sm FROM logs ORDER BY line", "fake"
    ).to_pylist()
    assert [(r["line"], dict(r["sm"])) for r in rows] == [
        ("deflate line", {}),
        ("deflate meta", {"user": "u1"}),
        ("gzip line", {}),
        ("gzip meta", {"user": "u1"}),
        ("json line", {}),
        ("json meta", {"user": "u1"}),
        ("proto line", {"trace_id": "abc"}),
    ]
    lake.flush()
    assert len(lines_of(lake)) == 7
    assert list_landing(lake.store) == []


BAD_INPUTS = [
    # (description, body, headers, settings, status, message)
    ("truncated protobuf", "truncated", {}, 400, "unexpected EOF"),
    ("bad snappy", b"\xff\x00not snappy", {}, 400, "snappy: corrupt input"),
    (
        "invalid JSON",
        b'{"streams": [',
        {"Content-Type": "application/json"},
        400,
        "invalid JSON: Expecting value: line 1 column 14 (char 13)",
    ),
    (
        "non-UTF-8 line",
        [('{job="a"}', "now", b"\xff\xfe bad")],
        {},
        400,
        'entry for stream \'{job="a", service_name="a"}\' has a line that is not valid UTF-8',
    ),
    (
        "bad label name",
        [('{job-x="a"}', "now", "x")],
        {},
        400,
        "couldn't parse labels: 1:5: parse error: unexpected character inside braces: '-'",
    ),
    (
        "line over max_line_size",
        [('{job="a"}', "now", "x" * 300)],
        {},
        400,
        "max entry size '256' bytes exceeded for stream '{job=\"a\", service_name=\"a\"}' "
        "while adding an entry with length '300' bytes",
    ),
    (
        "content encoding",
        "good",
        {"Content-Encoding": "br"},
        400,
        'Content-Encoding "br" not supported',
    ),
    ("no content type", "good", {"Content-Type": ""}, 400, "mime: no media type"),
    (
        "tenant with /",
        "good",
        {"X-Scope-OrgID": "a/b"},
        400,
        "tenant ID 'a/b' contains unsupported character '/'",
    ),
    ("tenant ..", "good", {"X-Scope-OrgID": ".."}, 400, "tenant ID is '.' or '..'"),
    (
        "tenant too long",
        "good",
        {"X-Scope-OrgID": "x" * 151},
        400,
        "tenant ID is too long: max 150 characters",
    ),
    ("no tenant", "good", {"X-Scope-OrgID": ""}, 401, "no org id"),
]


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    from loglake.serverprocess import ServerProcess

    workdir = tmp_path_factory.mktemp("strict")
    server = ServerProcess(
        str(workdir / "lake"),
        workdir,
        {"auth_enabled": True, "limits_config": {"max_line_size": 256}},
    ).start()
    yield server, workdir / "lake"
    server.stop()


@pytest.mark.parametrize(
    "body,headers,status,message", [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_gets_lokis_answer_and_stores_nothing(
    strict_server, body, headers, status, message
):
    server, lake_dir = strict_server
    now = time.time_ns()
    good = encode_push([('{job="a"}', [(now, "fine")])])
    if body == "good":
        body = good
    elif body == "truncated":
        raw = bytes(cramjam.snappy.decompress_raw(good))
        body = bytes(cramjam.snappy.compress_raw(raw[:-3]))
    elif isinstance(body, list):
        body = encode_push([(labels, [(now, line)]) for labels, _, line in body])
    sent = {**PROTOBUF, "X-Scope-OrgID": "tenant-a", **headers}
    response = httpx.post(f"{server.addr}/loki/api/v1/push", content=body, headers=sent)
    assert (response.status_code, response.text) == (status, message + "\n")
    assert list(lake_dir.glob("landing/**/*.arrow")) == []


@pytest.mark.parametrize("age_s,word", [(30 * 86400, "old"), (3600, "new")])
def test_timestamps_too_old_or_too_new_are_refused(strict_server, age_s, word) -> None:
    server, lake_dir = strict_server
    ts = time.time_ns() + (age_s if word == "new" else -age_s) * 10**9
    body = encode_push([('{job="a"}', [(ts, "late")])])
    response = httpx.post(
        f"{server.addr}/loki/api/v1/push", content=body, headers={**PROTOBUF, "X-Scope-OrgID": "t"}
    )
    assert response.status_code == 400
    assert f"has timestamp too {word}: " in response.text
    assert list(lake_dir.glob("landing/**/*.arrow")) == []


def test_rate_limit_answers_429(start_server, tmp_path: Path) -> None:
    server = start_server(
        str(tmp_path / "lake"),
        {"limits_config": {"ingestion_rate_mb": 0.001, "ingestion_burst_size_mb": 0.001}},
    )
    body = encode_push([('{job="a"}', [(time.time_ns(), "x" * 2000)])])
    response = httpx.post(f"{server.addr}/loki/api/v1/push", content=body, headers=PROTOBUF)
    assert response.status_code == 429
    assert response.text.startswith(
        "ingestion rate limit exceeded for user fake (limit: 1048 bytes/sec)"
    )


def test_kill_9_mid_push_loses_no_acknowledged_line(start_server, tmp_path: Path) -> None:
    lake_url = str(tmp_path / "lake")
    server = start_server(lake_url)
    acknowledged: list[str] = []
    stop = threading.Event()

    def pusher() -> None:
        client = PushClient(server.addr, max_retries=0)
        i = 0
        while not stop.is_set():
            batch = [f"batch {i} line {j}" for j in range(200)]
            now = time.time_ns()
            try:
                client.push({'{job="crash"}': [(now + j, line) for j, line in enumerate(batch)]})
            except Exception:
                return
            acknowledged.extend(batch)
            i += 1

    thread = threading.Thread(target=pusher)
    thread.start()
    while len(acknowledged) < 2000:
        time.sleep(0.01)
    server.kill()
    stop.set()
    thread.join()
    server.start()
    lake = lake_at(lake_url)
    lake.flush()
    stored = lines_of(lake)
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)
    # Only the batch in flight at the kill may be there without its acknowledgement.
    assert len(set(stored) - set(acknowledged)) <= 200


def test_concurrent_pushes_while_flushing(start_server, tmp_path: Path) -> None:
    lake_url = str(tmp_path / "lake")
    server = start_server(lake_url)
    lake = lake_at(lake_url)
    done = threading.Event()
    flushes = []

    def flusher() -> None:
        while not done.is_set():
            flushes.append(lake.flush().rows)

    def client(n: int) -> None:
        with PushClient(server.addr) as c:
            for i in range(30):
                now = time.time_ns()
                c.push({f'{{job="c{n}"}}': [(now + j, f"c{n} b{i} l{j}") for j in range(50)]})

    flush_thread = threading.Thread(target=flusher)
    flush_thread.start()
    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    done.set()
    flush_thread.join()
    lake.flush()
    stored = lines_of(lake)
    assert len(stored) == 4 * 30 * 50 == len(set(stored))
    assert sum(flushes) > 0  # the flushes really overlapped the pushes


def test_ready_and_metrics(start_server, tmp_path: Path) -> None:
    server = start_server(str(tmp_path / "lake"))
    assert httpx.get(f"{server.addr}/ready").text == "ready\n"
    with PushClient(server.addr) as client:
        client.push({'{job="m"}': [(time.time_ns(), "12345")]})
    text = httpx.get(f"{server.addr}/metrics").text
    assert 'loki_distributor_lines_received_total{tenant="fake"} 1.0' in text
    assert 'loki_distributor_bytes_received_total{tenant="fake"} 5.0' in text
    assert "loglake_landing_objects_total 1.0" in text
    assert "loglake_landing_batches_total 1.0" in text


def test_background_flush(start_server, tmp_path: Path) -> None:
    server = start_server(str(tmp_path / "lake"), {"lake": {"flush_interval": "200ms"}})
    with PushClient(server.addr) as client:
        client.push({'{job="bg"}': [(time.time_ns(), "flushed in the background")]})
    lake = lake_at(str(tmp_path / "lake"))
    deadline = time.monotonic() + 20
    while list_landing(lake.store) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list_landing(lake.store) == []
    assert lines_of(lake) == ["flushed in the background"]
    assert 'loglake_flushes_total{outcome="success"}' in httpx.get(f"{server.addr}/metrics").text


def test_a_background_flush_failing_for_one_tenant_counts_the_others_rows(
    tmp_path: Path, caplog
) -> None:
    lake = lake_at(str(tmp_path / "lake"))
    for tenant in ("a", "b"):
        write_landing(lake.store, tenant, entries(1, {"service_name": "api"}, [T0, T0 + 1]))
    (broken,) = list_landing(lake.store, "a")
    with open(lake.store.path(broken.key), "r+b") as f:
        f.truncate(broken.size // 2)
    metrics = Metrics()
    with caplog.at_level(logging.ERROR, logger="loglake.server"):
        run_flush(lake, metrics)
    assert "flush failed for tenant 'a'" in caplog.text
    sample = metrics.registry.get_sample_value
    assert sample("loglake_flushes_total", {"outcome": "error"}) == 1
    assert sample("loglake_flushed_rows_total") == 2
    assert sample("loglake_landing_backlog_objects") == 1
    assert lines_of(lake, "b") == [f"line ts={T0}", f"line ts={T0 + 1}"]


def test_per_tenant_overrides_from_the_runtime_config(start_server, tmp_path: Path) -> None:
    (tmp_path / "overrides.yaml").write_text("overrides:\n  small:\n    max_line_size: 10\n")
    server = start_server(
        str(tmp_path / "lake"),
        {"auth_enabled": True, "runtime_config": {"file": str(tmp_path / "overrides.yaml")}},
    )
    body = encode_push([('{job="a"}', [(time.time_ns(), "a line of 24 characters!")])])
    push = f"{server.addr}/loki/api/v1/push"
    small = httpx.post(push, content=body, headers={**PROTOBUF, "X-Scope-OrgID": "small"})
    other = httpx.post(push, content=body, headers={**PROTOBUF, "X-Scope-OrgID": "other"})
    assert small.status_code == 400 and "max entry size '10' bytes exceeded" in small.text
    assert other.status_code == 204
    lake = lake_at(str(tmp_path / "lake"))
    assert lines_of(lake, "other") == ["a line of 24 characters!"]
    assert lines_of(lake, "small") == []


def test_out_of_order_entries_are_accepted(start_server, tmp_path: Path) -> None:
    """Loki refuses entries more than ~1 h behind a stream's newest ("entry too far
    behind"); the lake has no such window, only `reject_old_samples_max_age`."""
    server = start_server(str(tmp_path / "lake"))
    now = time.time_ns()
    hour = 3600 * 10**9
    with PushClient(server.addr) as client:
        client.push({'{job="ooo"}': [(now, "newest")]})
        client.push({'{job="ooo"}': [(now - 3 * hour, "three hours behind")]})
        client.push({'{job="ooo"}': [(now - hour, "one hour behind")]})
    lake = lake_at(str(tmp_path / "lake"))
    assert lines_of(lake) == ["three hours behind", "one hour behind", "newest"]
    lake.flush()
    assert lines_of(lake) == ["three hours behind", "one hour behind", "newest"]
