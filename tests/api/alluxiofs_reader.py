"""Run by the real `alluxiofs` client in its own environment (no ringcache, no Ray):
reads what it is told through a ringcache worker and prints digests as JSON.

    python alluxiofs_reader.py PORT DIRECTORY_URI '[[uri, start, end], ...]'
"""

import hashlib
import json
import sys

from alluxiofs import AlluxioFileSystem


def digest(data: bytes) -> list:
    return [len(data), hashlib.sha256(data).hexdigest()]


def main() -> None:
    port, directory, wanted = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    fs = AlluxioFileSystem(worker_hosts="127.0.0.1", worker_http_port=port)
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
    print(
        json.dumps(
            {"ls": listed, "reads": reads, "size": info["size"], "ray": "ray" in sys.modules}
        )
    )


main()
