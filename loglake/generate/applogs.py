"""Seeded generator of realistic application logs (logfmt), shared by the demo and benchmarks.

Main interface:

- `AppLogConfig`: how many streams, how much data, which time range, how much disorder.
- `generate_app_logs(config)`: yields `AppLogBatch(labels, timestamps_ns, lines)`, one stream's
  lines for one time window per batch; windows come in time order, so the output looks like
  what a fleet of shippers pushes.
- `loki_push_batches(config, lines_per_push)`: the same lines regrouped as Loki push requests,
  `{label string: [(ts_ns, line), ...]}`; `push_request_json` turns one into a JSON body.

A line looks like (about 140 bytes on average):

    ts=2024-05-01T00:00:01.042Z level=info method=GET path=/api/v1/orders/48213 status=200
    bytes=5120 duration=12.3ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736

(one line, wrapped here). Three kinds are mixed: HTTP access lines (~78%), application events
with a `caller` and a `msg` (~18%) and error lines with an `err` (~4%). Levels are mostly
`info`; status codes mostly 2xx with some 4xx (`warn`) and 5xx (`error`); durations are
lognormal; trace ids are random hex and paths carry ids, so the lines compress like real
logs rather than trivially.

Speed comes from doing the distribution work once: per application a pool of pre-rendered
line middles (level, method, path, status, ...) is drawn up front, and each line is then one
f-string over a pooled middle, a pooled duration, a cached timestamp prefix and a slice of
one `randbytes` hex string. Output depends only on the configuration (including `seed`).

>>> cfg = AppLogConfig(seed=7, streams=3, total_lines=6, batch_lines=6)
>>> batches = list(generate_app_logs(cfg))
>>> sum(len(b.lines) for b in batches)
6
>>> sorted(batches[0].labels)
['app', 'env', 'namespace', 'pod']
>>> batches[0].lines[0].startswith("ts=2024-05-01T")
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from loglake.ingest.labels import labels_text, parse_labels

NS_PER_SECOND = 1_000_000_000
DEFAULT_START_NS = 1_714_521_600 * NS_PER_SECOND
"""2024-05-01T00:00:00Z."""

MEAN_LINE_BYTES = 140
"""Design mean line length; `total_bytes` is turned into a line count with it."""

_POOL_SIZE = 8192
_DURATION_POOL_SIZE = 4096


@dataclass(frozen=True)
class AppLogConfig:
    """What to generate.

    Give `total_lines` or `total_bytes` (UTF-8 bytes of the lines, no newlines); with
    neither, 10,000 lines. `total_bytes` is met to within a few percent: it is divided by
    `MEAN_LINE_BYTES` to get the line count. Timestamps fall in `[start_ns, end_ns)` (end
    defaults to one hour after start); `out_of_order_fraction` of the lines are moved back by
    up to `max_out_of_order_ns`, so a stream is *slightly* out of order. Streams get Zipf-like
    shares of the lines (`stream_skew` 0 = equal shares).
    """

    seed: int = 0
    streams: int = 100
    total_lines: int | None = None
    total_bytes: int | None = None
    start_ns: int = DEFAULT_START_NS
    end_ns: int | None = None
    out_of_order_fraction: float = 0.01
    max_out_of_order_ns: int = 2 * NS_PER_SECOND
    stream_skew: float = 0.8
    batch_lines: int = 50_000

    def __post_init__(self) -> None:
        if self.streams < 1:
            raise ValueError(f"streams must be at least 1, got {self.streams}")
        if self.total_lines is not None and self.total_bytes is not None:
            raise ValueError("give total_lines or total_bytes, not both")
        if (self.total_lines or 0) < 0 or (self.total_bytes or 0) < 0:
            raise ValueError("total_lines and total_bytes must not be negative")
        if self.end_ns is not None and self.end_ns <= self.start_ns:
            raise ValueError("end_ns must be after start_ns")
        if not 0.0 <= self.out_of_order_fraction <= 1.0:
            raise ValueError("out_of_order_fraction must be within [0, 1]")
        if self.batch_lines < 1:
            raise ValueError("batch_lines must be at least 1")

    @property
    def lines(self) -> int:
        """The number of lines this configuration generates."""
        if self.total_lines is not None:
            return self.total_lines
        if self.total_bytes is not None:
            return math.ceil(self.total_bytes / MEAN_LINE_BYTES)
        return 10_000

    @property
    def end(self) -> int:
        """End of the time range (exclusive), in Unix nanoseconds."""
        return self.end_ns if self.end_ns is not None else self.start_ns + 3600 * NS_PER_SECOND


class AppLogBatch(NamedTuple):
    """Lines of one stream: its labels, entry timestamps (Unix ns) and logfmt lines."""

    labels: dict[str, str]
    timestamps_ns: list[int]
    lines: list[str]


PushBatch = dict[str, list[tuple[int, str]]]
"""One Loki push request: stream label string (`{app="x", env="prod"}`) → (ts_ns, line)."""


@dataclass(frozen=True)
class _App:
    name: str
    namespace: str
    resources: tuple[str, ...]


_APPS = (
    _App("api-gateway", "edge", ("orders", "users", "products", "sessions")),
    _App("checkout", "shop", ("checkout", "orders", "carts")),
    _App("cart", "shop", ("carts", "items")),
    _App("catalog", "shop", ("products", "categories", "prices")),
    _App("payments", "payments", ("payments", "refunds", "invoices")),
    _App("fraud-detector", "payments", ("scores", "rules")),
    _App("auth", "identity", ("tokens", "sessions", "keys")),
    _App("users", "identity", ("users", "profiles", "preferences")),
    _App("search", "search", ("search", "suggestions")),
    _App("recommendations", "search", ("recommendations", "models")),
    _App("notifications", "messaging", ("notifications", "subscriptions")),
    _App("email-sender", "messaging", ("emails", "templates")),
    _App("inventory", "warehouse", ("stock", "reservations", "skus")),
    _App("shipping", "warehouse", ("shipments", "labels", "rates")),
    _App("ingest-worker", "data", ("jobs", "batches")),
    _App("billing", "payments", ("accounts", "invoices", "usage")),
)

_ENVS = (("prod", 0.6), ("staging", 0.25), ("dev", 0.15))
_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_METHODS = (("GET", 0.72), ("POST", 0.17), ("PUT", 0.05), ("DELETE", 0.03), ("PATCH", 0.03))
_STATUSES = (
    (200, 0.80),
    (201, 0.06),
    (204, 0.04),
    (304, 0.02),
    (400, 0.025),
    (401, 0.012),
    (403, 0.005),
    (404, 0.02),
    (409, 0.003),
    (429, 0.004),
    (500, 0.004),
    (502, 0.002),
    (503, 0.003),
    (504, 0.001),
)
_EVENTS = (
    ("info", "cache.go", "cache refreshed", "entries", 0.3),
    ("info", "consumer.go", "batch committed", "offset", 0.2),
    ("info", "scheduler.go", "job finished", "job_id", 0.15),
    ("debug", "pool.go", "connection acquired", "pool_size", 0.12),
    ("info", "server.go", "client connected", "conns", 0.1),
    ("warn", "retry.go", "retrying request", "attempt", 0.08),
    ("warn", "limiter.go", "rate limit reached", "client_id", 0.05),
)
_ERRORS = (
    "context deadline exceeded",
    "dial tcp 10.{a}.{b}.{c}:5432: connect: connection refused",
    "rpc error: code = Unavailable desc = connection reset by peer",
    "pq: sorry, too many clients already",
    "read tcp 10.{a}.{b}.{c}:8080: i/o timeout",
    "unexpected EOF",
    "redis: connection pool timeout",
)
_PROBE_PATHS = ("/healthz", "/readyz", "/metrics")
_SUB_RESOURCES = ("status", "history", "items", "events")
_KIND_WEIGHTS = (0.78, 0.18, 0.04)  # access, event, error
_UNTRACED_ACCESS = 30  # percent
_TRACED = (" trace_id=", 32)
_UNTRACED = ("", 0)
_Middle = tuple[str, str, int]
"""A pooled line middle, the key introducing the trace id ("" for none), the id's length."""


