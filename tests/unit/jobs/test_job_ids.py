"""Job ids: UUIDv7, sorted in submission order, replayable from a seed."""

from __future__ import annotations

import random
import uuid

from ringcache.cluster.jobs.model import JobIds


def test_ids_sort_in_submission_order_even_within_a_millisecond() -> None:
    ids = JobIds(random.Random(1))
    made = [ids.next(1_800_000_000.0) for _ in range(50)] + [ids.next(1_800_000_000.5)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(uuid.UUID(i).version == 7 for i in made)


def test_the_same_seed_gives_the_same_ids() -> None:
    first = [JobIds(random.Random(7)).next(1_800_000_000.0 + i) for i in range(5)]
    again = [JobIds(random.Random(7)).next(1_800_000_000.0 + i) for i in range(5)]
    other = [JobIds(random.Random(8)).next(1_800_000_000.0 + i) for i in range(5)]
    assert first == again and first != other
