"""The contract every ring policy keeps (`RingPolicy`), and each policy's known bounds.

Balance is measured on 100 workers x 100,000 keys (mean 1,000 keys a worker). Even a
perfect split of the key space leaves each worker's key count a binomial draw, standard
deviation about sqrt(1000) = 3.2% of the mean, so a bound on keys is the policy's bound on
its share of the key space plus a few of those standard deviations (NOISE). The shares
themselves are checked exactly where the policy exposes them.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import uuid
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ring.build import build_ring, ring_from_snapshot
from ringcache.cluster.ring.cache import RingCache
from ringcache.cluster.ring.policy import POLICIES, RingPolicy

WORKERS, KEYS = 100, 100_000
MEAN = KEYS / WORKERS
NOISE = 5 / math.sqrt(MEAN)  # five binomial standard deviations, relative to the mean


def worker_ids(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    return ["worker-" + str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(n)]


PATHS = [f"s3://bucket/data/{i // 1000:04d}/part-{i:06d}.parquet" for i in range(KEYS)]
MEMBERS = worker_ids(WORKERS)


@pytest.fixture(scope="module", params=POLICIES)
def policy(request) -> str:
    return request.param


@cache
def ring_of(policy: str) -> RingPolicy:
    """The policy's ring over the 100 MEMBERS, built once for the module."""
    return build_ring(MEMBERS, policy)


@cache
def owners_of(policy: str) -> np.ndarray:
    return ring_of(policy).first_owners(PATHS)


@pytest.fixture(scope="module")
def big_ring(policy) -> RingPolicy:
    return ring_of(policy)


@pytest.fixture(scope="module")
def big_owners(policy) -> np.ndarray:
    return owners_of(policy)


# -- the interface ---------------------------------------------------------------------------


def test_each_policy_is_a_ring_policy_of_its_name(policy):
    ring = build_ring(worker_ids(5), policy, 50)
    assert isinstance(ring, RingPolicy)
    assert ring.policy == policy and ring.virtual_nodes == 50 and len(ring) == 5
    assert ring.worker_ids == tuple(sorted(worker_ids(5)))
    assert worker_ids(5)[0] in ring and worker_ids(1, seed=99)[0] not in ring and 3 not in ring
    other = ring.with_workers(worker_ids(7))
    assert (other.policy, other.virtual_nodes, len(other)) == (policy, 50, 7)


def test_owners_are_distinct_members_first_owner_first_and_batches_agree(policy):
    members = worker_ids(9)
    ring = build_ring(members, policy, 100)
    paths = PATHS[:400]
    for count in (1, 2, 3, 9, 20):
        batch = ring.owners_batch(paths, count)
        for path, owners in zip(paths, batch, strict=True):
            assert owners == ring.owners(path, count)
            assert len(owners) == min(count, 9) == len(set(owners))
            assert set(owners) <= set(members)
    firsts = ring.first_owners(paths)
    assert [ring.worker_ids[i] for i in firsts] == [ring.owners(p)[0] for p in paths]
    mine = ring.worker_ids[int(firsts[0])]
    assert ring.owned_alone(paths, mine) == [ring.owners(p) == [mine] for p in paths]
    assert ring.owned_alone(paths, mine, 2) == [False] * len(paths)
    assert ring.owned_alone(paths, worker_ids(1, seed=99)[0]) == [False] * len(paths)


def test_the_first_owner_stays_first_as_replicas_grow(policy):
    ring = build_ring(worker_ids(12), policy, 100)
    for path in PATHS[:200]:
        three = ring.owners(path, 3)
        assert ring.owners(path, 1) == three[:1] and ring.owners(path, 2) == three[:2]


def test_same_members_same_owners_whatever_their_order(policy):
    members = worker_ids(30)
    shuffled = list(members)
    random.Random(3).shuffle(shuffled)
    a, b = build_ring(members, policy, 200), build_ring(iter(shuffled), policy, 200)
    assert a.fingerprint() == b.fingerprint()
    assert a.owners_batch(PATHS[:3000], 3) == b.owners_batch(PATHS[:3000], 3)


