"""Driving the coordinator's job engine as a REST client would: submit, then poll.

The simulated counterpart of `POST /api/v1/load` and `GET /api/v1/load?id=...`: the calls
go to the coordinator through a `SimRef`, so they cross the modelled network. A client
outlives a coordinator restart: a call that finds the coordinator down is tried again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..cluster.errors import Conflict, Unavailable
from ..cluster.jobs.model import JobState
from .cluster import SimCluster

FINISHED = frozenset(state.value for state in JobState if state.finished)


async def run_job(
    cluster: SimCluster,
    job_type: str,
    body: dict[str, Any],
    *,
    poll_interval: float = 0.1,
    timeout: float = 24 * 3600.0,
) -> dict[str, Any]:
    """Submit a job and wait (virtual time) until it finishes; its last description.

    A job that already exists with the same selector (a second rebalance of ALL) is
    re-run or resumed by the coordinator, which answers 409 with its id: that id is awaited.
    Raises TimeoutError if it is still running after `timeout` virtual seconds, so a job
    that never ends fails the run rather than spinning forever. While the coordinator is
    unavailable (restarting), polls are retried every `poll_interval`.
    """
    deadline = cluster.clock.elapsed() + timeout
    try:
        job = await _call(cluster, deadline, poll_interval, "submit_job", job_type, body)
    except Conflict as conflict:  # the job exists (the same target again): it was resumed
        job = {"id": conflict.details["id"], "state": "RUNNING"}
    while job["state"] not in FINISHED:
        if cluster.clock.elapsed() >= deadline:
            raise TimeoutError(f"{job_type} job {job['id']} still {job['state']} after {timeout} s")
        await asyncio.sleep(poll_interval)
        job = await _call(cluster, deadline, poll_interval, "get_job", job_type, "id", job["id"])
    return job


async def _call(
    cluster: SimCluster, deadline: float, retry_interval: float, method: str, *args: Any
) -> Any:
    while True:
        try:
            return await cluster.coordinator_ref().call(method, *args)
        except Unavailable:
            if cluster.clock.elapsed() >= deadline:
                raise
            await asyncio.sleep(retry_interval)
