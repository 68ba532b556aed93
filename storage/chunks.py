"""Chunk writer: entries of one tenant and day become sorted zstd Parquet chunks.

Rows are split by the configured partition labels into Hive folders, sorted by
(fingerprint, ts) — `line` breaks ties, so identical entries end up adjacent and are kept
once — and written with row groups small enough that a stream and a time range prune well
on row-group statistics. `write_chunks` returns the chunk references the manifest records:
one row per (chunk, stream).

Where the time goes, and why the code looks as it does (see `bench/ingest.py`):

- Sorting is one integer argsort: a stream's rank and its timestamp are packed into one
  int64 key, and lines are compared only inside the rare runs of equal (stream, ts).
- Rows are gathered once, per chunk, from one contiguous table; the per-row labels map is
  never copied as strings but built from int32 indices into the day's label dictionary,
  which the Parquet writer encodes without hashing a string.
- The writer keeps statistics only where they prune (fingerprint, ts), delta-encodes `ts`
  and keeps `line` out of dictionaries; each file's Arrow schema is `ENTRY_SCHEMA`, so any
  reader sees plain `map<string, string>` labels.
"""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage import layout
from storage.objectstore import ObjectStore
from storage.schema import ENTRY_SCHEMA, LABELS_TYPE, MANIFEST_SCHEMA, streams_of

ROW_GROUP_ROWS = 65_536
ROW_COLUMNS = [name for name in ENTRY_SCHEMA.names if name != "labels"]
"""The per-row columns of an entry; `labels` is a function of the fingerprint."""
_ARROW_SCHEMA = {b"ARROW:schema": base64.b64encode(ENTRY_SCHEMA.serialize().to_pybytes())}


def _bulk_pool() -> pa.MemoryPool:
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool()


BULK_POOL = _bulk_pool()
"""Arrow memory pool of the large, short-lived buffers of chunk writing (gathered rows,
encoder pages, the encoded file). jemalloc reuses freed pages where mimalloc, Arrow's
default, hands them back to the OS and faults them in again: measured, that kernel time
was half of a flush's CPU time (`bench/ingest.py`)."""

_LABEL_STRINGS = pa.dictionary(pa.int32(), pa.string())
_WRITE_SCHEMA = ENTRY_SCHEMA.set(
    ENTRY_SCHEMA.get_field_index("labels"),
    pa.field("labels", pa.map_(_LABEL_STRINGS, _LABEL_STRINGS), nullable=False),
)
"""`ENTRY_SCHEMA` with dictionary-encoded label keys and values: the shape chunks are
encoded from (the files still record `ENTRY_SCHEMA`)."""

_DICTIONARY_COLUMNS = [
    "fingerprint",
    "labels.key_value.key",
    "labels.key_value.value",
    "structured_metadata.key_value.key",
    "structured_metadata.key_value.value",
]


@dataclass(frozen=True)
class ChunkOptions:
    """How chunks are written: partition labels, compression effort, line encoding.

    zstd level 1: on log lines it is within 2% of level 3's size at about 1.6× its speed,
    and levels that gain more (6: 10% smaller) cost 2.5–6× the encoding CPU
    (`bench/ingest.py --tradeoffs`).

    `line_encoding` "DELTA_LENGTH_BYTE_ARRAY" (the default) stores all of a page's line
    lengths first, delta-encoded, then the lines' bytes back to back. The chunk is as small
    as with "PLAIN" (which interleaves a 4-byte length before every line) and flushes as
    fast, and DuckDB scans it about 13% faster: a line-filter query is mostly this scan
    (`bench/ingest.py --tradeoffs`, `bench/query.py`). It needs the same readers as `ts`'s
    DELTA_BINARY_PACKED, which every chunk has always used (Spark's vectorised reader since
    3.3, Trino, ClickHouse, DuckDB, pyarrow, Polars). "DELTA_BYTE_ARRAY" also stores the
    prefix a line shares with the one before it (sorted by stream and time:
    `ts=2024-05-01T12:00:0…`, logfmt keys) as a length: about 4% smaller chunks, but
    scans about 15% slower than the default, so it is opt-in. "PLAIN" is the encoding of
    readers that know no other.
    """

    partition_labels: tuple[str, ...] = ("service_name",)
    max_partition_values: int = 512
    compression_level: int = 1
    line_encoding: str = "DELTA_LENGTH_BYTE_ARRAY"
    row_group_rows: int = ROW_GROUP_ROWS
    write_threads: int = 0
    """Chunks encoded at once (0: one per CPU); threads cut wall time, not CPU time."""


