"""Per-tenant ingestion rate limiting, as Loki's distributor does it with the local strategy.

Main interface: `IngestionRateLimiter.check(tenant, limits, lines, size, now)` → `PushError`
(429, Loki's message) or None. One token bucket per tenant, refilled at `ingestion_rate_mb`
MiB/s and holding at most `ingestion_burst_size_mb` MiB (Loki multiplies both by 1048576). A
push is admitted all or nothing: when its bytes are not available now, nothing is taken from
the bucket (Loki cancels the reservation) and the whole push is refused.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from loglake.config import Limits
from loglake.ingest.errors import PushError

BYTES_IN_MB = 1_048_576

RATE_LIMITED = (
    "ingestion rate limit exceeded for user %s (limit: %d bytes/sec) while attempting to "
    "ingest '%d' lines totaling '%d' bytes, reduce log volume or contact your Loki "
    "administrator to see if the limit can be increased"
)
"""Loki's `validation.RateLimitedErrorMsg`."""


@dataclass(slots=True)
class _Bucket:
    rate: float  # bytes per second
    burst: int
    tokens: float
    last: float  # seconds

    def advance(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
            self.last = now


class IngestionRateLimiter:
    """Token buckets per tenant (`golang.org/x/time/rate` semantics, as dskit's limiter).

    >>> limiter = IngestionRateLimiter()
    >>> limits = Limits(ingestion_rate_mb=1, ingestion_burst_size_mb=1)
    >>> limiter.check("t", limits, lines=10, size=BYTES_IN_MB, now=0.0) is None
    True
    >>> print(limiter.check("t", limits, lines=1, size=BYTES_IN_MB, now=0.5).status)
    429
    >>> limiter.check("t", limits, lines=1, size=BYTES_IN_MB, now=1.0) is None
    True
    """

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(
        self, tenant: str, limits: Limits, lines: int, size: int, now: float | None = None
    ) -> PushError | None:
        """Take `size` bytes from `tenant`'s bucket, or return Loki's 429 and take nothing."""
        now = time.monotonic() if now is None else now
        rate = limits.ingestion_rate_mb * BYTES_IN_MB
        burst = int(limits.ingestion_burst_size_mb * BYTES_IN_MB)
        with self._lock:
            bucket = self._buckets.get(tenant)
            if bucket is None:
                bucket = self._buckets[tenant] = _Bucket(rate, burst, float(burst), now)
            else:
                bucket.advance(now)
                if (bucket.rate, bucket.burst) != (rate, burst):  # limits changed at runtime
                    bucket.rate, bucket.burst = rate, burst
                    bucket.tokens = min(bucket.tokens, float(burst))
            if size <= 0:
                return None
            if size <= bucket.burst and bucket.tokens >= size:
                bucket.tokens -= size
                return None
        return PushError(429, RATE_LIMITED % (tenant, int(rate), lines, size))
