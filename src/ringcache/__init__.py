"""ringcache: a distributed read cache for AI and analytics workloads on Ray."""

from ringcache.client.client import CacheClient, connect
from ringcache.cluster.ring.hash_ring import HashRing

__all__ = ["CacheClient", "HashRing", "connect"]
