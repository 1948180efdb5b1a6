"""ringcache: a distributed read cache for AI and analytics workloads on Ray."""
