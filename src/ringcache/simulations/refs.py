"""The simulated actor references: a call crosses a modelled network to an object that may
have crashed.

An `Endpoint` is one actor's place on the network (the object it runs, whether it is up,
the calls it is serving); a `SimRef` is the caller's handle on it. Crashing an endpoint
cancels the calls it is serving, and their callers see `Unavailable`, as a Ray caller
sees a dead actor.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ..cluster.errors import Unavailable
from .costs import IoMeter, NetworkModel
from .loop import virtual_sleep


class SimNetwork:
    """One-way message delays, drawn from the run's seeded generator, and partitions.

    A partition cuts the calls a named caller makes to a named endpoint: after
    `partition(caller, endpoint)` and until `heal(caller, endpoint)`, such calls fail with
    `Unavailable` after the request delay, as a call into a dropped connection does.
    """

    def __init__(self, model: NetworkModel, rng: random.Random) -> None:
        self.model = model
        self.rng = rng
        self.messages = 0
        self.cut: set[tuple[str, str]] = set()
        self.meters: dict[str, IoMeter] = {}  # per node name: whose NIC an answer crosses

    def partition(self, caller: str, endpoint: str) -> None:
        self.cut.add((caller, endpoint))

    def heal(self, caller: str, endpoint: str) -> None:
        self.cut.discard((caller, endpoint))

    def is_cut(self, caller: str | None, endpoint: str) -> bool:
        return bool(self.cut) and (caller, endpoint) in self.cut

    def receive_time(self, caller: str | None, answer: Any, now: float) -> float:
        """Seconds the bytes in `answer` (page data from a peer) take to arrive over the
        caller's NIC, queued behind what that NIC already carries; 0 for other answers."""
        meter = self.meters.get(caller) if caller is not None else None
        if meter is None:
            return 0.0
        size = _payload_bytes(answer)
        if not size:
            return 0.0
        meter.received_from_peers += size
        return (meter.nic.reserve(now, size) - now) * meter.node.slowdown

    def delay(self) -> float:
        self.messages += 1
        jitter = self.model.rpc_jitter
        return self.model.rpc_latency + (self.rng.random() * jitter if jitter else 0.0)


class Endpoint:
    """An actor on the simulated network.

    Guarantees: while `up` is False every new call fails with `Unavailable`; `crash()`
    cancels the calls being served, in the order they arrived, and their callers get
    `Unavailable`; `restart()` serves a new object under the same name. A call is served
    in its caller's task, which a crash cancels (and the call takes the cancellation
    back before it answers `Unavailable`); only a `crashable` endpoint keeps track of
    the tasks in its calls.
    """

    def __init__(self, name: str, target: object, *, crashable: bool = True) -> None:
        self.name = name
        self.target = target
        self.crashable = crashable
        self.up = True
        self.crashes = 0
        # The tasks in calls here, and how many calls each is in (a call may lead back
        # here): a dict, not a set, as crash() must cancel in a reproducible order.
        self.calls: dict[asyncio.Task[Any], int] = {}
        self.cancelled: set[asyncio.Task[Any]] = set()  # by a crash, not yet taken back

    def __repr__(self) -> str:
        return f"Endpoint({self.name!r}, up={self.up})"

    def crash(self) -> None:
        if not self.crashable:
            raise RuntimeError(f"{self.name} was not built to crash")
        self.up = False
        self.crashes += 1
        for task in list(self.calls):
            if task.cancel():
                self.cancelled.add(task)

    def restart(self, target: object) -> None:
        self.target = target
        self.up = True


