"""Driving the coordinator's job engine as a REST client would: submit, then poll.

The simulated counterpart of `POST /api/v1/load` and `GET /api/v1/load?id=...`: the calls
go to the coordinator through a `SimRef`, so they cross the modelled network.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .cluster import SimCluster

FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")


async def run_job(
    cluster: SimCluster,
    job_type: str,
    body: dict[str, Any],
    *,
    poll_interval: float = 0.1,
    timeout: float = 24 * 3600.0,
) -> dict[str, Any]:
    """Submit a job and wait (virtual time) until it finishes; its last description.

    Raises TimeoutError if it is still running after `timeout` virtual seconds, so a job
    that never ends fails the run rather than spinning forever.
    """
    coordinator = cluster.coordinator_ref()
    job = await coordinator.call("submit_job", job_type, body)
    deadline = cluster.clock.elapsed() + timeout
    while job["state"] not in FINISHED:
        if cluster.clock.elapsed() >= deadline:
            raise TimeoutError(f"{job_type} job {job['id']} still {job['state']} after {timeout} s")
        await asyncio.sleep(poll_interval)
        job = await coordinator.call("get_job", job_type, "id", job["id"])
    return job
