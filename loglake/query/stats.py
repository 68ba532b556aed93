"""The `stats` object Loki returns with query results, filled with real figures.

Loki's shape (`pkg/logqlmodel/stats`, `emptyStats` in `pkg/util/marshal/marshal_test.go`):
`summary`, `querier`, `ingester`, `cache`, `index`. loglake has no ingesters and no
caches, so the figures of the lake's reads go under `querier.store` (chunks read from the
object store: the manifest-selected chunks; head chunks: landing rows not yet flushed), the
summary totals are the lines and bytes of the selected streams in the query range, and the
other sections keep Loki's keys with zeros.
"""

from __future__ import annotations

from typing import Any

from loglake.query.source import Plan

_CACHES = (
    "chunk",
    "index",
    "result",
    "statsResult",
    "volumeResult",
    "seriesResult",
    "labelResult",
    "instantMetricResult",
    "logResult",
    "taskResult",
)


def _cache() -> dict[str, int]:
    return {
        "entriesFound": 0,
        "entriesRequested": 0,
        "entriesStored": 0,
        "bytesReceived": 0,
        "bytesSent": 0,
        "requests": 0,
        "downloadTime": 0,
        "queryLengthServed": 0,
    }


def _store(plan: Plan | None, download_ns: int = 0) -> dict[str, Any]:
    plan = plan or Plan()
    return {
        "totalChunksRef": plan.chunks,
        "totalChunksDownloaded": plan.chunks,
        "chunksDownloadTime": download_ns,
        "queryReferencedStructuredMetadata": False,
        "queryUsedV2Engine": False,
        "pipelineWrapperFilteredLines": 0,
        "chunkRefsFetchTime": 0,
        "congestionControlLatency": 0,
        "chunk": {
            "headChunkBytes": plan.landing_bytes,
            "headChunkLines": plan.landing_lines,
            "headChunkStructuredMetadataBytes": 0,
            "decompressedBytes": plan.chunk_bytes,
            "decompressedLines": plan.chunk_lines,
            "decompressedStructuredMetadataBytes": 0,
            "compressedBytes": 0,
            "totalDuplicates": 0,
            "postFilterLines": 0,
        },
        "dataobj": {
            "prePredicateDecompressedRows": 0,
            "prePredicateDecompressedBytes": 0,
            "prePredicateDecompressedStructuredMetadataBytes": 0,
            "postPredicateRows": 0,
            "postPredicateDecompressedBytes": 0,
            "postPredicateStructuredMetadataBytes": 0,
            "postFilterRows": 0,
            "pagesScanned": 0,
            "pagesDownloaded": 0,
            "pagesDownloadedBytes": 0,
            "pageBatches": 0,
            "totalRowsAvailable": 0,
            "totalPageDownloadTime": 0,
        },
    }


def build_stats(
    plan: Plan | None,
    *,
    exec_ns: int,
    queue_ns: int,
    entries_returned: int,
    post_filter_lines: int = 0,
) -> dict[str, Any]:
    """Loki's stats object for one query. Times are seconds (floats), as Loki prints them."""
    plan = plan or Plan()
    exec_s = exec_ns / 1e9
    per_second = (lambda n: int(n / exec_s)) if exec_s > 0 else (lambda n: 0)
    store = _store(plan)
    store["chunk"]["postFilterLines"] = post_filter_lines
    return {
        "summary": {
            "bytesProcessedPerSecond": per_second(plan.bytes),
            "linesProcessedPerSecond": per_second(plan.lines),
            "totalBytesProcessed": plan.bytes,
            "totalLinesProcessed": plan.lines,
            "totalStructuredMetadataBytesProcessed": 0,
            "totalPostFilterLines": post_filter_lines,
            "execTime": exec_s,
            "queueTime": queue_ns / 1e9,
            "subqueries": 0,
            "totalEntriesReturned": entries_returned,
            "splits": 0,
            "shards": 0,
        },
        "querier": {"querierExecTime": exec_s, "store": store},
        "ingester": {
            "totalReached": 0,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": 0,
            "store": _store(None),
        },
        "cache": {name: _cache() for name in _CACHES},
        "index": {
            "totalChunks": plan.chunks,
            "postFilterChunks": plan.chunks,
            "shardsDuration": 0,
            "totalStreams": plan.streams,
            "usedBloomFilters": False,
            "bloomFilterTime": 0,
            "chunkRefsLookupTime": 0,
        },
    }
