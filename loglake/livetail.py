"""`loglake query --tail`: follow a log query as `logcli query --tail` does.

Against a server (`--addr`) it opens Loki's `/loki/api/v1/tail` websocket with logcli's
parameters (`query`, `limit`, `start`, `delay_for`; `X-Scope-OrgID` from `--org-id`). On a
lake (`--lake`) it runs the server's own tailer (`loglake.query.tail.tailing`) in this
process, which polls the lake, so entries pushed to any server writing that lake appear.

Each batch is printed when it arrives, stream by stream as logcli prints it, in the chosen
`--output`; entries a server reports as dropped are listed on stderr, as logcli lists them.
An interrupt (Ctrl-C or SIGTERM) closes the socket normally and exits with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

DROPPED = "Server dropped following entries due to slow client"


class TailFailed(Exception):
    """The tail could not start or was ended by the server: `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def tail_form(query: str, limit: int, from_: str | None, since: str, delay_for: int) -> dict:
    """The tail parameters logcli sends: `start` is `--from`, else now minus `--since`."""
    from loglake.query.errors import QueryError
    from loglake.query.params import prom_duration

    try:
        start = from_ if from_ else str(time.time_ns() - prom_duration(since))
    except QueryError as exc:
        raise TailFailed(f"could not parse --since: {exc.message}") from None
    return {"query": query, "limit": limit, "start": start, "delay_for": delay_for}


def print_streams(streams: Iterable[dict[str, Any]], output: str) -> None:
    """One tail message's entries, stream by stream, flushed at once (a pipe reads them
    as they come)."""
    from loglake.output import format_entry

    for stream in streams:
        for ts, line, *_ in stream["values"]:
            sys.stdout.write(format_entry(int(ts), line, stream["stream"], output) + "\n")
    sys.stdout.flush()


def print_dropped(dropped: list[dict[str, Any]]) -> None:
    """Entries the server left out for a slow client, on stderr as logcli reports them."""
    from loglake.ingest.labels import labels_text

    if dropped:
        sys.stderr.write(DROPPED + "\n")
        for entry in dropped:
            sys.stderr.write(f"{entry.get('timestamp')} {labels_text(entry.get('labels', {}))}\n")
        sys.stderr.flush()


def follow_server(addr: str, org_id: str | None, form: dict, output: str) -> None:
    """Tail through a server's websocket until interrupted or closed by the server."""
    from websockets.exceptions import ConnectionClosedError, InvalidStatus
    from websockets.sync.client import connect

    base = addr.rstrip("/")
    scheme, rest = base.split("://", 1) if "://" in base else ("http", base)
    url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/loki/api/v1/tail?{urlencode(form)}"
    headers = {"X-Scope-OrgID": org_id} if org_id else {}
    try:
        with _interruptible(), connect(url, additional_headers=headers, max_size=None) as ws:
            for message in ws:
                body = json.loads(message)
                print_streams(body.get("streams") or [], output)
                print_dropped(body.get("dropped_entries") or [])
    except InvalidStatus as exc:
        text = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
        raise TailFailed(text or f"tail refused: HTTP {exc.response.status_code}") from None
    except ConnectionClosedError as exc:
        reason = exc.rcvd.reason if exc.rcvd is not None else ""
        raise TailFailed(f"tail ended by the server: {reason or exc}") from None
    except OSError as exc:
        raise TailFailed(f"cannot reach {addr}: {exc}") from None
    except KeyboardInterrupt:
        return


def follow_lake(lake: Any, org_id: str | None, form: dict, output: str) -> None:
    """Tail a lake in this process with the server's tailer, until interrupted."""
    from loglake.query.errors import QueryError
    from loglake.query.executor import Executor
    from loglake.query.params import form_of, tail_query
    from loglake.query.tail import tailing
    from loglake.query.tenants import lake_tenants, single_tenant

    try:
        tenants = [single_tenant(lake_tenants(org_id, lake.settings.no_auth_tenant))]
        request = tail_query(form_of({k: str(v) for k, v in form.items()}), time.time_ns())
    except QueryError as exc:
        raise TailFailed(exc.message) from None
    executor = Executor(lake)

    async def follow() -> None:
        async for streams in tailing(executor, tenants, request):
            print_streams(streams, output)

    try:
        with _interruptible():
            asyncio.run(follow())
    except QueryError as exc:
        raise TailFailed(exc.message) from None
    except KeyboardInterrupt:
        return


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while the tail runs (logcli ends on either); only
    the main thread can take signals, so elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
