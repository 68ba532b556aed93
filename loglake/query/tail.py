"""Live tail: the entries of a log query as they become visible, oldest first.

`tailing` first sends the newest `limit` entries since `start` (Loki's tailer sends that
much history, not all of it), then polls the lake once a second for entries newer than
the last one sent (and at least `delay_for` old, as Loki's `delay_for` lets late entries
arrive first) and yields them as Loki's `streams`. A push is visible as soon as it is
acknowledged (landing), so a tail sees new entries within about a second.

`stream_tail` serves one websocket: it sends the batches and, as Loki's handler reads the
client's side, watches for the client going away, so a tail whose client left stops
polling even when no entry comes to fail a send.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from loglake.query.errors import QueryError, parse_log_query
from loglake.query.executor import Executor, QueryRequest
from loglake.query.params import TailQuery

POLL_SECONDS = 1.0
_POLLS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="loglake-tail")
"""Where polls run. A tail that ends (its client left, the server stops) abandons the poll
it was waiting for instead of waiting for it; these threads are joined when the
interpreter exits, so an abandoned poll finishes before DuckDB is torn down (a daemon
thread still inside a query then aborts the process)."""
_LOG_STEP = 10**9  # log queries ignore the step; non-zero marks a range evaluation


async def tailing(
    executor: Executor, tenants: Sequence[str], tail: TailQuery
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield batches of new entries as Loki's streams, forever."""
    # Loki's tail request parser accepts any query; a metric query is refused after the
    # upgrade, by the ingesters' log-selector parse, in these words.
    parse_log_query(tail.query, "only log selector is supported")
    cursor = tail.start
    # History first, as Loki's tailer sends it: the newest `limit` entries since `start`
    # (one backward query), oldest first; live entries follow from there.
    end = time.time_ns() - tail.delay_for
    if end > cursor:
        history = await _entries(executor, tenants, tail, cursor, end, "backward")
        if history:
            yield [{**s, "values": s["values"][::-1]} for s in history]
        cursor = end
    while True:
        end = time.time_ns() - tail.delay_for
        if end > cursor:
            streams = await _entries(executor, tenants, tail, cursor, end, "forward")
            newest = [int(v[0]) for s in streams for v in s["values"]]
            if newest:
                cursor = max(newest) + 1
                yield streams
                continue
            cursor = end
        await asyncio.sleep(POLL_SECONDS)


async def _entries(
    executor: Executor,
    tenants: Sequence[str],
    tail: TailQuery,
    start: int,
    end: int,
    direction: str,
) -> list[dict[str, Any]]:
    """At most `limit` entries of the tailed query in `[start, end)`, as streams, queried
    on a poll thread (see `_POLLS`)."""
    request = QueryRequest(tail.query, start, end, _LOG_STEP, 0, tail.limit, direction)
    poll = functools.partial(executor.run, tenants, request)
    return (await asyncio.get_running_loop().run_in_executor(_POLLS, poll)).result


async def stream_tail(
    websocket: WebSocket, executor: Executor, tenants: Sequence[str], tail: TailQuery
) -> None:
    """Send `{"streams": …}` messages on an accepted `websocket` until the client leaves; a
    query the tailer cannot run closes it with 1011 and the error text, as Loki does."""

    async def send() -> None:
        async for streams in tailing(executor, tenants, tail):
            await websocket.send_json({"streams": streams})

    async def client_gone() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # a client's own messages mean nothing to a tail

    sending, watching = asyncio.create_task(send()), asyncio.create_task(client_gone())
    try:
        await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            task.cancel()
        # `wait`, not `gather`: if this handler is cancelled meanwhile (the server stops),
        # the error it raises is that cancellation itself, which the server's cancel
        # scope recognises; `gather` would raise a cancelled task's error in its place
        await asyncio.wait({sending, watching})
    if not watching.cancelled():
        watching.exception()  # a receive that failed: the client is gone all the same
    failed = None if sending.cancelled() else sending.exception()
    if isinstance(failed, QueryError):
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=1011, reason=_close_reason(failed.message))
    elif isinstance(failed, Exception) and not isinstance(failed, WebSocketDisconnect):
        raise failed


def _close_reason(message: str) -> str:
    """`message` cut to what a close frame holds (123 bytes of UTF-8, whole characters)."""
    return message.encode()[:123].decode(errors="ignore")
