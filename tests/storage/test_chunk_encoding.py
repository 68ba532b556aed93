"""How chunks are encoded, and the fast paths of flush and compaction that must not change
what is stored: labels built per stream run, the `line` encoding, one-day flush rounds that
skip absorbed landing objects, and the overlap count compaction reports."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import manifest
from storage.chunks import ChunkOptions, LabelDictionary, write_chunks
from storage.compaction import overlapping_streams
from storage.flush import flush
from storage.landing import decode_landing, list_landing, write_landing
from storage.objectstore import ObjectStore
from storage.schema import LABELS_TYPE
from tests.storage.helpers import T0, entries

STREAM_LABELS = pa.array(
    [
        [("app", "api"), ("env", "prod"), ("service_name", "api")],
        [],  # a stream may have no labels left after validation
        [("app", "db"), ("service_name", "db")],
        [("service_name", "x" * 300)],
    ],
    LABELS_TYPE,
)


@pytest.mark.parametrize(
    "stream",
    [
        [0, 0, 0, 1, 1, 2, 3, 3, 3, 3],  # sorted runs, as chunks are written
        [3, 0, 2, 2, 1, 0, 3, 1, 0],  # any order still gives each row its stream's map
        [1, 1, 1],  # only empty maps
        [],
    ],
)
def test_label_column_gives_every_row_its_streams_map(stream) -> None:
    column = LabelDictionary(STREAM_LABELS).column(np.array(stream, np.int64))
    expected = STREAM_LABELS.take(pa.array(stream, pa.int64())).to_pylist()
    assert column.cast(LABELS_TYPE).to_pylist() == expected


def _line_encodings(path: str) -> set[str]:
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    column = names.index("line")
    return {
        e for rg in range(meta.num_row_groups) for e in meta.row_group(rg).column(column).encodings
    }


@pytest.mark.parametrize("encoding", ["DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "PLAIN"])
def test_line_encoding_is_standard_parquet_every_engine_reads(tmp_path, encoding) -> None:
    """Lines with long shared prefixes (sorted logfmt lines) come back byte for byte through
    pyarrow, DuckDB and Polars, whichever `line` encoding wrote them."""
    store = ObjectStore(str(tmp_path))
    lines = [f'ts=2024-05-01T00:00:0{i % 10}.{i:03d}Z level=info msg="é{i}"' for i in range(500)]
    lines[7] = ""  # an empty line shares no prefix
    table = entries(1, {"service_name": "api"}, [T0 + i for i in range(500)], lines)
    refs, written = write_chunks(
        store, "t", "2024-05-01", table, ChunkOptions(line_encoding=encoding)
    )
    ((key, _size),) = written
    path = store.path(key)
    assert encoding in _line_encodings(path)
    assert pq.read_table(path).column("line").to_pylist() == lines
    assert [r[0] for r in duckdb.sql(f"SELECT line FROM '{path}' ORDER BY ts").fetchall()] == lines
    assert pl.read_parquet(path).get_column("line").to_list() == lines
    assert refs.column("bytes").to_pylist() == [sum(len(line.encode()) for line in lines)]


def test_delta_byte_array_makes_prefix_sharing_lines_smaller(tmp_path) -> None:
    """What the opt-in encoding is for (see `ChunkOptions`)."""
    store = ObjectStore(str(tmp_path))
    rng = np.random.default_rng(5)
    lines = [
        f"ts=2024-05-01T00:{i // 600:02d}:{i // 10 % 60:02d}.{i % 1000:03d}Z level=info "
        f"path=/api/v1/orders/{rng.integers(1e6)} trace_id={rng.bytes(8).hex()}"
        for i in range(20_000)
    ]
    table = entries(1, {"service_name": "api"}, [T0 + i for i in range(20_000)], lines)
    sizes = {
        encoding: write_chunks(
            store, "t", "2024-05-01", table, ChunkOptions(line_encoding=encoding)
        )[1][0][1]
        for encoding in ("DELTA_BYTE_ARRAY", "DELTA_LENGTH_BYTE_ARRAY")
    }
    assert sizes["DELTA_BYTE_ARRAY"] < sizes["DELTA_LENGTH_BYTE_ARRAY"]


def test_one_day_round_skips_exactly_the_absorbed_landing_object(tmp_path) -> None:
    """A crashed flush committed the first of two same-day landing objects: the re-run adds
    only the second one's rows and records it as absorbed."""
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0 + 1, T0 + 2]))
    write_landing(store, "t", entries(2, {"service_name": "b"}, [T0 + 3, T0 + 4, T0 + 5]))
    first, second = (o.key for o in list_landing(store))
    refs, _ = write_chunks(
        store, "t", "2024-05-01", decode_landing(store.get(first)), ChunkOptions()
    )
    base = manifest.load_latest(store, "t", "2024-05-01")
    manifest.publish(store, base, refs, operation="flush", applied_landing=[first])
    result = flush(store)
    assert (result.rows, result.raw_bytes) == (3, sum(len(f"line ts={T0 + i}") for i in (3, 4, 5)))
    latest = manifest.load_latest(store, "t", "2024-05-01")
    assert second in latest.commit["applied_landing"]
    streams = latest.streams().sort_by("fingerprint")
    assert streams.column("lines").to_pylist() == [2, 3]


def _overlapping_pairwise(refs: pa.Table) -> int:
    """Streams with two references whose time ranges share more than an end point."""
    rows = refs.to_pylist()
    found = set()
    for a, b in itertools.combinations(rows, 2):
        if a["fingerprint"] != b["fingerprint"]:
            continue
        meet = max(a["min_ts"], b["min_ts"]) <= min(a["max_ts"], b["max_ts"])
        touch = a["max_ts"] == b["min_ts"] or b["max_ts"] == a["min_ts"]
        if meet and not touch:
            found.add(a["fingerprint"])
    return len(found)


@pytest.mark.parametrize("scale", [100, 2**61])
def test_overlap_count_matches_a_pairwise_check(scale) -> None:
    """Small and huge time spans (the latter take the per-stream path that cannot
    overflow); point ranges and shared starts included."""
    rng = np.random.default_rng(scale % 1000)
    for _ in range(300):
        n = int(rng.integers(1, 25))
        low = rng.integers(-scale, scale, n)
        length = rng.integers(0, 3, n) * rng.integers(0, max(scale // 4, 2), n)
        refs = pa.table(
            {
                "fingerprint": rng.integers(-2, 3, n),
                "min_ts": low,
                "max_ts": np.minimum(low + length, 2**62),
            }
        )
        assert overlapping_streams(refs) == _overlapping_pairwise(refs)


def test_flush_writes_delta_length_lines_by_default(tmp_path) -> None:
    """The default `line` encoding is the one DuckDB scans fastest (see `ChunkOptions`)."""
    store = ObjectStore(str(tmp_path))
    write_landing(store, "t", entries(1, {"service_name": "a"}, [T0 + 1, T0 + 2]))
    flush(store)
    (key,) = manifest.load_latest(store, "t", "2024-05-01").chunk_keys()
    encodings = _line_encodings(store.path(key))
    assert "DELTA_LENGTH_BYTE_ARRAY" in encodings
    assert not encodings & {"PLAIN", "DELTA_BYTE_ARRAY", "PLAIN_DICTIONARY", "RLE_DICTIONARY"}