def test_another_process_gives_the_same_owners(policy):
    members = worker_ids(20)
    code = (
        "import json, sys\n"
        "from ringcache.cluster.ring.build import build_ring\n"
        "members, policy, paths = json.load(sys.stdin)\n"
        "ring = build_ring(members[::-1], policy, 300)\n"
        "print(json.dumps([ring.fingerprint(), ring.owners_batch(paths, 2)]))\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([members, policy, PATHS[:500]]),
        capture_output=True,
        text=True,
        check=True,
    )
    ring = build_ring(members, policy, 300)
    assert json.loads(answer.stdout) == [ring.fingerprint(), ring.owners_batch(PATHS[:500], 2)]


def test_fingerprints_name_the_policy_and_members():
    members = worker_ids(4)
    prints = {build_ring(members, policy).fingerprint() for policy in POLICIES}
    assert len(prints) == len(POLICIES)
    assert (
        build_ring(members, "maglev").fingerprint()
        != build_ring(members[:3], "maglev").fingerprint()
    )


def test_an_empty_ring_owns_nothing(policy):
    ring = build_ring([], policy)
    assert len(ring) == 0 and ring.owners("/a") == [] and ring.owners_batch(["/a"], 2) == [[]]
    assert ring.first_owners(["/a", "/b"]).tolist() == [-1, -1]
    assert ring.owned_alone(["/a"], worker_ids(1)[0]) == [False]


def test_one_worker_owns_everything(policy):
    ring = build_ring(worker_ids(1), policy)
    assert set(ring.first_owners(PATHS[:1000]).tolist()) == {0}
    assert ring.owners("/x", 3) == list(ring.worker_ids)


@pytest.mark.parametrize("bad", [["worker-1"], ["nope"], "worker-x", [3]])
def test_bad_members_are_rejected(policy, bad):
    with pytest.raises(InvalidArgument):
        build_ring(bad, policy)


def test_bad_counts_and_paths_are_rejected(policy):
    ring = build_ring(worker_ids(3), policy)
    for count in (0, -1, True, 1.5, "2"):
        with pytest.raises(InvalidArgument):
            ring.owners("/a", count)
    for path in (b"/a", None, "/\udcff"):
        with pytest.raises(InvalidArgument):
            ring.owners(path)
        with pytest.raises(InvalidArgument):
            ring.owners_batch(["/ok", path], 2)
        with pytest.raises(InvalidArgument):
            ring.first_owners(["/ok", path])


def test_the_alluxio_policy_still_reproduces_alluxios_vectors():
    vectors = Path(__file__).resolve().parents[4] / "shared" / "conformance" / "alluxio-hash-ring"
    if not vectors.is_dir():
        pytest.skip(f"Alluxio conformance vectors not found at {vectors}")

    def worker(identity: dict) -> str:
        return "worker-" + str(uuid.UUID(hex=identity["identifier"]))

    members = [worker(w) for w in json.loads((vectors / "workerList.json").read_text())]
    ring = build_ring(members, "alluxio", 5)  # the policy the configuration names
    expected = json.loads((vectors / "fileUrlWorkers.json").read_text())
    assert ring.owners_batch(list(expected), 5) == [
        [worker(w) for w in owners] for owners in expected.values()
    ]


def test_an_unknown_policy_is_refused_by_name():
    with pytest.raises(InvalidArgument, match="alluxio, maglev, jump, bounded"):
        build_ring(worker_ids(2), "rendezvous")


def test_a_snapshot_builds_the_clusters_ring_and_an_old_one_alluxios():
    members = worker_ids(6)
    snapshot = {"workers": members, "virtualNodes": 64, "ringPolicy": "jump", "version": 3}
    assert (
        ring_from_snapshot(snapshot).fingerprint() == build_ring(members, "jump", 64).fingerprint()
    )
    current = ring_from_snapshot(snapshot)
    assert ring_from_snapshot({**snapshot, "workers": members[::-1]}, current) is current
    for change in ({"workers": members[:5]}, {"virtualNodes": 65}, {"ringPolicy": "maglev"}):
        assert ring_from_snapshot({**snapshot, **change}, current) is not current
    del snapshot["ringPolicy"]
    assert ring_from_snapshot(snapshot).policy == "alluxio"


