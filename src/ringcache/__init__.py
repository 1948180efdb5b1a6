"""ringcache: a distributed read cache for AI and analytics workloads on Ray."""

from ringcache.cluster.ring.hash_ring import HashRing

__all__ = ["HashRing"]
