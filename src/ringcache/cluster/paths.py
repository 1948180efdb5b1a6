"""Cluster paths and UFS URIs as text: parsing, normalizing, prefix tests.

A *cluster path* is absolute (`/data/train/a.bin`). A *UFS URI* is `scheme://rest`
(`file:///srv/data/a.bin`, `s3://bucket/key`). Both normalize the same way: empty and
`.` segments vanish, `..` removes the segment before it and may never climb above the
top (`/` for a cluster path, the first segment of an URI), and there is no trailing
slash except on a root. Nothing here touches a file system, so `..` is resolved as text:
the caches never hand a raw `..` to a UFS.
"""

from __future__ import annotations

import re

from .errors import InvalidArgument

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)


def is_uri(path: str) -> bool:
    """True when `path` looks like `scheme://...` rather than a cluster path."""
    return _URI.match(path) is not None


def normalize_cluster_path(path: str) -> str:
    """The canonical form of an absolute cluster path; InvalidArgument if there is none."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidArgument(f"cluster path {path!r} is not absolute; it must start with '/'")
    _check_characters(path)
    return "/" + "/".join(_normalize_segments(path, path))


def split_uri(uri: str) -> tuple[str, str]:
    """`(scheme, rest)` of `scheme://rest`, the scheme lower-cased; InvalidArgument if not a URI."""
    match = _URI.match(uri) if isinstance(uri, str) else None
    if match is None:
        raise InvalidArgument(
            f"{uri!r} is not a UFS URI; write it as scheme://location, "
            "e.g. file:///srv/data or s3://bucket/prefix"
        )
    return match.group(1).lower(), match.group(2)


def normalize_uri(uri: str) -> str:
    """The canonical text of a UFS URI: lower-case scheme, no `.`/`..`/`//`/trailing slash.

    A leading slash in the location is kept (`file:///srv`, `memory:///x`): it is part of
    the path a filesystem sees. `file://` URIs must be absolute (`file:///...`).
    """
    scheme, rest = split_uri(uri)
    _check_characters(uri)
    absolute = rest.startswith("/")
    if scheme == "file" and not absolute:
        raise InvalidArgument(
            f"{uri!r} is not an absolute local path; write file:///absolute/path "
            "(three slashes, no host)"
        )
    segments = _normalize_segments(rest, uri)
    if not segments and not absolute:
        raise InvalidArgument(f"{uri!r} names no location after {scheme}://")
    return f"{scheme}://" + ("/" if absolute else "") + "/".join(segments)


def is_within(path: str, root: str) -> bool:
    """True if normalized `path` is `root` or below it, on a segment boundary.

    `/data/a` is within `/data`; `/database` is not. Both arguments must be normalized
    the same way (both cluster paths or both URIs).
    """
    if path == root:
        return True
    return path.startswith(root if root.endswith("/") else root + "/")


def relative_to(path: str, root: str) -> str:
    """The part of `path` below `root` with no leading slash ("" for the root itself)."""
    if not is_within(path, root):
        raise InvalidArgument(f"{path!r} is not under {root!r}")
    return path[len(root) :].lstrip("/")


def join(root: str, relative: str) -> str:
    """`root` + `/` + `relative`, without doubling the slash of a root like `file:///`."""
    relative = relative.strip("/")
    if not relative:
        return root
    return (root if root.endswith("/") else root + "/") + relative


def _normalize_segments(text: str, original: str) -> list[str]:
    segments: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                raise InvalidArgument(f"{original!r} climbs above its root with '..'")
            segments.pop()
        else:
            segments.append(segment)
    return segments


def _check_characters(path: str) -> None:
    # A NUL byte would be cut short by the OS and alias another path.
    if "\x00" in path:
        raise InvalidArgument(f"{path!r} contains a NUL character")
