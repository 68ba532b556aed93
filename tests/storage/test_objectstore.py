"""The object store keeps its two promises on local disk and on a real S3 API server:
durable puts and atomic create-if-absent."""

from __future__ import annotations

import threading

import pytest

from storage.objectstore import ObjectStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path) -> ObjectStore:
    if request.param == "local":
        return ObjectStore(str(tmp_path / "lake"))
    url, endpoint = request.getfixturevalue("s3_lake")
    return ObjectStore(url, endpoint=endpoint)


def test_put_get_list_delete(store: ObjectStore) -> None:
    store.put("a/b/one.bin", b"1")
    store.put("a/two.bin", b"22")
    assert store.get("a/b/one.bin") == b"1"
    assert [(o.key, o.size) for o in store.list("a")] == [("a/b/one.bin", 1), ("a/two.bin", 2)]
    assert store.list_dirs("a") == ["b"]
    store.delete(["a/b/one.bin", "a/missing"])
    assert not store.exists("a/b/one.bin")
    with pytest.raises(FileNotFoundError):
        store.get("a/b/one.bin")


def test_put_if_absent_never_overwrites(store: ObjectStore) -> None:
    assert store.put_if_absent("m/v1", b"first")
    assert not store.put_if_absent("m/v1", b"second")
    assert store.get("m/v1") == b"first"


def test_put_if_absent_has_one_winner_under_a_race(store: ObjectStore) -> None:
    winners: list[int] = []

    def attempt(i: int) -> None:
        if store.put_if_absent("race/v1", str(i).encode()):
            winners.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert store.get("race/v1") == str(winners[0]).encode()


def test_local_list_skips_unfinished_temporaries(tmp_path) -> None:
    store = ObjectStore(str(tmp_path))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / ".tmp-abc").write_bytes(b"partial")
    store.put("x/done", b"ok")
    assert [o.key for o in store.list("x")] == ["x/done"]


def test_duckdb_reads_s3_without_httpfs(s3_lake) -> None:
    import duckdb

    url, endpoint = s3_lake
    store = ObjectStore(url, endpoint=endpoint)
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    store.register_duckdb(con)
    con.execute(f"COPY (SELECT 42 AS x) TO '{store.duckdb_path('t/x.parquet')}' (FORMAT parquet)")
    assert con.sql(
        f"SELECT x FROM read_parquet('{store.duckdb_path('t/x.parquet')}')"
    ).fetchall() == [(42,)]
    loaded = con.sql("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'")
    assert loaded.fetchall() in ([], [(False,)])