def test_a_ring_cache_builds_and_keeps_each_policys_ring(policy):
    cache = RingCache()
    members = worker_ids(5)
    ring = cache.get("unknown", members, 100, policy)
    assert (
        ring.policy == policy
        and ring.fingerprint() == build_ring(members, policy, 100).fingerprint()
    )
    assert cache.get(ring.fingerprint()) is ring


# -- balance: each policy within its known bound -----------------------------------------------


def test_balance_within_the_policys_bound(policy, big_ring, big_owners):
    counts = np.bincount(big_owners, minlength=WORKERS)
    assert counts.sum() == KEYS and counts.min() > 0
    worst, cv = counts.max() / MEAN, counts.std() / MEAN
    if policy == "alluxio":
        # 2,000 virtual nodes: each worker's arc is a sum of 2,000 gaps, share spread
        # about 1/sqrt(2000) = 2.2% on top of the keys' own noise.
        spread = math.sqrt(1 / big_ring.virtual_nodes + 1 / MEAN)
        assert worst <= 1 + 5 * spread and cv <= 1.3 * spread
    elif policy == "bounded":
        assert worst <= big_ring.load_factor * (1 + NOISE)
    else:  # maglev and jump split the key space near-perfectly: only the keys' noise
        assert worst <= 1 + NOISE and cv <= 1.3 / math.sqrt(MEAN)


def test_alluxio_arcs_spread_as_sqrt_of_virtual_nodes():
    big_ring = ring_of("alluxio")
    points = np.array([h for h, _ in big_ring.entries()], dtype=np.int64)
    gaps = np.diff(np.append(points, points[0] + 2**32))  # each point owns the arc below it
    owners = np.roll(big_ring.point_owners, -1)
    shares = np.bincount(owners, weights=gaps, minlength=WORKERS) / 2**32 * WORKERS
    assert abs(shares.std() - 1 / math.sqrt(big_ring.virtual_nodes)) < 0.3 / math.sqrt(2000)


def test_maglev_gives_each_worker_floor_or_ceil_of_m_over_n_entries():
    table = ring_of("maglev").table
    assert len(table) >= 100 * WORKERS and all(len(table) % d for d in range(2, 300))
    entries = np.bincount(table, minlength=WORKERS)
    assert entries.max() - entries.min() <= 1 and entries.sum() == len(table)


@pytest.mark.parametrize("virtual_nodes", [2000, 20, 3])
def test_bounded_holds_each_worker_within_c_times_its_share_of_the_key_space(virtual_nodes):
    ring = build_ring(MEMBERS, "bounded", virtual_nodes)
    alluxio = build_ring(MEMBERS, "alluxio", virtual_nodes)
    points = np.array([h for h, _ in alluxio.entries()], dtype=np.int64)
    longest_arc = np.diff(np.append(points, points[0] + 2**32)).max() / 2**32
    shares = ring.shares()
    assert shares.sum() == pytest.approx(1.0) and ring.share_cap == pytest.approx(1.25 / WORKERS)
    # An arc is not split: one that fits nowhere goes to the least loaded worker.
    assert shares.max() <= max(ring.share_cap, 1 / WORKERS + longest_arc) + 1e-12
    same = (ring.first_owners(PATHS[:20_000]) == alluxio.first_owners(PATHS[:20_000])).all()
    # 2,000 virtual nodes keep every worker's arcs under the cap: the placement is
    # Alluxio's. With fewer the arcs are lopsided, and the cap moves some of them.
    assert same == (virtual_nodes == 2000)


def test_bounded_caps_a_lopsided_ring_that_alluxio_would_not():
    members = worker_ids(50)
    plain = np.bincount(build_ring(members, "alluxio", 20).first_owners(PATHS), minlength=50)
    capped = np.bincount(build_ring(members, "bounded", 20).first_owners(PATHS), minlength=50)
    assert plain.max() / plain.mean() > 1.4  # twenty virtual nodes: uneven arcs
    assert capped.max() / capped.mean() <= 1.25 * (1 + 5 / math.sqrt(capped.mean()))


