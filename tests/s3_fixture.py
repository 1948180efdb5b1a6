"""A real S3 server for the tests: moto's standalone server, one per test session.

The server checks credentials (moto's IAM authentication, switched on after the three
requests that create the test user), so bad credentials are refused as AWS refuses them.
Without moto the S3 tests skip with the reason shown, except under CI (CI=true), where
they fail: CI installs the `[test]` extra, so a server that cannot start is a broken
install, not a missing optional tool.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"
# Requests moto serves before it starts checking credentials: the three in `_make_user`.
_UNAUTHENTICATED_REQUESTS = 3


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint and the credentials of a user allowed everything on it."""

    endpoint_url: str
    key: str
    secret: str

    def options(self, **extra: str) -> dict[str, str]:
        """Mount options that reach this server as its user."""
        return {"endpoint_url": self.endpoint_url, "key": self.key, "secret": self.secret, **extra}

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"rc-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _make_user(endpoint_url: str) -> tuple[str, str]:
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint_url,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
        region_name=REGION,
    )
    iam.create_user(UserName="ringcache")
    key = iam.create_access_key(UserName="ringcache")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="ringcache", PolicyName="all", PolicyDocument=json.dumps(policy))
    return key["AccessKeyId"], key["SecretAccessKey"]


@contextmanager
def running_s3_server(log: Path) -> Iterator[S3Server]:
    """moto's S3 server in a child process on a free port, for as long as the block runs.

    RuntimeError (with the end of its log) if it does not start.
    """
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_UNAUTHENTICATED_REQUESTS)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        endpoint_url = f"http://127.0.0.1:{port}"
        if not _wait_for_port(port, process):
            raise RuntimeError(f"moto's S3 server did not start: {log.read_text()[-2000:]}")
        key, secret = _make_user(endpoint_url)
        yield S3Server(endpoint_url, key, secret)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        _fail_or_skip(f"no S3 test server: pip install 's3fs' 'moto[server]' ({exc})")
    with ExitStack() as stack:
        log = tmp_path_factory.mktemp("moto") / "server.log"
        try:
            server = stack.enter_context(running_s3_server(log))
        except RuntimeError as exc:
            _fail_or_skip(str(exc))
        yield server


_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class ThrottlingProxy:
    """An S3 endpoint in front of another that answers `503 SlowDown` (as S3 does when a
    prefix is read too fast) to the first `throttle` object reads (GETs of a key), and
    passes everything else through untouched. `object_reads` counts the reads it saw."""

    def __init__(self, target: S3Server, throttle: int) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        self.throttle = throttle
        self.object_reads = 0
        self._lock = threading.Lock()
        proxy = self
        upstream = urlsplit(target.endpoint_url)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy._throttled(self.command, self.path):
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(_SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(_SLOW_DOWN)
                    return
                connection = http.client.HTTPConnection(upstream.hostname, upstream.port)
                # The Host header is part of the request's signature: it is passed as sent.
                connection.putrequest(self.command, self.path, skip_host=True)
                for name, value in self.headers.items():
                    connection.putheader(name, value)
                connection.endheaders(body)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.server = S3Server(
            f"http://127.0.0.1:{self._server.server_address[1]}", target.key, target.secret
        )

    def _throttled(self, method: str, path: str) -> bool:
        # `/bucket/key...` without a query is an object read; listings carry a query.
        if method != "GET" or "?" in path or path.strip("/").count("/") < 1:
            return False
        with self._lock:
            self.object_reads += 1
            return self.object_reads <= self.throttle

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
