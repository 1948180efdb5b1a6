"""Same-host short-circuit sockets are named per serving process (worker id and data
server port): two clusters on one host whose workers share ids each serve their own."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ringcache.client.local_reads import LocalReads
from ringcache.cluster.worker.epoch import ChangeEpoch
from ringcache.dataserver import LocalReadServer

from ..worker.fakes import PAGE, WORKER_A, Parts


def test_two_workers_with_one_id_on_one_host_each_serve_their_own_files(tmp_path: Path) -> None:
    sides = {}
    for side, port in (("one", 41001), ("two", 41002)):
        parts = Parts(tmp_path / side, worker_id=WORKER_A)
        data = os.urandom(2 * PAGE)
        uri = parts.write("a.bin", data)  # the same URI path under each side's own root
        sides[side] = (parts, port, uri, data)

    async def main() -> dict[str, bytes | None]:
        servers = []
        for side, (parts, port, _, _) in sides.items():
            await parts.mounts.refresh()
            epoch = ChangeEpoch(tmp_path / side / "epoch")
            server = LocalReadServer(parts.reads, parts.told, epoch, WORKER_A, port=port)
            await server.start()  # the second would fail to bind a name shared by id alone
            servers.append(server)
        try:
            reads = LocalReads()
            return {
                side: await asyncio.to_thread(
                    reads.read, WORKER_A, uri, 0, None, f"127.0.0.1:{port}"
                )
                for side, (_, port, uri, _) in sides.items()
            }
        finally:
            for server in servers:
                await server.stop()

    got = asyncio.run(main())
    assert got == {side: data for side, (_, _, _, data) in sides.items()}
