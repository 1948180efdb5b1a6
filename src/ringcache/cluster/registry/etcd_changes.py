"""Wake-ups for watches on writes made by any client of etcd, not only this process."""

from __future__ import annotations

import asyncio
import logging

from aetcd import Client

from ringcache.cluster.registry.etcd_backend import parse_endpoints, prefix_range

log = logging.getLogger(__name__)


class EtcdChanges:
    """`ChangeFeed` over etcd watches, through aetcd's asyncio client.

    Guarantees: `wait(prefix, revision)` returns as soon as etcd holds an event under
    `prefix` at `revision` or later, whoever wrote it; every wait of one event loop
    shares one gRPC watch stream. The client is made on the first wait of a loop (a
    gRPC asyncio channel belongs to the loop it was made on).
    """

    def __init__(self, url: str) -> None:
        host, _, port = parse_endpoints(url)[0].rpartition(":")
        self._address = (host, int(port))
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return "EtcdChanges({}:{})".format(*self._address)

    async def wait(self, prefix: str, revision: int) -> None:
        client = await self._connected()
        key, range_end = prefix_range(prefix)
        try:
            watch = await client.watch(key, range_end=range_end, start_revision=revision)
        except Exception:  # e.g. compacted: the caller's next read reports it
            return
        try:
            async for _ in watch:
                return
        finally:
            await watch.cancel()

    async def _connected(self) -> Client:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = Client(*self._address), loop
            await self._client.connect()
        return self._client

    def close(self) -> None:
        """Close the client if its loop is this one (else the loop's end releases it)."""
        client, self._client = self._client, None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if client is not None and running is self._loop:
            running.create_task(client.close())
