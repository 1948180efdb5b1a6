"""An fsspec filesystem, protocol `ringcache`: `fsspec.open("ringcache:///data/a.parquet")`.

    fs = fsspec.filesystem("ringcache", address="http://host:19999", token="...")
    pd.read_parquet("ringcache:///data/t.parquet",
                    storage_options={"address": "http://host:19999"})

Without `address`, the newest `ringcache.connect()` client is used.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from fsspec.caching import ReadAheadCache, register_cache
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from .client import CacheClient, connect, current_client

BLOCK_SIZE = 4 * 1024 * 1024  # bytes read ahead per request when reading sequentially
PARALLEL_RANGES = 8  # `cat_ranges` requests in flight at once


class RingcacheFileSystem(AbstractFileSystem):
    """Cluster paths read through the cache; read-only.

    Guarantees: files opened for reading fetch `block_size` bytes ahead (fsspec's
    `readahead` cache), so a sequential reader makes one request per block, except for
    ranges read without asking anyone (`HeldFirstReadAhead`); `cat_ranges`
    fetches its ranges in parallel, each from the owner of its file; `info` and `ls` name
    entries by cluster path, with their size and type.
    """

    protocol = "ringcache"
    root_marker = "/"

    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        client: CacheClient | None = None,
        ufs_fallback: bool = True,
        block_size: int = BLOCK_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if client is None and address is not None:
            client = connect(address, token, ufs_fallback=ufs_fallback, remember=False)
        self._client = client
        self.blocksize = block_size

    @property
    def client(self) -> CacheClient:
        return self._client or current_client()

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        path = super()._strip_protocol(path)
        return "/" + path.lstrip("/")

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        entry = self.client.stat(self._strip_protocol(path))
        return {"name": entry["path"], "size": entry["size"], "type": entry["type"]}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        path = self._strip_protocol(path)
        info = self.info(path)
        if info["type"] == "file":
            entries = [info]
        else:
            entries = [
                {"name": e["path"], "size": e["size"], "type": e["type"]}
                for e in self.client.list_dir(path)
            ]
        return entries if detail else [e["name"] for e in entries]

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        path = self._strip_protocol(path)
        if (start is not None and start < 0) or (end is not None and end < 0):
            size = self.info(path)["size"]  # fsspec's negative offsets count from the end
            start = None if start is None else max(0, size + start) if start < 0 else start
            end = None if end is None else max(0, size + end) if end < 0 else end
        start = start or 0
        return self.client.read(path, start, None if end is None else max(0, end - start))

    def cat_ranges(
        self,
        paths: list[str],
        starts: int | list[int],
        ends: int | list[int],
        max_gap: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[bytes | Exception]:
        count = len(paths)
        starts = starts if isinstance(starts, list) else [starts] * count
        ends = ends if isinstance(ends, list) else [ends] * count
        if not count == len(starts) == len(ends):
            raise ValueError("cat_ranges needs as many starts and ends as paths")

        def one(args: tuple[str, int, int]) -> bytes | Exception:
            try:
                return self.cat_file(*args)
            except Exception as exc:
                if on_error != "return":
                    raise
                return exc

        with ThreadPoolExecutor(min(PARALLEL_RANGES, max(1, count))) as pool:
            return list(pool.map(one, zip(paths, starts, ends, strict=True)))

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any):
        if mode != "rb":
            raise NotImplementedError("ringcache is a read cache: open files with mode 'rb'")
        path = self._strip_protocol(path)
        kwargs.setdefault("cache_type", HeldFirstReadAhead.name)
        if kwargs["cache_type"] == HeldFirstReadAhead.name:
            held = partial(self.client.read_held, path)
            kwargs["cache_options"] = {**(kwargs.get("cache_options") or {}), "held": held}
        return RingcacheFile(self, path, mode, block_size or self.blocksize, **kwargs)


class RingcacheFile(AbstractBufferedFile):
    """A file read through the cache, `block_size` bytes per request."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs.client.read(self.path, start, end - start)


class HeldFirstReadAhead(ReadAheadCache):
    """fsspec's read-ahead cache, except that a range this thread can read from a descriptor
    it holds of the file (`held`, see `CacheClient.read_held`: on the same host, a cached
    file's or a local UFS file's) is read as asked: that read asks no one, and reading a
    block ahead would only copy its bytes once more. The first read asks for its own
    range alone (answered with a descriptor to hold, it is the only one that asks); the
    reads after it that must ask read a block ahead."""

    name = "ringcache-held-first"

    def __init__(
        self,
        blocksize: int,
        fetcher: Callable[[int, int], bytes],
        size: int,
        held: Callable[[int, int], bytes | None] | None = None,
    ) -> None:
        super().__init__(blocksize, fetcher, size)
        self.held = held

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        start = start or 0
        end = self.size if end is None or end > self.size else end
        if self.held is None or start >= end:
            return super()._fetch(start, end)
        data = self.held(start, end - start)
        if data is not None:
            return data
        if self.miss_count:
            return super()._fetch(start, end)
        self.miss_count += 1
        self.total_requested_bytes += end - start
        return self.fetcher(start, end)


register_cache(HeldFirstReadAhead, clobber=True)
