"""The client's data path: HTTP/1.1 GETs to the workers' data servers, kept alive."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import quote

from ..cluster.errors import (
    Conflict,
    FailureReason,
    Gone,
    InvalidArgument,
    NotFound,
    NotSupported,
    RingcacheError,
    UfsError,
    UfsNotFound,
    Unavailable,
)
from ..cluster.ufs.local_roots import OutsideLocalRoots
from ..dataserver.alluxio import file_id
from .forks import renew_in_children

TIMEOUT = 60.0  # seconds a data server may take to answer (a miss reads the UFS first)


class HttpDataPath:
    """Reads from workers' data servers (Alluxio's `/v1/range`, `/v1/info`, `/v1/files`).

    Guarantees: one kept-alive connection per worker per thread (a forked child opens its
    own), reopened once if the server closed it; a worker that cannot be reached, or
    answers 503, raises Unavailable (the caller may ask another); any other failure
    raises the error the worker named (`UfsNotFound`, `InvalidArgument`, ...), never
    returns partial bytes.
    """

    def __init__(self, token: str | None = None, timeout: float = TIMEOUT) -> None:
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self._local = threading.local()
        renew_in_children(self)

    def after_fork(self) -> None:
        """In a forked child: the connections of the thread that forked are the parent's."""
        for connection in self._local.__dict__.pop("connections", {}).values():
            connection.close()  # the child's copy of its socket; the parent's stays open

    def read(self, address: str, uri: str, offset: int, length: int | None) -> bytes:
        """Bytes `[offset, offset + length)` of `uri` (to its end if length is None)."""
        target = (
            f"/v1/range/{file_id(uri)}?ufsFullPath={quote(uri, safe='/:')}"
            f"&offset={offset}&length={-1 if length is None else length}"
        )
        return self._get(address, target)

    def info(self, address: str, uri: str) -> dict[str, Any]:
        """Alluxio's entry (`mType`, `mLength`, `mPath`, ...) of a file or directory."""
        return json.loads(self._get(address, f"/v1/info?path={quote(uri, safe='/:')}"))[0]

    def list(self, address: str, uri: str) -> list[dict[str, Any]]:
        """Alluxio's entries of what is directly under a directory."""
        return json.loads(self._get(address, f"/v1/files?path={quote(uri, safe='/:')}"))

    def close(self) -> None:
        for connection in self._connections().values():
            connection.close()
        self._connections().clear()

    def _connections(self) -> dict[str, http.client.HTTPConnection]:
        if not hasattr(self._local, "connections"):
            self._local.connections = {}
        return self._local.connections

    def _get(self, address: str, target: str) -> bytes:
        connections = self._connections()
        for attempt in range(2):
            connection = connections.get(address)
            if connection is None:
                host, _, port = address.rpartition(":")
                connection = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
                connections[address] = connection
            try:
                connection.request("GET", target, headers=self.headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connections.pop(address, None)
                if attempt == 0 and isinstance(exc, (ConnectionError, http.client.HTTPException)):
                    continue  # a kept-alive connection the server had closed: once more, fresh
                raise Unavailable(f"data server {address} unreachable: {exc}") from None
            if response.status == 200:
                return body
            try:
                answer = json.loads(body)
                message, reason = str(answer["status"]), answer.get("reason")
            except (ValueError, TypeError, KeyError):
                message, reason = body[:200].decode("utf-8", "replace"), None
            raise answer_error(response.status, f"data server {address}: {message}", reason)
        raise AssertionError("unreachable")


class Unauthorized(RingcacheError):
    """A data server wants the cluster's token, and was not given it (or a wrong one)."""

    status_code = 401


# An answer's reason, else its status, names the domain error: each error class carries its
# own status code (cluster/errors.py), so the classes say which status is theirs.
ERROR_FOR_REASON: dict[str, type[RingcacheError]] = {
    FailureReason.UFS_NOT_FOUND: UfsNotFound,
    FailureReason.OUTSIDE_LOCAL_ROOTS: OutsideLocalRoots,
}
ERROR_FOR_STATUS: dict[int, type[RingcacheError]] = {
    error.status_code: error
    for error in (InvalidArgument, NotFound, Conflict, Gone, NotSupported, Unavailable)
}


def answer_error(status: int, message: str, reason: str | None) -> RingcacheError:
    """The domain error a worker's answer names (its status code, and a UFS reason)."""
    if reason is not None:
        return ERROR_FOR_REASON.get(reason, UfsError)(message, reason=reason)
    if status == Unauthorized.status_code:
        return Unauthorized(f"{message} (connect with token=...)")
    if status in ERROR_FOR_STATUS:
        return ERROR_FOR_STATUS[status](message)
    error = RingcacheError(f"answered {status}: {message}")
    error.status_code = status
    return error
