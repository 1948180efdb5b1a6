"""A worker's rebalance listing leaves out what the ring settles: files it owns alone and
holds whole."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.cluster.ufs.filesystem import FileVersion


def test_owned_alone_and_whole_is_skipped_everything_else_is_listed(cluster, tmp_path: Path):
    data = tmp_path / "files"
    data.mkdir()
    for i in range(40):
        (data / f"f{i:02d}.bin").write_bytes(os.urandom(1000 + i))
    worker = next(iter(cluster.workers.values()))
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{data}", {}))
    uris = [f"file://{data}/f{i:02d}.bin" for i in range(40)]
    answers = cluster.run(worker.load_batch(uris, {}))
    assert {a["status"] for a in answers} == {"LOADED"}
    # One more file, held in part (its first page only): never settled.
    page_size = worker.config.page_size
    (data / "part.bin").write_bytes(os.urandom(2 * page_size + 1))
    partial = f"file://{data}/part.bin"
    version = FileVersion(2 * page_size + 1, (data / "part.bin").stat().st_mtime, None)
    worker.store.put_page(partial, 0, b"x" * page_size, 0.0, version=version)
    other = f"worker-{uuid.UUID(int=5)}"
    shape = HashRing([worker.worker_id, other], virtual_nodes=50)
    named = {"ring": shape.fingerprint(), "virtualNodes": 50, "replicas": 1}
    # A ring the worker does not know is asked for by name first: it wants the workers.
    assert cluster.run(worker.list_unsettled(None, 7, named)) == {"unknownRing": True}
    ring = {**named, "workers": [worker.worker_id, other]}
    mine = {u for u in uris if shape.owners(u) == [worker.worker_id]}
    assert 0 < len(mine) < 40
    uris.append(partial)

    listed, skipped, after, pages = [], [], None, 0
    while True:  # after the first page, the name is enough
        page = cluster.run(worker.list_unsettled(after, 7, ring if after is None else named))
        pages += 1
        listed += [e["path"] for e in page["entries"]]
        skipped += page["skipped"]
        assert page["last"] == max([after or "", *listed, *skipped])
        after = page["last"]
        if page["done"]:
            break
    assert skipped == sorted(mine)
    assert listed == sorted(set(uris) - mine)
    assert pages == 41 // 7 + 1  # the last page is short: done
    entries = cluster.run(worker.list_unsettled(None, 100, ring))["entries"]
    assert entries == [e for e in cluster.run(worker.list_cached(None, 100)) if e in entries]
    assert [e["complete"] for e in entries if e["path"] == partial] == [False]

    both = {**named, "replicas": 2}  # two owners each: nothing is settled by one worker
    answer = cluster.run(worker.list_unsettled(None, 100, both))
    assert answer["skipped"] == [] and len(answer["entries"]) == 41
    with pytest.raises(InvalidArgument):
        cluster.run(worker.list_unsettled(None, 0, ring))


def test_owners_and_peers_answer_for_whole_files_of_the_version_asked(cluster, tmp_path: Path):
    """`held_whole` (asked before a rebalance drops other copies) is True only for a file
    held whole at the version named; `read_cached_many` serves only that version."""
    data = tmp_path / "files"
    data.mkdir()
    (data / "whole.bin").write_bytes(os.urandom(3000))
    worker = next(iter(cluster.workers.values()))
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{data}", {}))
    whole = f"file://{data}/whole.bin"
    assert cluster.run(worker.load_batch([whole], {}))[0]["status"] == "LOADED"
    version = worker.store.file_info(whole).version
    page_size = worker.config.page_size
    partial = f"file://{data}/part.bin"  # its first page of three only
    part_version = FileVersion(2 * page_size + 1, 1.0, None)
    worker.store.put_page(partial, 0, b"x" * page_size, 0.0, version=part_version)
    other = FileVersion(version.size, version.mtime + 1, None)  # a newer version

    asked = [
        (whole, *version),
        (partial, *part_version),
        (whole, *other),
        ("file:///nope", 1, None, None),
    ]
    assert cluster.run(worker.held_whole(asked)) == [True, False, False, False]
    answers = cluster.run(
        worker.read_cached_many(
            [(whole, tuple(version)), (whole, tuple(other)), (partial, tuple(part_version))]
        )
    )
    assert bytes(answers[0]) == (data / "whole.bin").read_bytes()
    assert answers[1:] == [None, None]  # another version; a file not held whole