def stream_labels(config: AppLogConfig) -> list[dict[str, str]]:
    """The label sets of the configured streams, in stream order.

    Applications are assigned round robin (16 apps in 9 namespaces), each stream gets an
    environment (prod 60%, staging 25%, dev 15%) and a unique Kubernetes-style pod name.

    >>> stream_labels(AppLogConfig(streams=2))[1]["app"]
    'checkout'
    """
    rng = random.Random(f"{config.seed}/streams")
    env_names = [e for e, _ in _ENVS]
    env_weights = [w for _, w in _ENVS]
    seen: set[str] = set()
    labels = []
    for i in range(config.streams):
        app = _APPS[i % len(_APPS)]
        pod = ""
        while not pod or pod in seen:
            replicaset = "".join(rng.choices(_POD_ALPHABET, k=rng.choice((9, 10))))
            pod = f"{app.name}-{replicaset}-{''.join(rng.choices(_POD_ALPHABET, k=5))}"
        seen.add(pod)
        env = rng.choices(env_names, env_weights)[0]
        labels.append({"app": app.name, "env": env, "namespace": app.namespace, "pod": pod})
    return labels


def _stream_shares(config: AppLogConfig) -> list[int]:
    """Lines per stream: Zipf-like weights in shuffled order, largest-remainder rounding."""
    rng = random.Random(f"{config.seed}/shares")
    ranks = list(range(config.streams))
    rng.shuffle(ranks)
    weights = [1.0 / (r + 1) ** config.stream_skew for r in ranks]
    scale = config.lines / sum(weights)
    exact = [w * scale for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(config.streams), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: config.lines - sum(shares)]:
        shares[i] += 1
    return shares


