"""The pure choice: does this request go to the canary?

A request id is hashed into one of 10,000 buckets (blake2b, not Python's ``hash``, which is
salted per process: every stable pod must agree on an id's bucket, and so must a restarted
pod). Buckets ``[0, weight*100)`` go to the canary, so a weight with two decimals is exact
and raising the weight only ever moves callers from stable to canary, never back.
Without an id the draw is random, which is exact in expectation.
"""

from __future__ import annotations

import hashlib
import random

BUCKETS = 10_000


def bucket_of(request_id: str) -> int:
    """The bucket ``0..BUCKETS-1`` of a request id; the same id always gives the same bucket."""
    digest = hashlib.blake2b(request_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def canary_buckets(weight: float) -> int:
    """How many of the buckets belong to the canary at ``weight`` percent."""
    return max(0, min(BUCKETS, round(weight * BUCKETS / 100.0)))


def goes_to_canary(request_id: str | None, weight: float, rng: random.Random | None = None) -> bool:
    """True when this request belongs to the canary's share at ``weight`` percent."""
    threshold = canary_buckets(weight)
    if threshold <= 0:
        return False
    if threshold >= BUCKETS:
        return True
    if request_id:
        return bucket_of(request_id) < threshold
    draw = (rng or random).randrange(BUCKETS)
    return draw < threshold
