"""Schema fuzzing: schemathesis drives every operation of `/api/v1/openapi.json` against
the live ASGI app, with a bounded number of examples, and fails on any 5xx or any answer
the document does not describe (status code, content type, body schema)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ringcache.http.app import create_app
from ringcache.local import LocalCluster
from tests.conftest import make_config, write_tree

EXAMPLES = 50
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("fuzz")
    data = write_tree(root / "ufs", {"a.bin": os.urandom(10_000), "b/c.txt": b"hello\n"})
    cluster = LocalCluster(make_config(Path(root), workers=1)).start()
    cluster.run(cluster.coordinator.add_mount("/data", f"file://{data}", {}))
    yield cluster
    cluster.stop()


def test_every_operation_answers_within_its_schema(live_cluster: LocalCluster) -> None:
    app = create_app(live_cluster.coordinator_ref)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30  # every path and method of the document

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case) -> None:
            case.call_and_validate(checks=CHECKS)

        call()
