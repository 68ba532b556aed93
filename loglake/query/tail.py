"""Live tail: the entries of a log query as they become visible, oldest first.

`tailing` polls the lake once a second for entries newer than the last one sent (and at
least `delay_for` old, as Loki's `delay_for` lets late entries arrive first) and yields
them as Loki's `streams`. A push is visible as soon as it is acknowledged (landing), so a
tail sees new entries within about a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from loglake.query.errors import parse_log_query
from loglake.query.executor import Executor, QueryRequest
from loglake.query.params import TailQuery

POLL_SECONDS = 1.0
_LOG_STEP = 10**9  # log queries ignore the step; non-zero marks a range evaluation


async def tailing(
    executor: Executor, tenants: Sequence[str], tail: TailQuery
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield batches of new entries as Loki's streams, forever."""
    parse_log_query(tail.query, "tail requires a log query")
    cursor = tail.start
    while True:
        end = time.time_ns() - tail.delay_for
        if end > cursor:
            request = QueryRequest(tail.query, cursor, end, _LOG_STEP, 0, tail.limit, "forward")
            result = await run_in_threadpool(executor.run, tenants, request)
            newest = [int(v[0]) for s in result.result for v in s["values"]]
            if newest:
                cursor = max(newest) + 1
                yield result.result
                continue
            cursor = end
        await asyncio.sleep(POLL_SECONDS)
