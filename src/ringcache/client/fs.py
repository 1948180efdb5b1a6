"""An fsspec filesystem, protocol `ringcache`: `fsspec.open("ringcache:///data/a.parquet")`."""

from __future__ import annotations

from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from .client import CacheClient, current_client


class RingcacheFileSystem(AbstractFileSystem):
    """Cluster paths read through the cache; read-only. Uses the newest `ringcache.connect`."""

    protocol = "ringcache"
    root_marker = "/"

    def __init__(self, client: CacheClient | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client = client

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
        if self.info(path)["type"] == "file":
            entries = [self.info(path)]
        else:
            entries = [
                {"name": e["path"], "size": e["size"], "type": e["type"]}
                for e in self.client.list_dir(path)
            ]
        return entries if detail else [e["name"] for e in entries]

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any):
        if mode != "rb":
            raise NotImplementedError("ringcache is a read cache: open files with mode 'rb'")
        return RingcacheFile(self, self._strip_protocol(path), mode, block_size, **kwargs)


class RingcacheFile(AbstractBufferedFile):
    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs.client.read(self.path, start, end - start)
