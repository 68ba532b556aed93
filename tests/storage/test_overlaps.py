"""Reads deduplicate only where sources overlap; every entry still comes back exactly once."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import duck
from storage.flush import flush
from storage.landing import write_landing
from storage.objectstore import ObjectStore
from storage.overlaps import find_overlaps, repeated
from storage.snapshot import take_snapshot
from tests.storage.helpers import T0, entries, query_rows


def ranges(*rows: tuple[int, int, int]) -> pa.Table:
    fingerprints, lows, highs = zip(*rows, strict=True)
    return pa.table(
        {
            "fingerprint": pa.array(fingerprints, pa.int64()),
            "min_ts": pa.array(lows, pa.int64()),
            "max_ts": pa.array(highs, pa.int64()),
        }
    )


def test_sources_in_order_do_not_overlap() -> None:
    overlaps = find_overlaps(ranges((1, 0, 10), (1, 11, 20), (2, 0, 20)))
    assert not overlaps
    assert overlaps.fingerprints.to_pylist() == []


def test_a_span_is_where_a_source_meets_the_ones_before_it() -> None:
    # stream 1: [0, 10] and [8, 20] meet on [8, 10]; [15, 16] lies inside the earlier ones
    # stream 2: [100, 200] contains [150, 160]; stream 3 touches stream 1's times alone
    overlaps = find_overlaps(
        ranges((1, 0, 10), (1, 8, 20), (1, 15, 16), (2, 100, 200), (2, 150, 160), (3, 9, 9))
    )
    assert overlaps.fingerprints.to_pylist() == [1, 2]
    assert overlaps.spans == ((8, 10), (15, 16), (150, 160))


def test_spans_meeting_across_streams_merge() -> None:
    overlaps = find_overlaps(ranges((1, 0, 10), (1, 5, 20), (2, 0, 10), (2, 7, 30)))
    assert overlaps.spans == ((5, 10),)


def test_span_count_is_bounded_by_closing_the_narrowest_gaps() -> None:
    # pairs of sources meeting on [100k, 100k + 1]; gaps between spans widen with k
    rows = []
    for k in range(6):
        lo = 100 * k * (k + 1)
        rows += [(1, lo - 5, lo + 1), (1, lo, lo + 10)]
    overlaps = find_overlaps(ranges(*rows), max_spans=3)
    starts = [100 * k * (k + 1) for k in range(6)]
    # the two widest gaps (before the spans at starts[4] and starts[5]) stay open
    assert overlaps.spans == (
        (starts[0], starts[3] + 1),
        (starts[4], starts[4] + 1),
        (starts[5], starts[5] + 1),
    )
    assert find_overlaps(ranges(*rows), max_spans=1).spans == ((0, starts[5] + 1),)


def test_chunks_are_the_refs_of_overlapping_streams_that_meet_a_span() -> None:
    overlaps = find_overlaps(ranges((1, 0, 10), (1, 8, 20), (2, 50, 60), (2, 55, 70)))
    refs = pa.table(
        {
            "chunk": ["a", "b", "c", "d", "e", "f"],
            "fingerprint": pa.array([1, 1, 2, 2, 3, 1], pa.int64()),
            "min_ts": pa.array([0, 8, 50, 55, 0, 30], pa.int64()),
            "max_ts": pa.array([10, 20, 60, 70, 100, 40], pa.int64()),
        }
    )
    # "e" is another stream, "f" lies between the spans
    assert overlaps.chunks(refs) == {"a", "b", "c", "d"}


def test_duplicates_at_both_ends_of_a_span_come_back_once(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0, T0 + 5, T0 + 10], list("abc")))
    flush(store)
    # meets the chunk on [T0 + 5, T0 + 10]: duplicates at both ends, new entries between
    write_landing(
        store, "t", entries(1, {"service_name": "s"}, [T0 + 5, T0 + 7, T0 + 10], list("bxc"))
    )
    expected = [(1, T0, "a"), (1, T0 + 5, "b"), (1, T0 + 7, "x"), (1, T0 + 10, "c")]
    assert sorted(query_rows(store)) == expected
    flush(store)
    assert take_snapshot(store, "t").overlaps().spans == ((T0 + 5, T0 + 10),)
    assert sorted(query_rows(store)) == expected


def test_repeated_keys_narrow_overlaps_to_their_streams_and_times() -> None:
    counts = pa.table(
        {
            "fingerprint": pa.array([1, 1, 2, 2, 3], pa.int64()),
            "ts": pa.array([10, 20, 10, 10, 30], pa.int64()),
            "n": pa.array([1, 1, 1, 1, 2], pa.int64()),
        }
    )
    narrowed = repeated(counts)
    assert narrowed.fingerprints.to_pylist() == [2, 3]
    assert narrowed.spans == ((10, 10), (30, 30))
    assert not repeated(counts.slice(0, 2))


def _logs_sql(store: ObjectStore) -> str:
    con = duck.connect(store)
    try:
        return duck.logs_query(con, store, take_snapshot(store, "t")).sql(dialect="duckdb")
    finally:
        con.close()


def test_sources_overlapping_in_time_but_sharing_no_entry_key_are_read_as_they_are(
    tmp_path,
) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0, T0 + 10], ["a", "b"]))
    flush(store)
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0 + 5, T0 + 15], ["c", "d"]))
    assert take_snapshot(store, "t").overlaps()  # landing meets the chunk on [T0+5, T0+10]
    assert "DISTINCT" not in _logs_sql(store)
    flush(store)
    assert take_snapshot(store, "t").overlaps()
    assert "DISTINCT" not in _logs_sql(store)
    assert query_rows(store) == [
        (1, T0, "a"),
        (1, T0 + 5, "c"),
        (1, T0 + 10, "b"),
        (1, T0 + 15, "d"),
    ]


def test_a_shared_key_deduplicates_only_its_stream_and_time(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0, T0 + 10], ["a", "b"]))
    flush(store)
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0 + 5, T0 + 10], ["c", "b"]))
    snapshot = take_snapshot(store, "t")
    con = duck.connect(store)
    narrowed = duck.repeated_keys(con, store, snapshot, snapshot.overlaps(), snapshot.chunk_keys())
    assert narrowed.spans == ((T0 + 10, T0 + 10),)
    assert query_rows(store) == [(1, T0, "a"), (1, T0 + 5, "c"), (1, T0 + 10, "b")]


def test_overlaps_too_large_to_count_are_deduplicated_as_they_are(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(duck, "SCAN_LIMIT_ROWS", 0)
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0, T0 + 10], ["a", "b"]))
    flush(store)
    write_landing(store, "t", entries(1, {"service_name": "s"}, [T0 + 5, T0 + 15], ["c", "d"]))
    flush(store)
    assert "DISTINCT" in _logs_sql(store)
    assert query_rows(store) == [
        (1, T0, "a"),
        (1, T0 + 5, "c"),
        (1, T0 + 10, "b"),
        (1, T0 + 15, "d"),
    ]


batch = st.tuples(
    st.integers(1, 3),  # stream
    st.lists(st.tuples(st.integers(0, 20), st.sampled_from(["a", "b"])), min_size=1, max_size=8),
    st.booleans(),  # flush after it
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(batch, min_size=1, max_size=6))
@pytest.mark.parametrize("scan_limit", [duck.SCAN_LIMIT_ROWS, 0])
def test_every_entry_comes_back_exactly_once(
    tmp_path_factory, monkeypatch, scan_limit, batches
) -> None:
    """Pushes of overlapping, repeated entries, flushed at random points: the logs relation
    holds each distinct (stream, ts, line) once, whatever chunks and landing hold. Streams
    1 and 3 share a partition folder, stream 2 has its own: so a flush writes chunks that
    hold overlapping entries next to chunks that hold none (read without a filter). With
    a scan limit of 0 the overlaps are deduplicated whole, without counting their keys."""
    monkeypatch.setattr(duck, "SCAN_LIMIT_ROWS", scan_limit)
    store = ObjectStore(str(tmp_path_factory.mktemp("lake")))
    pushed: set[tuple[int, int, str]] = set()
    for stream, points, flush_after in batches:
        timestamps = [T0 + t for t, _ in points]
        lines = [f"{line}{t % 3}" for t, line in points]
        write_landing(
            store,
            "t",
            entries(
                stream, {"service_name": f"s{stream % 2}", "n": str(stream)}, timestamps, lines
            ),
        )
        pushed.update((stream, ts, line) for ts, line in zip(timestamps, lines, strict=True))
        if flush_after:
            flush(store)
    got = query_rows(store)
    assert sorted(got) == sorted(pushed)
