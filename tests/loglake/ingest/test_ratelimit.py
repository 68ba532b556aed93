"""The per-tenant ingestion rate limit: Loki's token bucket and its 429 message."""

from __future__ import annotations

from loglake.config import Limits
from loglake.ingest.ratelimit import BYTES_IN_MB, IngestionRateLimiter

LIMITS = Limits(ingestion_rate_mb=1, ingestion_burst_size_mb=2)


def test_burst_then_refill():
    limiter = IngestionRateLimiter()
    assert limiter.check("t", LIMITS, 1, 2 * BYTES_IN_MB, now=0.0) is None
    assert limiter.check("t", LIMITS, 1, 1, now=0.0) is not None
    assert limiter.check("t", LIMITS, 1, BYTES_IN_MB // 2, now=0.5) is None


def test_rejected_push_takes_nothing_and_gets_lokis_429():
    limiter = IngestionRateLimiter()
    assert limiter.check("t", LIMITS, 1, BYTES_IN_MB, now=0.0) is None
    err = limiter.check("t", LIMITS, 7, 2 * BYTES_IN_MB, now=0.0)
    assert err.status == 429
    assert err.message == (
        "ingestion rate limit exceeded for user t (limit: 1048576 bytes/sec) while attempting to "
        "ingest '7' lines totaling '2097152' bytes, reduce log volume or contact your Loki "
        "administrator to see if the limit can be increased"
    )
    # the refused push took no tokens: the remaining MiB is still there
    assert limiter.check("t", LIMITS, 1, BYTES_IN_MB, now=0.0) is None


def test_more_than_the_burst_is_never_admitted():
    limiter = IngestionRateLimiter()
    assert limiter.check("t", LIMITS, 1, 2 * BYTES_IN_MB + 1, now=100.0).status == 429


def test_tenants_have_their_own_buckets_and_limit_changes_apply():
    limiter = IngestionRateLimiter()
    assert limiter.check("a", LIMITS, 1, 2 * BYTES_IN_MB, now=0.0) is None
    assert limiter.check("b", LIMITS, 1, 2 * BYTES_IN_MB, now=0.0) is None
    bigger = Limits(ingestion_rate_mb=10, ingestion_burst_size_mb=20)
    refused = limiter.check("a", bigger, 1, 30 * BYTES_IN_MB, now=1.0)  # over the new burst
    assert "(limit: 10485760 bytes/sec)" in refused.message
    assert limiter.check("a", bigger, 1, 5 * BYTES_IN_MB, now=1.0) is not None  # 1 MiB left
    assert limiter.check("a", bigger, 1, 5 * BYTES_IN_MB, now=1.5) is None  # +5 MiB at 10 MiB/s
