"""`PolicyCalls`: the coordinator's policy and file-index methods, forwarded to `self.policies`.

The coordinator inherits it, so each REST call (`await coordinator.call("set_quota", ...)`)
finds its method by name on every runtime, while the logic stays in `PolicyService`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .service import PolicyService


class PolicyCalls:
    """One forwarding method per policy call; the host sets `self.policies` in `__init__`."""

    policies: PolicyService

    async def require_feature(self, feature: str) -> None:
        await self.policies.require_feature(feature)

    async def list_quotas(self) -> list[dict[str, Any]]:
        return await self.policies.list_quotas()

    async def get_quota(self, path: str) -> dict[str, Any]:
        return await self.policies.get_quota(path)

    async def set_quota(self, path: str, size: object, action: object = None) -> dict[str, Any]:
        return await self.policies.set_quota(path, size, action)

    async def remove_quota(self, path: str) -> dict[str, Any]:
        return await self.policies.remove_quota(path)

    async def list_ttls(self) -> list[dict[str, Any]]:
        return await self.policies.list_ttls()

    async def get_ttl(self, path: str) -> dict[str, Any]:
        return await self.policies.get_ttl(path)

    async def set_ttl(self, path: str, time: object) -> dict[str, Any]:
        return await self.policies.set_ttl(path, time)

    async def remove_ttl(self, path: str) -> dict[str, Any]:
        return await self.policies.remove_ttl(path)

    async def list_priorities(self) -> list[dict[str, Any]]:
        return await self.policies.list_priorities()

    async def get_priority(self, path: str) -> dict[str, Any]:
        return await self.policies.get_priority(path)

    async def set_priority(self, path: str, priority: object) -> dict[str, Any]:
        return await self.policies.set_priority(path, priority)

    async def remove_priority(self, path: str) -> dict[str, Any]:
        return await self.policies.remove_priority(path)

    async def list_cache_filters(self) -> dict[str, Any]:
        return await self.policies.list_cache_filters()

    async def add_cache_filter(
        self, pattern: object, rule: object, time: object = None
    ) -> dict[str, Any]:
        return await self.policies.add_cache_filter(pattern, rule, time)

    async def update_default_cache_filter(
        self, rule: object, time: object = None
    ) -> dict[str, Any]:
        return await self.policies.update_default_cache_filter(rule, time)

    async def remove_cache_filter(self, pattern: object, rule: object) -> dict[str, Any]:
        return await self.policies.remove_cache_filter(pattern, rule)

    async def list_file_index(
        self, prefix: str | None = None, last_key: str | None = None, count: int | None = None
    ) -> list[dict[str, Any]]:
        return await self.policies.list_file_index(prefix, last_key, count)

    async def add_file_index(self, paths: Sequence[str]) -> int:
        return await self.policies.add_file_index(paths)

    async def remove_file_index(self, paths: Sequence[str]) -> int:
        return await self.policies.remove_file_index(paths)
