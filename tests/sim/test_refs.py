"""SimRef: calls cross the modelled network; a crashed endpoint answers Unavailable."""

from __future__ import annotations

import asyncio
import random

import pytest

from ringcache.cluster.errors import NotFound, Unavailable
from ringcache.simulations.costs import NetworkModel
from ringcache.simulations.loop import VirtualTimeLoop, run_virtual
from ringcache.simulations.refs import Endpoint, SimNetwork, SimPeers, SimRef


class Echo:
    def __init__(self, name: str = "echo") -> None:
        self.name = name
        self.seen: list[float] = []

    async def ping(self, value: int, *, twice: bool = False) -> tuple[str, int]:
        self.seen.append(asyncio.get_running_loop().time())
        return self.name, value * (2 if twice else 1)

    async def slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    async def fail(self) -> None:
        raise NotFound("no such thing")


def _network(latency: float = 0.25, jitter: float = 0.0, seed: int = 0) -> SimNetwork:
    return SimNetwork(NetworkModel(rpc_latency=latency, rpc_jitter=jitter), random.Random(seed))


def test_a_call_takes_a_request_and_a_response_delay():
    loop, target = VirtualTimeLoop(), Echo()
    ref = SimRef(Endpoint("echo", target), _network())

    async def main():
        answer = await ref.call("ping", 21, twice=True)
        return answer, loop.time()

    assert run_virtual(main(), loop) == (("echo", 42), 0.5)
    assert target.seen == [0.25]  # the target saw the call after one delay


def test_errors_travel_back_after_the_response_delay():
    loop = VirtualTimeLoop()
    ref = SimRef(Endpoint("echo", Echo(), crashable=False), _network())

    async def main() -> float:
        with pytest.raises(NotFound):
            await ref.call("fail")
        return loop.time()

    assert run_virtual(main(), loop) == 0.5


def test_a_crash_fails_calls_in_flight_and_new_calls_until_restart():
    loop = VirtualTimeLoop()
    endpoint = Endpoint("w1", Echo("first"))
    ref = SimRef(endpoint, _network())

    async def main() -> list[object]:
        in_flight = asyncio.get_running_loop().create_task(ref.call("slow", 10))
        await asyncio.sleep(1)
        endpoint.crash()
        outcomes: list[object] = []
        for call in (in_flight, ref.call("ping", 1)):
            try:
                outcomes.append(await call)
            except Unavailable as exc:
                outcomes.append(exc.message)
        endpoint.restart(Echo("second"))
        outcomes.append(await ref.call("ping", 1))
        return outcomes

    outcomes = run_virtual(main(), loop)
    assert outcomes[0] == "w1 crashed during slow"
    assert "down" in outcomes[1]
    assert outcomes[2] == ("second", 1)
    assert endpoint.calls == {}


class Relay:
    """Serves a call by calling another endpoint; or swallows the cancellation it gets."""

    def __init__(self, onward: SimRef) -> None:
        self.onward = onward

    async def relay(self, seconds: float) -> str:
        return await self.onward.call("slow", seconds)

    async def stubborn(self) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "kept going"
        return "done"


def test_a_crash_mid_call_fails_the_caller_and_leaves_its_task_uncancelled():
    # A call is served in its caller's task: the crash's cancellation must not outlive it,
    # whether it came through a call onward to a healthy endpoint or was swallowed.
    network = _network()
    inner = Endpoint("inner", Echo())
    outer = Endpoint("outer", Relay(SimRef(inner, network, "outer")))
    ref = SimRef(outer, network, "caller")

    async def attempt(method: str, *args: object) -> tuple[object, int]:
        try:
            answer: object = await ref.call(method, *args)
        except Unavailable as exc:
            answer = exc.message
        task = asyncio.current_task()
        assert task is not None
        return answer, task.cancelling()

    async def main() -> list[object]:
        running = asyncio.get_running_loop()
        calls = [
            running.create_task(attempt("relay", 10)),
            running.create_task(attempt("stubborn")),
        ]
        await asyncio.sleep(1)
        outer.crash()
        answers: list[object] = [await call for call in calls]
        outer.restart(Relay(SimRef(inner, network, "outer")))
        answers.append(await attempt("relay", 1))
        return answers

    assert run_virtual(main()) == [
        ("outer crashed during relay", 0),
        ("outer crashed during stubborn", 0),
        ("done", 0),
    ]
    assert outer.calls == inner.calls == {} and not outer.cancelled


def test_a_caller_cancelled_as_its_endpoint_crashes_is_cancelled():
    endpoint = Endpoint("w1", Echo())
    ref = SimRef(endpoint, _network())

    async def main() -> bool:
        call = asyncio.get_running_loop().create_task(ref.call("slow", 10))
        await asyncio.sleep(1)
        call.cancel()
        endpoint.crash()
        with pytest.raises(asyncio.CancelledError):
            await call
        return call.cancelled()

    assert run_virtual(main()) is True
    assert endpoint.calls == {}


def test_a_caller_timeout_is_not_mistaken_for_a_crash():
    endpoint = Endpoint("w1", Echo())
    ref = SimRef(endpoint, _network())

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ref.call("slow", 10), timeout=2)

    run_virtual(main())
    assert endpoint.up and endpoint.calls == {}


def test_jitter_comes_from_the_seed():
    def delays(seed: int) -> list[float]:
        network = _network(latency=0.1, jitter=0.05, seed=seed)
        return [network.delay() for _ in range(5)]

    assert delays(3) == delays(3)
    assert delays(3) != delays(4)
    assert all(0.1 <= d < 0.15 for d in delays(3))


def test_peers_know_only_added_workers():
    peers = SimPeers(_network())
    peers.add(Endpoint("worker-a", Echo()))
    assert peers.worker("worker-a").endpoint.name == "worker-a"
    with pytest.raises(Unavailable):
        peers.worker("worker-b")
    with pytest.raises(RuntimeError):
        Endpoint("registry", Echo(), crashable=False).crash()


class Pages:
    async def read(self, nbytes: int) -> bytes:
        return bytes(nbytes)

    async def read_many(self, sizes: list[int]) -> list[bytes | None]:
        return [bytes(n) if n else None for n in sizes]


def test_page_bytes_in_an_answer_queue_on_the_callers_nic():
    from ringcache.simulations.costs import IoMeter, NodeModel

    loop, network = VirtualTimeLoop(), _network(latency=0.0)
    meter = IoMeter(NodeModel(nic_bandwidth=1e6), network.model, None)
    network.meters["receiver"] = meter
    peers = SimPeers(network)
    peers.add(Endpoint("sender", Pages()))
    ref = peers.seen_from("receiver").worker("sender")

    async def main():
        await ref.call("read", 500_000)  # half a second on a 1 MB/s NIC
        first = loop.time()
        await asyncio.gather(ref.call("read_many", [250_000, 0]), ref.call("read", 250_000))
        return first, loop.time()

    assert run_virtual(main(), loop) == (0.5, 1.0)  # the two answers queued on one NIC
    assert meter.received_from_peers == 1_000_000
    # Answers that carry no page bytes, and callers without a meter, cost only latency.
    assert network.receive_time("receiver", [{"path": "x"}], 0.0) == 0.0
    assert network.receive_time(None, b"x" * 10, 0.0) == 0.0