# -- movement: what each policy promises on a join and a leave ----------------------------------

JOINERS = worker_ids(5, seed=11)


def _moved(ring, before: np.ndarray, members: list[str]) -> tuple[float, set[str]]:
    """The fraction of PATHS whose first owner changes, and the owners they go to."""
    other = ring.with_workers(members)
    old = np.array(ring.worker_ids, dtype=object)[before]
    new = np.array(other.worker_ids, dtype=object)[other.first_owners(PATHS)]
    changed = old != new
    return float(changed.mean()), set(new[changed].tolist())


# The bound each policy is held to, as a multiple of the ideal 1/(N+1), averaged over five
# joiners (measured: alluxio 0.99, maglev 1.55, bounded at 20 virtual nodes 2.00). Maglev
# moves entries between workers that stay, too. Bounded at 2,000 virtual nodes is
# Alluxio's placement (no worker reaches the cap); at 20 the cap binds, and a join
# cascades arcs from full workers to their neighbours (the paper bounds the expected
# cascade by O(1/(c-1)**2) times the ideal, far above what is measured here).
JOIN_BOUNDS = [("alluxio", 2000, 1.1), ("bounded", 2000, 1.1), ("maglev", 2000, 1.6),
               ("bounded", 20, 2.2)]  # fmt: skip


@pytest.mark.parametrize(("policy", "virtual_nodes", "bound"), JOIN_BOUNDS)
def test_a_join_moves_near_the_ideal(policy, virtual_nodes, bound):
    big_ring = build_ring(MEMBERS, policy, virtual_nodes)
    big_owners = big_ring.first_owners(PATHS)
    ideal = 1 / (WORKERS + 1)
    moves = [_moved(big_ring, big_owners, [*MEMBERS, joiner]) for joiner in JOINERS]
    assert np.mean([fraction for fraction, _ in moves]) <= bound * ideal
    assert all(fraction >= 0.7 * ideal for fraction, _ in moves)  # the joiner takes a share
    if virtual_nodes == 2000 and policy != "maglev":  # Alluxio's ring: only to the joiner
        assert all(to == {joiner} for (_, to), joiner in zip(moves, JOINERS, strict=True))


def test_jump_moves_the_ideal_at_the_end_of_the_order_and_more_in_the_middle():
    big_ring, before = ring_of("jump"), owners_of("jump")
    last = "worker-ffffffff-ffff-4fff-bfff-ffffffffffff"  # sorts after every other id
    fraction, to = _moved(big_ring, before, [*MEMBERS, last])
    ideal = 1 / (WORKERS + 1)
    assert fraction <= 1.1 * ideal and to == {last}
    first = "worker-00000000-0000-4000-8000-000000000000"  # shifts every bucket by one
    fraction, _ = _moved(big_ring, before, [*MEMBERS, first])
    assert fraction > 0.9  # documented: (N - r)/N of the keys move for a joiner at place r


# Measured: alluxio, jump (its last worker) and bounded at 2,000 virtual nodes move
# exactly the leaver's files; maglev 1.51x them; bounded at 20 virtual nodes 1.18-1.77x.
LEAVE_BOUNDS = [("alluxio", 2000, 1.0), ("jump", 2000, 1.0), ("bounded", 2000, 1.0),
                ("maglev", 2000, 1.6), ("bounded", 20, 2.0)]  # fmt: skip


@pytest.mark.parametrize(("policy", "virtual_nodes", "bound"), LEAVE_BOUNDS)
def test_a_leave_moves_the_leavers_files(policy, virtual_nodes, bound):
    ring = build_ring(MEMBERS, policy, virtual_nodes)
    before = ring.first_owners(PATHS)
    names = np.array(ring.worker_ids, dtype=object)[before]
    leaver = ring.worker_ids[-1] if policy == "jump" else MEMBERS[17]
    held = float(np.mean(names == leaver))
    fraction, _ = _moved(ring, before, [w for w in MEMBERS if w != leaver])
    assert held <= fraction <= bound * held + 1e-9