def _path(bits: int, app: _App) -> str:
    """A request path for `app`, every choice taken from the random integer `bits`."""
    resource = app.resources[bits % len(app.resources)]
    shape, bits = bits >> 8 & 127, bits >> 15
    if shape < 6:
        return _PROBE_PATHS[bits % len(_PROBE_PATHS)]
    if shape < 38:
        return f"/api/v1/{resource}"
    ident = f"{bits & 0xFFFFFFFFFFFF:012x}" if bits >> 48 & 3 == 0 else bits % 2_000_000 + 1
    if shape < 109:
        return f"/api/v1/{resource}/{ident}"
    return f"/api/v1/{resource}/{ident}/{_SUB_RESOURCES[bits >> 50 & 3]}"


def _middles(rng: random.Random, app: _App) -> list[_Middle]:
    """Pre-rendered line middles for one app: every field but ts, duration and trace id.

    Access and error lines carry a trace id unless the request was not sampled
    (`_UNTRACED_ACCESS`); application events carry none. Draws are made in bulk.
    """
    n = _POOL_SIZE
    kinds = rng.choices(range(3), _KIND_WEIGHTS, k=n)
    statuses = rng.choices([s for s, _ in _STATUSES], [w for _, w in _STATUSES], k=n)
    methods = rng.choices([m for m, _ in _METHODS], [w for _, w in _METHODS], k=n)
    events = rng.choices(_EVENTS, [e[-1] for e in _EVENTS], k=n)
    numbers = [rng.randrange(1, 100_000) for _ in range(n)]
    pool: list[_Middle] = []
    for kind, status, method, event, number in zip(
        kinds, statuses, methods, events, numbers, strict=True
    ):
        if kind == 0:
            level = "error" if status >= 500 else "warn" if status >= 400 else "info"
            size = 0 if status in (204, 304) else int(rng.lognormvariate(7.5, 1.3))
            path = _path(rng.getrandbits(64), app)
            middle = (
                f"level={level} method={method} path={path} status={status} bytes={size} duration="
            )
            pool.append((middle, *(_UNTRACED if number % 100 < _UNTRACED_ACCESS else _TRACED)))
        elif kind == 1:
            level, source, msg, key, _ = event
            value = number % 4 + 1 if key == "attempt" else number
            middle = (
                f'level={level} caller={source}:{number % 380 + 20} msg="{msg}" {key}={value} took='
            )
            pool.append((middle, *_UNTRACED))
        else:
            err = _ERRORS[number % len(_ERRORS)].format(
                a=number % 256, b=number // 256 % 256, c=number % 253 + 1
            )
            path = _path(rng.getrandbits(64), app)
            middle = (
                f'level=error caller=client.go:{number % 380 + 20} msg="request failed" '
                f'path={path} err="{err}" duration='
            )
            pool.append((middle, *_TRACED))
    return pool


def _durations(rng: random.Random) -> list[str]:
    """Lognormal request durations (median ~15 ms, long tail into seconds), rendered."""
    out = []
    for _ in range(_DURATION_POOL_SIZE):
        ms = rng.lognormvariate(math.log(15.0), 1.2)
        out.append(f"{ms:.1f}ms" if ms < 1000 else f"{ms / 1000:.2f}s")
    return out


class _SecondPrefix(dict[int, str]):
    """Unix second → `YYYY-MM-DDTHH:MM:SS`, rendered once per second on first use."""

    def __missing__(self, second: int) -> str:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        self[second] = text
        return text


