"""Schema fuzzing: schemathesis drives every operation of `/api/v1/openapi.json` against
the live ASGI app, with a bounded number of examples that fit the schema and as many that
do not, and fails on any 5xx or any answer the document does not describe (status code,
content type, body schema)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ringcache.http.app import create_app
from ringcache.local import LocalCluster
from tests.conftest import make_config, write_tree

# Examples per operation, bounded so the whole test stays well under a minute here.
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}


@schemathesis.check
def no_server_fault(ctx, response, case) -> None:
    """No 5xx, except API.md's 501 for what is not implemented (an unknown cache `op`),
    which is a documented answer to a request, not a fault."""
    if response.status_code == 501 and "not implemented" in response.json()["status"]:
        return
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"


CHECKS = [
    no_server_fault,
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

    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not (len(operation.query) or len(operation.body)):
            continue  # nothing the request holds can break its schema

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case) -> None:
            case.call_and_validate(checks=CHECKS)

        call()
