"""The registry backend on a real etcd (v3 gRPC API), for clusters that run etcd.

Each `RegistryBackend` method is one etcd call over a synchronous gRPC channel, made with
the etcd v3 messages and stubs that the `aetcd` package ships: Range, Txn (a compare on
`mod_revision` for `prev_revision`), DeleteRange, LeaseGrant/KeepAlive/Revoke/TimeToLive,
Compact, and Watch for the event history (a caught-up watch kept by `EtcdHistory`, or a
replay from a past revision). etcd keeps the time of its leases and expires them itself;
revisions, history and compaction are etcd's own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence

import grpc
from aetcd import rpc

from ringcache.cluster.clock import Clock
from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound, Unavailable
from ringcache.cluster.registry.backend import Deleted
from ringcache.cluster.registry.etcd_history import ALL_KEYS, EtcdHistory, in_range, prefix_range
from ringcache.cluster.registry.model import Compacted, KeyValue, Lease, WatchEvent

CALL_TIMEOUT = 10.0  # seconds; a healthy etcd answers in milliseconds
HISTORY_WAIT = 1.0  # seconds the kept history may lag before a read replays instead


def parse_endpoints(url: str) -> list[str]:
    """`etcd://host:port[,host:port...]` -> ["host:port", ...] (port 2379 if left out)."""
    if not url.startswith("etcd://"):
        raise InvalidArgument("an etcd registry is etcd://host:port[,host:port...]", url=url)
    endpoints = []
    for part in url.removeprefix("etcd://").rstrip("/").split(","):
        host, _, port = part.strip().partition(":")
        if not host or (port and not port.isdigit()):
            raise InvalidArgument("bad etcd endpoint", url=url, endpoint=part)
        endpoints.append(f"{host}:{port or 2379}")
    return endpoints


def grpc_target(endpoints: Sequence[str]) -> str:
    """One gRPC target for all endpoints: a static address list when every host is an
    IPv4 address (gRPC then fails over between them), else the first endpoint."""
    hosts = [endpoint.rpartition(":")[0] for endpoint in endpoints]
    if len(endpoints) > 1 and all(host.replace(".", "").isdigit() for host in hosts):
        return "ipv4:" + ",".join(endpoints)
    return endpoints[0]


def to_key_value(kv: rpc.KeyValue) -> KeyValue:
    return KeyValue(
        kv.key.decode(),
        kv.value.decode(),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        kv.lease,
    )


def to_event(event: rpc.Event) -> WatchEvent:
    # etcd's Event.EventType: PUT = 0, DELETE = 1; a DELETE carries only key and revision.
    return WatchEvent("DELETE" if event.type == 1 else "PUT", to_key_value(event.kv))


class EtcdBackend:
    """`RegistryBackend` on an etcd cluster.

    Guarantees: every write is an etcd transaction, durable in etcd's raft log once it
    returns; a multi-key write (put_many, delete_prefix, revoke) is one transaction whose
    keys share one revision, as etcd gives; reads are linearizable; every client of the
    same etcd sees the same keys, revisions and history. Leases lapse on etcd's clock
    (whole seconds, at least etcd's minimum TTL), so `expired_leases` is always empty;
    `clock` only turns etcd's remaining TTL into an `expires_at`. History older than the
    newest `history` revisions is compacted in batches, like `SqliteBackend`.
    Thread-safe (gRPC channels are).
    """

    def __init__(self, url: str, clock: Clock, *, history: int = 100_000) -> None:
        if history < 1:
            raise InvalidArgument("history must keep at least one revision", history=history)
        self.url = url
        self.history = history
        self._compact_slack = max(1, min(history // 10, 10_000))
        self._clock = clock
        self._channel = grpc.insecure_channel(grpc_target(parse_endpoints(url)))
        self._kv = rpc.KVStub(self._channel)
        self._leases = rpc.LeaseStub(self._channel)
        self._watch = rpc.WatchStub(self._channel)
        self._compact_revision = 0
        self._lock = threading.Lock()
        self._history = EtcdHistory(self._watch, self.revision(), keep=history)

    def __repr__(self) -> str:
        return f"EtcdBackend({self.url!r})"

    @property
    def changes(self) -> EtcdHistory:
        """The registry's `ChangeFeed`: wake-ups on writes by any client of this etcd."""
        return self._history

    # -- reads -----------------------------------------------------------------------------

    def revision(self) -> int:
        return self._range(rpc.RangeRequest(key=b"\0", count_only=True)).header.revision

    def compact_revision(self) -> int:
        """The newest compacted revision this client knows of (its own compactions and
        those a history read ran into)."""
        return self._compact_revision

    def get(self, key: str) -> KeyValue | None:
        kvs = self._range(rpc.RangeRequest(key=key.encode())).kvs
        return to_key_value(kvs[0]) if kvs else None

    def range(
        self, prefix: str, start_after: str | None = None, limit: int | None = None
    ) -> list[KeyValue]:
        if limit == 0:
            return []
        start, end = prefix_range(prefix)
        if start_after is not None:
            start = max(start, start_after.encode() + b"\0")  # the first key > start_after
        if end != b"\0" and start >= end:
            return []
        request = rpc.RangeRequest(key=start, range_end=end, limit=max(limit or 0, 0))
        return [to_key_value(kv) for kv in self._range(request).kvs]

    def lease(self, lease_id: int) -> Lease | None:
        request = rpc.LeaseTimeToLiveRequest(ID=lease_id)
        answer = self._call(self._leases.LeaseTimeToLive, request)
        if answer.TTL < 0:
            return None
        return Lease(lease_id, float(answer.grantedTTL), self._clock.now() + answer.TTL)

    def expired_leases(self, now: float) -> list[int]:
        return []  # etcd revokes lapsed leases itself, with DELETE events for their keys

    def events_since(self, prefix: str, revision: int, limit: int) -> list[WatchEvent]:
        """The history from `revision` on: the kept recent history, else a replay. Whole
        revisions only: the last one is finished even past `limit`."""
        head = self.revision()
        if revision > head:
            return []
        revision = max(revision, 1)
        start, end = prefix_range(prefix)
        found: list[WatchEvent] = []
        kept = self._history.read(revision, head, HISTORY_WAIT)
        for event in self._replay(revision, head) if kept is None else kept:
            key = event.kv.key
            if found and len(found) >= limit and event.kv.mod_revision > found[-1].kv.mod_revision:
                break
            if in_range(key, start, end):
                found.append(to_event(event))
        return found

    # -- writes ----------------------------------------------------------------------------

    def put(self, key: str, value: str, lease: int = 0, prev_revision: int | None = None) -> int:
        request = rpc.PutRequest(key=key.encode(), value=value.encode(), lease=lease)
        if prev_revision is None:
            revision = self._call(self._kv.Put, request).header.revision
        else:
            op = rpc.RequestOp(request_put=request)
            revision = self._compare_and(key, prev_revision, op).header.revision
        self._maybe_compact(revision)
        return revision

    def put_many(self, items: Sequence[tuple[str, str]]) -> int:
        # etcd refuses a key twice in one transaction; the last value wins, as it would.
        latest = dict(items)
        success = [
            rpc.RequestOp(request_put=rpc.PutRequest(key=key.encode(), value=value.encode()))
            for key, value in latest.items()
        ]
        revision = self._call(self._kv.Txn, rpc.TxnRequest(success=success)).header.revision
        self._maybe_compact(revision)
        return revision

    def delete(self, key: str, prev_revision: int | None = None) -> int | None:
        request = rpc.DeleteRangeRequest(key=key.encode())
        if prev_revision is None:
            answer = self._call(self._kv.DeleteRange, request)
            deleted, revision = answer.deleted, answer.header.revision
        else:
            op = rpc.RequestOp(request_delete_range=request)
            answer = self._compare_and(key, prev_revision, op)
            deleted, revision = (
                answer.responses[0].response_delete_range.deleted,
                answer.header.revision,
            )
        if not deleted:
            return None
        self._maybe_compact(revision)
        return revision

    def delete_prefix(self, prefix: str) -> Deleted:
        start, end = prefix_range(prefix)
        request = rpc.DeleteRangeRequest(key=start, range_end=end, prev_kv=True)
        answer = self._call(self._kv.DeleteRange, request)
        self._maybe_compact(answer.header.revision)
        revision = answer.header.revision
        return sorted((kv.key.decode(), revision) for kv in answer.prev_kvs)

    def grant(self, ttl: float, now: float, lease_id: int = 0) -> int:
        request = rpc.LeaseGrantRequest(TTL=max(1, math.ceil(ttl)), ID=lease_id)
        return self._call(self._leases.LeaseGrant, request).ID

    def refresh(self, lease_id: int, now: float) -> float:
        requests = iter([rpc.LeaseKeepAliveRequest(ID=lease_id)])
        answers = self._leases.LeaseKeepAlive(requests, timeout=CALL_TIMEOUT)
        try:
            answer = next(answers)
        except grpc.RpcError as exc:
            raise _unavailable(exc) from None
        finally:
            answers.cancel()
        if answer.TTL <= 0:
            raise NotFound("lease not found", lease=lease_id)
        return float(answer.TTL)

    def revoke(self, lease_id: int) -> Deleted:
        request = rpc.LeaseTimeToLiveRequest(ID=lease_id, keys=True)
        keys = sorted(
            key.decode() for key in self._call(self._leases.LeaseTimeToLive, request).keys
        )
        answer = self._call(self._leases.LeaseRevoke, rpc.LeaseRevokeRequest(ID=lease_id))
        return [(key, answer.header.revision) for key in keys]

    def compact(self, keep: int) -> int:
        """Compact etcd so that events after `revision - keep` stay (at least one)."""
        head = self.revision()
        target = min(head, max(head - max(keep, 0) + 1, 1))
        if target - 1 > self._compact_revision:
            try:
                self._call(self._kv.Compact, rpc.CompactionRequest(revision=target))
            except Compacted:
                pass  # someone compacted further already
            self._note_compacted(target - 1)
        return self._compact_revision

    def close(self) -> None:
        self._history.close()
        self._channel.close()

    # -- internals -------------------------------------------------------------------------

    def _range(self, request: rpc.RangeRequest) -> rpc.RangeResponse:
        return self._call(self._kv.Range, request)

    def _call(self, method, request):  # noqa: ANN001, ANN202 (any unary etcd call)
        try:
            return method(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            raise _translate(exc) from None

    def _compare_and(self, key: str, prev_revision: int, op: rpc.RequestOp) -> rpc.TxnResponse:
        """Run `op` if `key`'s mod_revision is `prev_revision` (0: absent); Conflict if not."""
        compare = rpc.Compare(
            key=key.encode(),
            target=rpc.Compare.MOD,
            result=rpc.Compare.EQUAL,
            mod_revision=prev_revision,
        )
        check = rpc.RequestOp(request_range=rpc.RangeRequest(key=key.encode()))
        request = rpc.TxnRequest(compare=[compare], success=[op], failure=[check])
        answer = self._call(self._kv.Txn, request)
        if not answer.succeeded:
            kvs = answer.responses[0].response_range.kvs
            current = kvs[0].mod_revision if kvs else 0
            raise Conflict(
                "mod_revision does not match",
                key=key,
                mod_revision=current,
                prev_revision=prev_revision,
            )
        return answer

    def _replay(self, start: int, head: int) -> Iterator[rpc.Event]:
        """Every event from `start` through at least `head`, from a watch on all keys
        (each revision up to `head` has an event, so seeing `head` means caught up)."""
        done = threading.Event()
        create = rpc.WatchCreateRequest(
            key=ALL_KEYS[0], range_end=ALL_KEYS[1], start_revision=start
        )

        def requests() -> Iterator[rpc.WatchRequest]:
            yield rpc.WatchRequest(create_request=create)
            done.wait(CALL_TIMEOUT)  # keep the stream open until the replay is read

        answers = self._watch.Watch(requests(), timeout=CALL_TIMEOUT)
        try:
            for answer in answers:
                if answer.compact_revision:
                    self._note_compacted(answer.compact_revision - 1)
                    raise Compacted(
                        "watch history before this revision was compacted",
                        compact_revision=answer.compact_revision - 1,
                        start_revision=start,
                    )
                if answer.canceled:
                    raise Unavailable("etcd canceled the watch", reason=answer.cancel_reason)
                yield from answer.events
                if answer.events and answer.events[-1].kv.mod_revision >= head:
                    return
        except grpc.RpcError as exc:
            raise _translate(exc) from None
        finally:
            done.set()
            answers.cancel()

    def _note_compacted(self, revision: int) -> None:
        with self._lock:
            self._compact_revision = max(self._compact_revision, revision)

    def _maybe_compact(self, revision: int) -> None:
        if revision - self._compact_revision > self.history + self._compact_slack:
            self.compact(self.history)


def _translate(exc: grpc.RpcError) -> Exception:
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.NOT_FOUND and "lease" in details:
        return NotFound("lease not found", reason=details)
    if code == grpc.StatusCode.FAILED_PRECONDITION and "already exists" in details:
        return Conflict("lease already exists", reason=details)
    if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
        return Compacted("revision was compacted", reason=details)
    if code == grpc.StatusCode.INVALID_ARGUMENT and "too many operations" in details:
        hint = "start etcd with a larger --max-txn-ops (ringcache's test server uses 10000)"
        return InvalidArgument(f"{details}; {hint}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(details)
    return _unavailable(exc)


def _unavailable(exc: grpc.RpcError) -> Exception:
    return Unavailable(f"etcd call failed: {exc.code().name}", reason=exc.details() or "")
