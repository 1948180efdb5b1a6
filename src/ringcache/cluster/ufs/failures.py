"""What went wrong on a UFS, said so that an operator can act on it.

Throttling and timeouts have already been retried with backoff by the filesystem (s3fs,
botocore) by the time they reach us: the words say so, and the job engine then retries
the file and, if it still fails, counts it as a failure with this message as its detail.
"""

from __future__ import annotations

# What S3 (and S3-compatible stores) answer when asked too fast.
_THROTTLING = ("SlowDown", "reduce your request rate", "Throttl", "TooManyRequests")


def explain(exc: BaseException) -> str:
    """`exc` as one line: what happened, and for throttling or a timeout, that it was retried."""
    text = str(exc) or type(exc).__name__
    if any(marker in text for marker in _THROTTLING):
        return f"throttled by the UFS, still after retries with backoff: {text}"
    name = type(exc).__name__.lower()
    if isinstance(exc, TimeoutError) or "timeout" in name or "timed out" in text.lower():
        return f"timed out, still after retries with backoff: {text}"
    return text
