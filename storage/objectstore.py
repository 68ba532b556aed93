"""Object-store access for the lake: a local directory or `s3://bucket/prefix`.

`ObjectStore` is the one interface the lake writes and reads through. Keys are
`/`-separated paths relative to the lake root. Two guarantees matter to the storage
contract and hold on both back-ends:

- `put` returns only once the object is durable (local: fsync of the file and of its
  directory; S3: a completed PUT);
- `put_if_absent` publishes an object atomically and only if no object has the key yet
  (local: `link(2)` of a fully written temporary file; S3: `PutObject` with
  `If-None-Match: *`). Manifest commits are built on it.

DuckDB reads the lake through `duckdb_path()`; for S3 the connection gets the s3fs
filesystem registered (`register_duckdb`), so DuckDB's httpfs extension is never needed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.fs as pafs


@dataclass(frozen=True)
class ObjectInfo:
    """A listed object: its key (relative to the root), size in bytes and last-modified time
    (Unix ns: the local file's mtime, S3's LastModified)."""

    key: str
    size: int
    mtime_ns: int = 0


class ObjectStore:
    """Durable, create-if-absent object access rooted at a local directory or S3 prefix."""

    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.url = url
        self.is_s3 = url.startswith("s3://")
        if self.is_s3:
            self.fs = _s3_filesystem(endpoint, region, access_key_id, secret_access_key)
            self.root = url[len("s3://") :].rstrip("/")
        else:
            self.fs = fsspec.filesystem("file")
            self.root = str(Path(url).expanduser().resolve())
            os.makedirs(self.root, exist_ok=True)

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    # -- paths -----------------------------------------------------------------------

    def path(self, key: str) -> str:
        """The filesystem path of `key` (local path, or `bucket/prefix/key` for s3fs)."""
        return f"{self.root}/{key}"

    def duckdb_path(self, key: str) -> str:
        """A path DuckDB can open: local absolute path or `s3://…` via the registered fs."""
        return f"s3://{self.root}/{key}" if self.is_s3 else f"{self.root}/{key}"

    def register_duckdb(self, con: Any) -> None:
        """Let a DuckDB connection read `s3://` keys through s3fs (no httpfs download)."""
        if self.is_s3 and "s3" not in con.list_filesystems():
            con.register_filesystem(self.fs)

    def arrow_filesystem(self) -> pafs.FileSystem:
        """A pyarrow filesystem over the same store (paths from `path()`)."""
        if self.is_s3:
            return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))
        return pafs.LocalFileSystem()

    # -- writes ----------------------------------------------------------------------

    def put(self, key: str, data: bytes | memoryview) -> None:
        """Write `data` at `key`, durably, replacing nothing half-written on failure (a
        memoryview is written without a copy on local disk)."""
        if self.is_s3:
            self.fs.pipe_file(self.path(key), data)
            return
        target = self.path(key)
        tmp = self._write_temp(target, data)
        os.replace(tmp, target)
        _fsync_dir(os.path.dirname(target))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Publish `data` at `key` only if `key` does not exist; True when published."""
        if self.is_s3:
            try:
                self.fs.pipe_file(self.path(key), data, mode="create")
            except FileExistsError:
                return False
            return True
        target = self.path(key)
        tmp = self._write_temp(target, data)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        _fsync_dir(os.path.dirname(target))
        return True

    def _write_temp(self, target: str, data: bytes | memoryview) -> str:
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def delete(self, keys: Iterable[str]) -> None:
        """Remove objects; keys already gone are ignored."""
        keys = list(keys)
        if not keys:
            return
        if self.is_s3:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm([self.path(k) for k in keys])
            return
        dirs = set()
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(key))
            dirs.add(os.path.dirname(self.path(key)))
        for d in dirs:
            _fsync_dir(d)

    # -- reads -----------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        """The whole object; FileNotFoundError when absent."""
        if self.is_s3:
            return self.fs.cat_file(self.path(key))
        with open(self.path(key), "rb") as f:
            return f.read()

    def exists(self, key: str) -> bool:
        """Whether an object has this key."""
        if self.is_s3:
            return self.fs.exists(self.path(key))
        return os.path.isfile(self.path(key))

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Objects below `prefix` (a folder-like key), recursively, sorted by key.

        Temporary files of unfinished local writes are never listed.
        """
        base = self.path(prefix.rstrip("/"))
        if self.is_s3:
            try:
                found = self.fs.find(base, detail=True)
            except FileNotFoundError:
                return []
            skip = len(self.root) + 1
            return sorted(
                (
                    ObjectInfo(p[skip:], int(info.get("size") or 0), _s3_mtime_ns(info))
                    for p, info in found.items()
                ),
                key=lambda o: o.key,
            )
        return self._walk(base, temporary=False)

    def temp_files(self, prefix: str = "") -> list[ObjectInfo]:
        """The temporary files of local writes below `prefix` (S3 has none: a put is
        atomic): those of writes in flight, and those a crash left behind, which nothing
        else ever lists."""
        if self.is_s3:
            return []
        base = self.path(prefix.rstrip("/")) if prefix else self.root
        return self._walk(base, temporary=True)

    def _walk(self, base: str, *, temporary: bool) -> list[ObjectInfo]:
        """The local files below `base`, sorted by key: the objects, or (`temporary`)
        the `.tmp-*` files of writes, which are never objects."""
        out = []
        skip = len(self.root) + 1
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-") != temporary:
                    continue
                full = os.path.join(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(full)
                    out.append(ObjectInfo(full[skip:], st.st_size, st.st_mtime_ns))
        out.sort(key=lambda o: o.key)
        return out

    def list_dirs(self, prefix: str) -> list[str]:
        """Immediate sub-folder names under `prefix` (e.g. `tenant=a`), sorted."""
        base = self.path(prefix.rstrip("/"))
        if self.is_s3:
            try:
                entries = self.fs.ls(base, detail=True)
            except FileNotFoundError:
                return []
            return sorted(
                e["name"].rstrip("/").rsplit("/", 1)[-1]
                for e in entries
                if e.get("type") == "directory"
            )
        try:
            return sorted(e.name for e in os.scandir(base) if e.is_dir())
        except FileNotFoundError:
            return []


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _s3_filesystem(
    endpoint: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> Any:
    """An s3fs filesystem; unset settings fall back to the usual AWS_* environment."""
    import s3fs

    client_kwargs: dict[str, Any] = {}
    endpoint = (
        endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        client_kwargs["region_name"] = region
    kwargs: dict[str, Any] = {
        "client_kwargs": client_kwargs,
        "use_listings_cache": False,
        "skip_instance_cache": True,
    }
    if access_key_id:
        kwargs["key"] = access_key_id
        kwargs["secret"] = secret_access_key
    return s3fs.S3FileSystem(**kwargs)


def _s3_mtime_ns(info: dict) -> int:
    """An S3 listing entry's LastModified in Unix ns (now when the server gave none)."""
    modified = info.get("LastModified")
    return int(modified.timestamp() * 1e9) if modified is not None else time.time_ns()