_MILLIS = [f".{i:03d}Z" for i in range(1000)]


def generate_app_logs(config: AppLogConfig) -> Iterator[AppLogBatch]:
    """Yield the configured logs as per-stream batches, window by window in time order.

    The time range is cut into windows of about `config.batch_lines` lines; in each window
    every stream with lines there yields one `AppLogBatch`. Within a batch timestamps are
    ascending except for the configured out-of-order fraction. A stream's batches can be
    small when there are many streams; concatenate them if you need bigger ones.
    """
    total = config.lines
    if total == 0:
        return
    rng = random.Random(f"{config.seed}/lines")
    labels = stream_labels(config)
    shares = _stream_shares(config)
    app_index = {app.name: i for i, app in enumerate(_APPS)}
    pools: dict[int, list[_Middle]] = {}
    durations = _durations(random.Random(f"{config.seed}/durations"))
    seconds = _SecondPrefix()
    windows = math.ceil(total / config.batch_lines)
    span = config.end - config.start_ns
    for w in range(windows):
        w_start = config.start_ns + span * w // windows
        w_len = config.start_ns + span * (w + 1) // windows - w_start
        for stream, share in enumerate(shares):
            count = share * (w + 1) // windows - share * w // windows
            if count == 0:
                continue
            app = app_index[labels[stream]["app"]]
            if app not in pools:
                pools[app] = _middles(random.Random(f"{config.seed}/app/{app}"), _APPS[app])
            stamps = sorted(w_start + int(rng.random() * w_len) for _ in range(count))
            _disorder(rng, stamps, config)
            middles = rng.choices(pools[app], k=count)
            took = rng.choices(durations, k=count)
            trace_hex = rng.randbytes(16 * count).hex()
            lines = [
                f"ts={seconds[t // NS_PER_SECOND]}{_MILLIS[t % NS_PER_SECOND // 1_000_000]} "
                f"{m}{d}{key}{trace_hex[j : j + n]}"
                for t, (m, key, n), d, j in zip(
                    stamps, middles, took, range(0, 32 * count, 32), strict=True
                )
            ]
            yield AppLogBatch(dict(labels[stream]), stamps, lines)


def _disorder(rng: random.Random, stamps: list[int], config: AppLogConfig) -> None:
    """Move a fraction of the (sorted) timestamps back by up to `max_out_of_order_ns`."""
    expected = len(stamps) * config.out_of_order_fraction
    moved = int(expected) + (rng.random() < expected - int(expected))
    if moved == 0 or config.max_out_of_order_ns <= 0:
        return
    for i in rng.sample(range(len(stamps)), moved):
        shifted = stamps[i] - rng.randrange(1, config.max_out_of_order_ns + 1)
        stamps[i] = max(config.start_ns, shifted)


def loki_push_batches(config: AppLogConfig, lines_per_push: int = 1000) -> Iterator[PushBatch]:
    """Yield the generated lines as Loki push requests of `lines_per_push` lines each.

    Each request maps a stream's label string to its entries `(ts_ns, line)`, in the order
    `generate_app_logs` produces them (the last request may be smaller). This is the shape
    of Loki's protobuf `PushRequest` (labels as a string); see `push_request_json` for JSON.

    >>> pushes = list(loki_push_batches(AppLogConfig(streams=4, total_lines=25), 10))
    >>> [sum(len(v) for v in p.values()) for p in pushes]
    [10, 10, 5]
    """
    if lines_per_push < 1:
        raise ValueError("lines_per_push must be at least 1")
    pending: PushBatch = {}
    size = 0
    for batch in generate_app_logs(config):
        key = labels_text(batch.labels)
        entries = list(zip(batch.timestamps_ns, batch.lines, strict=True))
        while entries:
            take = entries[: lines_per_push - size]
            entries = entries[len(take) :]
            pending.setdefault(key, []).extend(take)
            size += len(take)
            if size == lines_per_push:
                yield pending
                pending, size = {}, 0
    if pending:
        yield pending


def push_request_json(batch: PushBatch) -> dict[str, object]:
    """A push batch as the JSON body of `POST /loki/api/v1/push`.

    >>> push_request_json({'{app="a"}': [(1, "x")]})
    {'streams': [{'stream': {'app': 'a'}, 'values': [['1', 'x']]}]}
    """
    return {
        "streams": [
            {"stream": dict(parse_labels(key)), "values": [[str(ts), line] for ts, line in entries]}
            for key, entries in batch.items()
        ]
    }
