"""A push client for Loki's API (loglake's or Loki's): protobuf + snappy, like Promtail.

Retries what a shipper should retry — 429 and 5xx, and connection failures — with
exponential back-off, and raises `PushFailed` with the server's message for anything else
(a 400 will not get better by sending it again).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import httpx

from loglake.ingest.push_proto import encode_push

Entry = tuple[int, str] | tuple[int, str, Mapping[str, str]]
"""(timestamp ns, line) or (timestamp ns, line, structured metadata)."""


class PushFailed(Exception):
    """The server refused a push for good; carries its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"push failed with {status}: {message}")
        self.status = status
        self.message = message


class PushClient:
    """Pushes batches of streams to `addr` for one tenant."""

    def __init__(
        self,
        addr: str,
        tenant: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 10,
        min_backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        headers = {"Content-Type": "application/x-protobuf"}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        self._http = httpx.Client(base_url=addr.rstrip("/"), headers=headers, timeout=timeout)
        self.max_retries = max_retries
        self.min_backoff, self.max_backoff = min_backoff, max_backoff

    def __enter__(self) -> PushClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def push(self, streams: Mapping[str, Sequence[Entry]]) -> None:
        """Push `{label string: entries}`; returns once the server acknowledged (204)."""
        body = encode_push(streams.items())
        backoff = self.min_backoff
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.post("/loki/api/v1/push", content=body)
            except httpx.TransportError:
                if attempt == self.max_retries:
                    raise
            else:
                if response.status_code < 300:
                    return
                if response.status_code != 429 and response.status_code < 500:
                    raise PushFailed(response.status_code, response.text.strip())
                if attempt == self.max_retries:
                    raise PushFailed(response.status_code, response.text.strip())
            time.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)
