"""The push path's landing writes (`storage.landing.GroupCommitter`): requests announced
while being decoded share one durable object, and split entries land as whole ones do."""

from __future__ import annotations

import threading

import pyarrow as pa

from loglake.config import Limits
from loglake.ingest.push import build_entries, decode_push_batch
from loglake.ingest.push_proto import encode_push
from storage.landing import (
    GroupCommitter,
    decode_landing,
    encode_landing,
    encode_landing_parts,
    list_landing,
    split_entries,
    write_landing_parts,
)
from storage.objectstore import ObjectStore

NOW = 1_700_000_000_000_000_000


def built(*streams):
    batch = decode_push_batch(encode_push(streams), "application/x-protobuf", None)
    result = build_entries(batch, Limits(), "t", NOW)
    assert result.error is None
    return result


def test_an_announced_request_joins_the_object_being_formed(tmp_path):
    store = ObjectStore(str(tmp_path))
    # A long wait bound: the writer may only write once the announced request submitted.
    committer = GroupCommitter(store, max_wait_s=60)
    first, second = built(('{app="a"}', [(NOW, "one")])), built(('{app="b"}', [(NOW, "two")]))
    try:
        with committer.announce():
            landed_first = committer.submit_parts("t", first.rows, first.stream_labels)
            landed_second = committer.submit_parts("t", second.rows, second.stream_labels)
        assert landed_first.result() == landed_second.result()
    finally:
        committer.close()
    [obj] = list_landing(store, "t")
    table = decode_landing(store.get(obj.key))
    assert sorted(table.column("line").to_pylist()) == ["one", "two"]
    assert table.equals(pa.concat_tables([first.table, second.table]))


def test_an_announcement_that_submits_nothing_releases_the_writer(tmp_path):
    committer = GroupCommitter(ObjectStore(str(tmp_path)), max_wait_s=60)
    result = built(('{app="a"}', [(NOW, "one")]))
    landed = committer.submit_parts("t", result.rows, result.stream_labels)
    done = threading.Event()
    landed.add_done_callback(lambda _: done.set())
    try:
        try:
            with committer.announce():
                raise ValueError("refused while decoding")
        except ValueError:
            pass
        assert done.wait(30)
        assert landed.exception() is None
    finally:
        committer.close()


def test_split_entries_land_as_the_whole_table_does(tmp_path):
    store = ObjectStore(str(tmp_path))
    result = built(
        ('{app="a", env="x"}', [(NOW, "one", {"trace_id": "t1"}), (NOW + 1, "two")]),
        ('{app="b"}', [(NOW + 2, "three")]),
    )
    table = result.table
    rows, streams = split_entries(table)
    assert encode_landing_parts(rows, streams, compress=False) == encode_landing(
        table, compress=False
    )
    key = write_landing_parts(store, "t", result.rows, result.stream_labels)
    assert decode_landing(store.get(key)).equals(table)