def encode_chunk(table: pa.Table, options: ChunkOptions) -> pa.Buffer:
    """Serialise sorted entries as a Parquet chunk readable by any engine, with the
    compression level, row-group size and `line` encoding of `options`.

    `labels` may be a map with dictionary-encoded keys and values (`LabelDictionary`); the
    file still records `ENTRY_SCHEMA` as its Arrow schema."""
    encodings = {"ts": "DELTA_BINARY_PACKED"}
    if options.line_encoding != "PLAIN":
        encodings["line"] = options.line_encoding
    sink = pa.BufferOutputStream(memory_pool=BULK_POOL)
    with pq.ParquetWriter(
        sink,
        table.schema,
        compression="zstd",
        compression_level=options.compression_level,
        use_dictionary=_DICTIONARY_COLUMNS,
        column_encoding=encodings,
        # Statistics where they prune (stream, time); min/max of lines or label maps cost
        # CPU for nothing.
        write_statistics=["fingerprint", "ts"],
        write_page_index=True,
        sorting_columns=[pq.SortingColumn(0), pq.SortingColumn(1)],
        store_schema=False,
        memory_pool=BULK_POOL,
    ) as writer:
        writer.write_table(table, row_group_size=options.row_group_rows)
        writer.add_key_value_metadata(_ARROW_SCHEMA)
    return sink.getvalue()


def put_chunk(store: ObjectStore, key: str, data: pa.Buffer) -> None:
    """Store an encoded chunk; a local store writes straight from Arrow's buffer (no copy),
    S3 clients want bytes."""
    store.put(key, data.to_pybytes() if store.is_s3 else memoryview(data))


def read_object(store: ObjectStore, key: str) -> pa.Buffer | bytes:
    """An object's bytes, memory-mapped on a local store (a copy saved); FileNotFoundError
    when it is gone."""
    if store.is_s3:
        return store.get(key)
    try:
        with pa.memory_map(store.path(key)) as mapped:
            # the buffer keeps the mapping alive after the file object is closed
            return mapped.read_buffer()
    except OSError as exc:
        if not os.path.exists(store.path(key)):
            raise FileNotFoundError(key) from exc
        raise


