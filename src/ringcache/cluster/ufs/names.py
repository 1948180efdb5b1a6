"""Names on under file systems: which fsspec class serves a scheme, and the one spelling
of a URI (`canonical_uri`) that the cluster keys files by."""

from __future__ import annotations

import re

import fsspec

from ..errors import InvalidArgument
from ..paths import normalize_uri, split_uri

_classes: dict[tuple[str, int], type | str] = {}


def filesystem_class(scheme: str) -> type:
    """The fsspec class serving `scheme`; InvalidArgument if none is registered or installed.

    Answers (misses too) are remembered per scheme until fsspec's registry changes: this is
    asked for every path a worker resolves.
    """
    known = _class_or_reason(scheme)
    if isinstance(known, str):
        raise InvalidArgument(known)
    return known


def _class_or_reason(scheme: str) -> type | str:
    key = (scheme, len(fsspec.registry) + len(fsspec.available_protocols()))
    known = _classes.get(key)
    if known is None:
        try:
            known = fsspec.get_filesystem_class(scheme)
        except ValueError:
            known = f"unknown UFS scheme {scheme!r}: no fsspec filesystem is registered for it"
        except ImportError as exc:
            known = f"UFS scheme {scheme!r} needs a package that is not installed: {exc}"
        _classes[key] = known
    return known


def names_generation() -> int:
    """Changes when fsspec's registry does: a new filesystem may spell its URIs otherwise,
    so what was derived from `canonical_uri` holds only while this stays the same."""
    return len(fsspec.registry)


def canonical_uri(uri: str) -> str:
    """One spelling per location: the normalized URI, rewritten as fsspec names the path.

    `memory://x/a` and `memory:///x/a` are the same file to fsspec; both become
    `memory:///x/a`. A scheme without an fsspec implementation keeps its normalized text
    (a simulated UFS may use one); `UnderFileSystem` is where an unknown scheme fails.

    Asked for every file a job names, so the answer for a parent directory is remembered:
    a plain file name below it is appended to it, once one such name was seen to compose
    the same way the full rewrite does.
    """
    parent, _, name = uri.rpartition("/")
    if _parents_key[0] != names_generation():  # a new filesystem may rewrite differently
        _parents.clear()
        _parents_key[0] = names_generation()
    known = _parents.get(parent)
    plain = PLAIN_NAME.match(name) is not None
    if known is not None and plain:
        return _append(known, name)
    canonical = _canonical(uri)
    if plain and known is None:
        try:
            parent_canonical = _canonical(parent)
        except InvalidArgument:
            return canonical  # not a URI of its own (`file://` of `file:///a`)
        if _append(parent_canonical, name) == canonical:
            if len(_parents) >= _PARENT_MEMO:
                _parents.clear()
            _parents[parent] = parent_canonical
    return canonical


# A name that no normalization or filesystem rewrites: no dot segments, no separators.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*\Z")
_PARENT_MEMO = 10_000
_parents: dict[str, str] = {}  # parent text as given -> its canonical URI
_parents_key = [-1]  # the fsspec registry size `_parents` was filled under


def _append(parent: str, name: str) -> str:
    return parent + name if parent.endswith("/") else f"{parent}/{name}"


def _canonical(uri: str) -> str:
    uri = normalize_uri(uri)
    scheme, _ = split_uri(uri)
    cls = _class_or_reason(scheme)
    if isinstance(cls, str):
        return uri
    stripped = cls._strip_protocol(uri)
    return f"{scheme}://{stripped}"


__all__ = ["canonical_uri", "filesystem_class"]
