"""Run by the real `alluxiofs` client in its own environment (no ringcache, no Ray):
reads what it is told through ringcache workers and prints digests as JSON.

    python alluxiofs_reader.py CLIENT_OPTIONS DIRECTORY_URI '[[uri, start, end], ...]'

CLIENT_OPTIONS is the JSON of `AlluxioFileSystem`'s keyword arguments: `worker_hosts` and
`worker_http_port`, or `etcd_hosts` and `etcd_port` to find the workers through etcd. The
answer also names, for each uri, the data server (host:port) the client's ring sends it to.
"""

import hashlib
import json
import sys

from alluxiofs import AlluxioFileSystem


def digest(data: bytes) -> list:
    return [len(data), hashlib.sha256(data).hexdigest()]


def main() -> None:
    options, directory, wanted = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    fs = AlluxioFileSystem(**options)
    listed = sorted((e["ufs_path"], e["type"], e["size"]) for e in fs.ls(directory, detail=True))
    reads = []
    for uri, start, end in wanted:
        if start is None:
            with fs.open(uri, "rb") as handle:  # a whole file: alluxiofs's /v1/chunk
                whole = handle.read()
            reads.append([digest(whole), digest(fs.cat_file(uri))])
        else:
            reads.append([digest(fs.cat_file(uri, start, end))])
    info = fs.info(wanted[0][0])
    ring = fs.alluxio.hash_provider  # the client's own ring, as it routes every read
    owners = {}
    for uri, _, _ in wanted:
        (address,) = ring.get_multiple_workers(uri, 1)
        owners[uri] = f"{address.host}:{address.http_server_port}"
    answer = {"ls": listed, "reads": reads, "size": info["size"], "owners": owners}
    print(json.dumps({**answer, "ray": "ray" in sys.modules}))


main()