def entry_order(
    rank: np.ndarray,
    ts: np.ndarray,
    line: pa.Array | pa.ChunkedArray,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Row indices that order entries by (rank, ts, line), identical ones kept once.

    `rank` orders the streams (equal rank: same stream); `line` is indexed through `rows`
    when given (entry i's line is `line[rows[i]]`). Rank and ts are packed into one
    int64 key when they fit (a day of nanoseconds takes 47 bits), which makes the sort a
    single argsort; `line` is only looked at where (rank, ts) repeats.

    >>> entry_order(np.array([1, 0, 0, 0]), np.array([5, 9, 7, 9]), pa.array(["x", "b", "c", "b"]))
    array([2, 1, 0])
    """
    n = len(rank)
    if n == 0:
        return np.zeros(0, np.int64)
    rank = rank.astype(np.int64, copy=False)
    ts = ts.astype(np.int64, copy=False)
    low = int(ts.min())
    span_bits = max(int(ts.max()) - low, 0).bit_length()
    rank_bits = int(rank.max()).bit_length()
    if span_bits + rank_bits <= 62 and int(rank.min()) >= 0:
        key = ts - low  # (rank << bits) | (ts - low); no step leaves int64
        key |= np.left_shift(rank, span_bits)
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((ts, rank))
    sorted_rank, sorted_ts = rank[order], ts[order]
    tied = (sorted_rank[1:] == sorted_rank[:-1]) & (sorted_ts[1:] == sorted_ts[:-1])
    if not tied.any():
        return order
    return _order_ties(order, tied, line, rows)


def _order_ties(
    order: np.ndarray,
    tied: np.ndarray,
    line: pa.Array | pa.ChunkedArray,
    rows: np.ndarray | None,
) -> np.ndarray:
    """Sort each run of equal (rank, ts) by line and drop repeated lines in it."""
    in_run = np.zeros(len(order), bool)
    in_run[1:] |= tied
    in_run[:-1] |= tied
    positions = np.flatnonzero(in_run)
    run = np.cumsum(np.concatenate(([True], ~tied)))[positions]
    tied_rows = order[positions]
    lines = line.take(pa.array(tied_rows if rows is None else rows[tied_rows]))
    by_line = pc.sort_indices(
        pa.table({"run": run, "line": lines}),
        sort_keys=[("run", "ascending"), ("line", "ascending")],
    ).to_numpy()
    order = order.copy()
    order[positions] = tied_rows[by_line]
    lines = lines.take(pa.array(by_line))
    repeat = (run[1:] == run[:-1]) & pc.equal(lines[1:], lines[:-1]).to_numpy(zero_copy_only=False)
    keep = np.ones(len(order), bool)
    keep[positions[1:][repeat]] = False
    return order[keep]


def dense_rank(fingerprint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stream index per row, the distinct fingerprints ascending): rank by fingerprint."""
    encoded = pa.array(fingerprint).dictionary_encode()
    distinct = encoded.dictionary.to_numpy()
    by_value = np.argsort(distinct, kind="stable")
    rank_of = np.empty(len(distinct), np.int64)
    rank_of[by_value] = np.arange(len(distinct))
    return rank_of[encoded.indices.to_numpy()], distinct[by_value]


def sort_and_dedup(table: pa.Table) -> pa.Table:
    """Sort entries by (fingerprint, ts, line) and drop identical (fingerprint, ts, line)
    repeats, which sorting has made adjacent: Loki returns such entries once.

    >>> t = pa.table({"fingerprint": [1, 1, 1], "ts": [2, 1, 2], "line": ["a", "b", "a"],
    ...               "labels": [[]] * 3, "structured_metadata": [[]] * 3}, schema=ENTRY_SCHEMA)
    >>> sort_and_dedup(t).select(["ts", "line"]).to_pylist()
    [{'ts': 1, 'line': 'b'}, {'ts': 2, 'line': 'a'}]
    """
    if table.num_rows < 2:
        return table
    table = table.combine_chunks()
    rank, _ = dense_rank(table.column("fingerprint").to_numpy())
    order = entry_order(rank, table.column("ts").to_numpy(), table.column("line"))
    return table.take(pa.array(order))


class LabelDictionary:
    """The labels of a set of streams as int32 indices into one key and one value dictionary,
    so that a per-row labels column is built by integer gathers, not string copies."""

    def __init__(self, labels: pa.Array | pa.ChunkedArray) -> None:
        labels = labels.combine_chunks() if isinstance(labels, pa.ChunkedArray) else labels
        # a map is a list of (key, value) structs; as a list, flattening honours slicing
        entry = pa.struct([labels.type.key_field, labels.type.item_field])
        labels = labels.view(pa.list_(pa.field("entries", entry, nullable=False)))
        pairs = labels.flatten()
        keys = pairs.field("key").dictionary_encode()
        values = pairs.field("value").dictionary_encode()
        self.key_dictionary, self.value_dictionary = keys.dictionary, values.dictionary
        self.key_indices = keys.indices.to_numpy()
        self.value_indices = values.indices.to_numpy()
        self.lengths = pc.list_value_length(labels).to_numpy(zero_copy_only=False)
        self.starts = np.concatenate(([0], np.cumsum(self.lengths)[:-1])).astype(np.int64)

    def column(self, stream: np.ndarray) -> pa.MapArray:
        """Labels map per row, for rows of the given stream indices.

        Rows come in runs of one stream (chunks are sorted by stream), so each run's
        indices are one stream's pairs repeated: a broadcast copy per run, no per-entry
        index arithmetic and no temporaries the size of the column."""
        lengths = self.lengths[stream].astype(np.int32, copy=False)
        offsets = np.zeros(len(stream) + 1, np.int32)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        key_indices = np.empty(total, self.key_indices.dtype)
        value_indices = np.empty(total, self.value_indices.dtype)
        firsts = np.flatnonzero(stream[1:] != stream[:-1]) + 1  # rows starting a run
        bounds = [0, *firsts.tolist(), len(stream)] if len(stream) else [0]
        for first, stop in zip(bounds[:-1], bounds[1:], strict=True):
            start, size = int(self.starts[stream[first]]), int(lengths[first])
            run, shape = slice(int(offsets[first]), int(offsets[stop])), (stop - first, size)
            key_indices[run].reshape(shape)[:] = self.key_indices[start : start + size]
            value_indices[run].reshape(shape)[:] = self.value_indices[start : start + size]
        keys = pa.DictionaryArray.from_arrays(key_indices, self.key_dictionary, safe=False)
        values = pa.DictionaryArray.from_arrays(value_indices, self.value_dictionary, safe=False)
        return pa.MapArray.from_arrays(pa.array(offsets), keys, values)


def chunk_refs(
    chunk: str,
    fingerprint: np.ndarray,
    ts: np.ndarray,
    line_bytes: np.ndarray,
    labels: pa.Array,
    metadata: pa.Array | pa.ChunkedArray,
) -> pa.Table:
    """Chunk references of a chunk's sorted rows: one row per stream run.

    `labels` holds one labels map per stream run, in order; `metadata` is the rows'
    structured metadata column."""
    starts = np.flatnonzero(np.concatenate(([True], fingerprint[1:] != fingerprint[:-1])))
    ends = np.concatenate((starts[1:], [len(fingerprint)]))
    if isinstance(metadata, pa.ChunkedArray):
        metadata = metadata.combine_chunks()
    with_metadata = np.diff(metadata.offsets.to_numpy()) > 0
    return pa.table(
        {
            "chunk": pa.array([chunk] * len(starts), pa.string()),
            "fingerprint": fingerprint[starts],
            "labels": labels,
            "min_ts": ts[starts],
            "max_ts": ts[ends - 1],
            "rows": ends - starts,
            "bytes": np.add.reduceat(line_bytes, starts),
            "metadata_rows": np.add.reduceat(with_metadata.astype(np.int64), starts),
        },
        schema=MANIFEST_SCHEMA,
    )


def stream_refs(chunk: str, table: pa.Table) -> pa.Table:
    """Chunk references (one row per stream) of a chunk's sorted entries."""
    if table.num_rows == 0:
        return MANIFEST_SCHEMA.empty_table()
    table = table.combine_chunks()
    fps = table.column("fingerprint").to_numpy()
    starts = np.flatnonzero(np.concatenate(([True], fps[1:] != fps[:-1])))
    labels = table.column("labels").take(pa.array(starts)).cast(LABELS_TYPE)
    return chunk_refs(
        chunk,
        fps,
        table.column("ts").to_numpy(),
        line_lengths(table.column("line")),
        labels,
        table.column("structured_metadata"),
    )


def line_lengths(line: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """UTF-8 byte length of every line, as int64."""
    return pc.binary_length(line).to_numpy().astype(np.int64, copy=False)


def partition_dirs(
    labels: dict[str, str], options: ChunkOptions, bucketed: frozenset[str]
) -> tuple[str, ...]:
    """The Hive folders of a stream: one level per partition label."""
    return tuple(
        layout.partition_value(name, labels.get(name, ""), name in bucketed)
        for name in options.partition_labels
    )


def bucketed_labels(
    known_refs: pa.Table, new_streams: pa.Table, options: ChunkOptions
) -> frozenset[str]:
    """Partition labels with more distinct values this day than one folder level should hold."""
    out = set()
    for name in options.partition_labels:
        values = set()
        for table in (known_refs, new_streams):
            if table.num_rows:
                values.update(
                    pc.unique(pc.map_lookup(table.column("labels"), name, "first")).to_pylist()
                )
        if len(values) > options.max_partition_values:
            out.add(name)
    return frozenset(out)


class SortedRows:
    """Rows of a contiguous entry table (without `labels`) in chunk order, with the stream
    of every row, ready to be cut into chunks: what flush and compaction both write."""

    def __init__(
        self, entries: pa.Table, order: np.ndarray, stream: np.ndarray, streams: pa.Table
    ) -> None:
        self.entries = entries
        self.order = order
        self.stream = stream
        self.stream_labels = streams.column("labels").combine_chunks()
        self.labels = LabelDictionary(self.stream_labels)

    def write(
        self, store: ObjectStore, key: str, start: int, stop: int, options: ChunkOptions
    ) -> tuple[pa.Table, int]:
        """Write sorted rows `start:stop` as the chunk `key`; (chunk references, bytes)."""
        stream = self.stream[start:stop]
        part = pc.take(self.entries, pa.array(self.order[start:stop]), memory_pool=BULK_POOL)
        table = pa.Table.from_arrays(
            [
                part.column("fingerprint"),
                part.column("ts"),
                part.column("line"),
                self.labels.column(stream),
                part.column("structured_metadata"),
            ],
            schema=_WRITE_SCHEMA,
        )
        data = encode_chunk(table, options)
        put_chunk(store, key, data)
        firsts = np.flatnonzero(np.concatenate(([True], stream[1:] != stream[:-1])))
        refs = chunk_refs(
            key,
            part.column("fingerprint").to_numpy(),
            part.column("ts").to_numpy(),
            line_lengths(part.column("line")),
            self.stream_labels.take(pa.array(stream[firsts])),
            part.column("structured_metadata"),
        )
        return refs, data.size

    def write_all(
        self, store: ObjectStore, pieces: list[tuple[str, int, int]], options: ChunkOptions
    ) -> list[tuple[pa.Table, int]]:
        """Write several `(key, start, stop)` pieces, on `options.write_threads` threads
        (Arrow's gather, encoder and zstd release the GIL); results in piece order."""
        threads = min(options.write_threads or os.cpu_count() or 1, len(pieces))
        if threads <= 1:
            return [self.write(store, key, a, b, options) for key, a, b in pieces]
        with ThreadPoolExecutor(threads, thread_name_prefix="chunk-writer") as pool:
            return list(pool.map(lambda p: self.write(store, p[0], p[1], p[2], options), pieces))


def write_chunks(
    store: ObjectStore,
    tenant: str,
    day: str,
    entries: pa.Table,
    options: ChunkOptions,
    known_refs: pa.Table | None = None,
    streams: pa.Table | None = None,
    rows: np.ndarray | None = None,
) -> tuple[pa.Table, list[tuple[str, int]]]:
    """Write a day's entries as chunks; returns (chunk references, [(chunk key, size)]).

    `entries` may leave out the `labels` column when `streams` (fingerprint → labels, a
    superset of the entries' streams) is given. `rows`, when given, selects the entries to
    write (indices into `entries`), so callers need not copy a table to filter it.
    `known_refs` are the day's existing manifest rows, used to decide whether a partition
    label must fall back to bucketed folders.
    """
    if streams is None:
        streams = streams_of(entries)
    # one contiguous copy to gather from: `take` over many chunks concatenates them anew
    # on every call
    entries = entries.select(ROW_COLUMNS).combine_chunks(memory_pool=BULK_POOL)
    fps = entries.column("fingerprint").to_numpy()
    ts = entries.column("ts").to_numpy()
    if rows is not None:
        fps, ts = fps[rows], ts[rows]
    if len(fps) == 0:
        return MANIFEST_SCHEMA.empty_table(), []
    stream_of_row, distinct = dense_rank(fps)
    streams = streams.take(pc.index_in(pa.array(distinct), value_set=streams.column("fingerprint")))
    bucketed = bucketed_labels(
        known_refs if known_refs is not None else MANIFEST_SCHEMA.empty_table(), streams, options
    )
    # Partition folders are a property of the stream, computed once per stream. Streams
    # are ranked by (folder, fingerprint), so one sort orders the rows folder by folder.
    dirs = [
        partition_dirs(dict(labels), options, bucketed) for labels in streams["labels"].to_pylist()
    ]
    folders = sorted(set(dirs))
    folder_index = {d: i for i, d in enumerate(folders)}
    folder_of = np.array([folder_index[d] for d in dirs], np.int64)
    rank_of = np.empty(len(dirs), np.int64)
    rank_of[np.lexsort((np.arange(len(dirs)), folder_of))] = np.arange(len(dirs))
    order = entry_order(rank_of[stream_of_row], ts, entries.column("line"), rows)
    sorted_streams = stream_of_row[order]
    row_folder = folder_of[sorted_streams]
    cuts = np.flatnonzero(np.concatenate(([True], row_folder[1:] != row_folder[:-1], [True])))
    rows_in_order = SortedRows(
        entries, order if rows is None else rows[order], sorted_streams, streams
    )
    pieces = [
        (layout.chunk_key(tenant, day, folders[row_folder[start]]), start, stop)
        for start, stop in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)
    ]
    results = rows_in_order.write_all(store, pieces, options)
    written = [(key, size) for (key, _, _), (_, size) in zip(pieces, results, strict=True)]
    return pa.concat_tables([refs for refs, _ in results]), written


def read_chunk(store: ObjectStore, key: str) -> pa.Table:
    """Read a whole chunk back as entries."""
    return pq.read_table(pa.BufferReader(store.get(key)), schema=ENTRY_SCHEMA)
