"""What a running `ringcache start` tells the other commands, kept in its state directory."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECORD_FILE = "cluster.json"
AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"


@dataclass(frozen=True)
class ClusterRecord:
    """Where the cluster started from one state directory runs: the process serving its REST
    API, the Ray instance and namespace holding its actors, the REST base URL and the
    configuration it started with.

    A record is only ever read back while its process is alive, so a record left behind by a
    killed `start` never sends a command to a Ray instance that is gone."""

    pid: int
    ray_address: str
    namespace: str
    api_url: str
    ray_auth_mode: str | None  # Ray's RAY_AUTH_MODE, which a process joining by address needs
    config: dict[str, Any]  # the cluster's configuration, for `worker add`; no API token

    def write(self, state_dir: Path) -> None:
        """Write the record atomically: a reader sees the old one or the new one, whole."""
        partial = state_dir / f".{RECORD_FILE}.{os.getpid()}"
        partial.touch(mode=0o600)  # the config names token files and mount roots
        partial.write_text(json.dumps(asdict(self), indent=2))
        partial.replace(state_dir / RECORD_FILE)

    def use_ray_auth_mode(self) -> None:
        """Join with the authentication this Ray instance requires. A new local Ray turns token
        authentication on by itself (in its starter's environment), but a process joining by
        address must say so; Ray reads the mode when it is first imported, so this runs
        before. A mode the user set in the environment wins."""
        if self.ray_auth_mode is not None:
            os.environ.setdefault(AUTH_MODE_VARIABLE, self.ray_auth_mode)

    @staticmethod
    def remove(state_dir: Path) -> None:
        (state_dir / RECORD_FILE).unlink(missing_ok=True)


def running_cluster(state_dir: Path) -> ClusterRecord | None:
    """The record of the cluster started from `state_dir` if its process still runs."""
    try:
        record = ClusterRecord(**json.loads((state_dir / RECORD_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None  # none written, half a file from another version, or unreadable
    return record if process_alive(record.pid) else None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but another user's
    return True


def ray_auth_mode() -> str | None:
    """The Ray authentication mode of this process, once it started or joined Ray."""
    return os.environ.get(AUTH_MODE_VARIABLE)