class SimRef:
    """`ActorRef` over the simulated network: request delay, the call, response delay.

    Arguments and results are passed by reference, not copied as Ray would pickle them;
    the cluster code does not mutate what it sends or receives, and the simulator relies on
    that.
    """

    __slots__ = ("endpoint", "network", "caller")

    def __init__(self, endpoint: Endpoint, network: SimNetwork, caller: str | None = None) -> None:
        self.endpoint = endpoint
        self.network = network
        self.caller = caller  # who calls through this ref: partitions are per caller

    def __repr__(self) -> str:
        return f"SimRef({self.endpoint.name!r})"

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        await _sleep(self.network.delay())
        endpoint = self.endpoint
        if not endpoint.up:
            raise Unavailable(f"{endpoint.name} is not reachable (down)")
        if self.network.cut and self.network.is_cut(self.caller, endpoint.name):
            raise Unavailable(f"{endpoint.name} is not reachable from {self.caller} (partition)")
        error: Exception | None = None
        try:
            if endpoint.crashable:
                result = await self._serve(endpoint, method, args, kwargs)
            else:
                result = await getattr(endpoint.target, method)(*args, **kwargs)
        except _Crashed as crashed:  # there is no answer to wait for
            raise Unavailable(str(crashed)) from None
        except Exception as exc:  # an error answer travels back like a result
            error = exc
            result = None
        network = self.network
        now = asyncio.get_running_loop().time()
        await _sleep(network.delay() + network.receive_time(self.caller, result, now))
        if error is not None:
            raise error
        return result

    @staticmethod
    async def _serve(endpoint: Endpoint, method: str, args: tuple, kwargs: dict) -> Any:
        """The call, run in the caller's task (no task of its own: two events less), which
        `endpoint.crash()` cancels; a cancellation by the crash is taken back here, and
        the caller gets `_Crashed` instead, even if the call swallowed it."""
        task = asyncio.current_task()
        assert task is not None
        calls = endpoint.calls
        calls[task] = calls.get(task, 0) + 1
        try:
            result = await getattr(endpoint.target, method)(*args, **kwargs)
        except asyncio.CancelledError:
            if not _crash_cancelled(endpoint, task) or task.cancelling():
                raise  # cancelled by its caller (a timeout, a shutdown), maybe too
            raise _Crashed(f"{endpoint.name} crashed during {method}") from None
        finally:
            if calls.get(task, 1) > 1:
                calls[task] -= 1
            else:
                calls.pop(task, None)
        if _crash_cancelled(endpoint, task):  # the call swallowed the cancellation
            raise _Crashed(f"{endpoint.name} crashed during {method}")
        return result


def _crash_cancelled(endpoint: Endpoint, task: asyncio.Task[Any]) -> bool:
    """Whether a crash of `endpoint` cancelled `task`; if so, that cancellation is taken
    back (it is the crash's, not the caller's)."""
    if task not in endpoint.cancelled:
        return False
    endpoint.cancelled.discard(task)
    task.uncancel()
    return True


class _Crashed(Exception):
    """The endpoint serving a call crashed before answering."""


class SimPeers:
    """`Peers` of the simulated cluster: a reference per known worker id."""

    def __init__(self, network: SimNetwork) -> None:
        self.network = network
        self.endpoints: dict[str, Endpoint] = {}
        self._refs: dict[str, SimRef] = {}

    def add(self, endpoint: Endpoint) -> SimRef:
        self.endpoints[endpoint.name] = endpoint
        ref = self._refs[endpoint.name] = SimRef(endpoint, self.network)
        return ref

    def worker(self, worker_id: str) -> SimRef:
        try:
            return self._refs[worker_id]
        except KeyError:
            raise Unavailable(f"worker {worker_id} is not reachable") from None

    def seen_from(self, caller: str) -> CallerPeers:
        """The same peers as `caller` calls them: answers cross `caller`'s NIC."""
        return CallerPeers(self, caller)


class CallerPeers:
    """`Peers` of one node: its references name it as the caller (partitions, NIC)."""

    def __init__(self, peers: SimPeers, caller: str) -> None:
        self.peers = peers
        self.caller = caller
        self._refs: dict[str, SimRef] = {}

    def worker(self, worker_id: str) -> SimRef:
        ref = self._refs.get(worker_id)
        if ref is None:
            endpoint = self.peers.endpoints.get(worker_id)
            if endpoint is None:
                raise Unavailable(f"worker {worker_id} is not reachable")
            ref = self._refs[worker_id] = SimRef(endpoint, self.peers.network, self.caller)
        return ref


def _payload_bytes(answer: Any) -> int:
    """The page bytes in an answer: a bytes-like one, or a list of them (None allowed)."""
    if isinstance(answer, bytes | bytearray | memoryview):
        return len(answer)
    if type(answer) is list and answer:
        first = next((item for item in answer if item is not None), None)
        if isinstance(first, bytes | bytearray | memoryview):
            return sum(len(item) for item in answer if item is not None)
    return 0


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await virtual_sleep(seconds)
