"""Where a snapshot can hold one entry twice, so that reads deduplicate only there.

Each chunk is deduplicated when written, and a snapshot's landing rows when read, so an
identical (stream, ts, line) entry can occur twice only in two of those sources that both
hold its stream around its time: with the sources of a stream sorted by first entry, a
source overlaps the ones before it on `[its min_ts, min(its max_ts, their max_ts)]`. Only
entries in such a span need the (costly) DISTINCT; the others are read as they are.

Streams written in order overlap only where a flush cut a push in flight — a second at a
flush boundary — so the spans cover a tiny share of the rows. They are merged across
streams and their count is bounded (`MAX_SPANS`, closing the narrowest gaps first), which
keeps the read's predicate small; a wider span only deduplicates more rows than needed.

Two sources overlapping in time still rarely share an entry: that needs the same stream and
nanosecond twice. `repeated` narrows overlaps to the (stream, ts) keys that do occur more
than once among the entries in them (`storage.duck` counts those keys, reading only two
integer columns); most often none does, and the read needs no deduplication at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

MAX_SPANS = 32
"""At most this many time spans in the deduplication predicate."""


@dataclass(frozen=True)
class Overlaps:
    """The entries that may be duplicated: streams `fingerprints` within the inclusive
    time `spans` (sorted, disjoint). Empty when no two sources of a stream overlap."""

    fingerprints: pa.Array
    spans: tuple[tuple[int, int], ...]

    def __bool__(self) -> bool:
        return bool(self.spans)

    def contains(self, fingerprint: pa.Array, ts: pa.Array) -> pa.Array:
        """Which entries (their fingerprints and timestamps) lie in these overlaps."""
        in_span = pa.array(np.zeros(len(ts), dtype=bool))
        for lo, hi in self.spans:
            in_span = pc.or_(in_span, pc.and_(pc.greater_equal(ts, lo), pc.less_equal(ts, hi)))
        return pc.and_(pc.is_in(fingerprint, value_set=self.fingerprints), in_span)

    def chunks(self, refs: pa.Table) -> set[str]:
        """Keys of the chunks (of manifest refs `refs`) that can hold such an entry."""
        if not self:
            return set()
        frame = pl.from_arrow(refs.select(["chunk", "fingerprint", "min_ts", "max_ts"]))
        frame = frame.filter(pl.col("fingerprint").is_in(self.fingerprints.to_pylist()))
        lows = np.array([lo for lo, _ in self.spans], dtype=np.int64)
        highs = np.array([hi for _, hi in self.spans], dtype=np.int64)
        # the first span ending at or after a ref's start is the only one it can meet first
        first = np.searchsorted(highs, frame.get_column("min_ts").to_numpy(), side="left")
        inside = first < len(lows)
        starts = lows[np.minimum(first, len(lows) - 1)]
        meets = inside & (starts <= frame.get_column("max_ts").to_numpy())
        return set(frame.get_column("chunk").filter(pl.Series(meets)).to_list())


def find_overlaps(ranges: pa.Table, max_spans: int = MAX_SPANS) -> Overlaps:
    """The overlaps of sources given as rows (fingerprint, min_ts, max_ts), one per
    (source, stream): chunk refs and each landing stream's range."""
    frame = (
        pl.from_arrow(ranges.select(["fingerprint", "min_ts", "max_ts"]))
        .sort(["fingerprint", "min_ts"])
        .with_columns(pl.col("max_ts").cum_max().shift(1).over("fingerprint").alias("prev_max"))
        .filter(pl.col("prev_max").is_not_null() & (pl.col("min_ts") <= pl.col("prev_max")))
        .select(
            "fingerprint",
            pl.col("min_ts").alias("lo"),
            pl.min_horizontal("max_ts", "prev_max").alias("hi"),
        )
    )
    if frame.height == 0:
        return Overlaps(pa.array([], pa.int64()), ())
    fingerprints = frame.get_column("fingerprint").unique().sort().to_arrow()
    return Overlaps(fingerprints, _merge(frame.select("lo", "hi").sort("lo"), max_spans))


def repeated(keys: pa.Table, max_spans: int = MAX_SPANS) -> Overlaps:
    """The overlaps of the entries whose key occurs more than once, from rows
    (fingerprint, ts, n): how many entries of a source hold that key."""
    frame = (
        pl.from_arrow(keys.select(["fingerprint", "ts", "n"]))
        .group_by(["fingerprint", "ts"])
        .agg(pl.col("n").sum())
        .filter(pl.col("n") > 1)
    )
    if frame.height == 0:
        return Overlaps(pa.array([], pa.int64()), ())
    fingerprints = frame.get_column("fingerprint").unique().sort().to_arrow()
    points = frame.select(pl.col("ts").alias("lo"), pl.col("ts").alias("hi")).sort("lo")
    return Overlaps(fingerprints, _merge(points, max_spans))


def _merge(spans: pl.DataFrame, max_spans: int) -> tuple[tuple[int, int], ...]:
    """Sorted spans merged where they meet, then the narrowest gaps closed until at most
    `max_spans` remain."""
    lows = spans.get_column("lo").to_numpy()
    highs = np.maximum.accumulate(spans.get_column("hi").to_numpy())
    # a span starts a new run where it begins after everything before it has ended
    new_run = np.ones(len(lows), dtype=bool)
    new_run[1:] = lows[1:] > highs[:-1]
    run_lows, run_ends = lows[new_run], np.append(np.flatnonzero(new_run)[1:] - 1, len(lows) - 1)
    run_highs = highs[run_ends]
    if len(run_lows) > max_spans:
        gaps = run_lows[1:] - run_highs[:-1]
        keep = np.sort(np.argsort(gaps, kind="stable")[len(gaps) - (max_spans - 1) :])
        starts = np.concatenate(([0], keep + 1))
        ends = np.concatenate((keep, [len(run_lows) - 1]))
        run_lows, run_highs = run_lows[starts], run_highs[ends]
    return tuple((int(lo), int(hi)) for lo, hi in zip(run_lows, run_highs, strict=True))
