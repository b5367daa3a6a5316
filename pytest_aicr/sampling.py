"""Which samples a run keeps: the positive:negative cap, the limit and the shard."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable

from pytest_aicr.dataset import Sample


def select_samples(
    samples: Iterable[Sample],
    *,
    pos_neg_ratio: float | None = None,
    limit: int | None = None,
    seed: int = 0,
    shard: tuple[int, int] | None = None,
) -> list[Sample]:
    """Apply the positive:negative cap, the limit and the shard, repeatably.

    The ratio brings positives:negatives to ``R`` by dropping seeded-random samples
    of the class in excess (positives when there are more than ``R`` per negative,
    else negatives); the survivors keep their order. ``limit`` then keeps the first
    N. Last, a shard ``(I, N)`` keeps the samples whose ``input_id`` hashes to
    ``I``: shards of one selection are disjoint and cover it, and a sample's shard
    never depends on the other samples.
    """
    chosen = list(samples)
    if pos_neg_ratio is not None:
        chosen = _cap_ratio(chosen, pos_neg_ratio, seed)
    if limit is not None:
        chosen = chosen[:limit]
    if shard is not None:
        index, count = shard
        chosen = [s for s in chosen if runner_shard(s.key, count) == index]
    return chosen


def runner_shard(key: str, count: int) -> int:
    """The runner shard, 1 to ``count``, of an ``input_id`` text; stable across runs."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def _cap_ratio(samples: list[Sample], ratio: float, seed: int) -> list[Sample]:
    positives = [i for i, s in enumerate(samples) if s.sample_class == "positive"]
    negatives = [i for i, s in enumerate(samples) if s.sample_class == "negative"]
    if len(positives) > ratio * len(negatives):
        larger, keep = positives, int(ratio * len(negatives))
    elif ratio > 0 and len(negatives) > len(positives) / ratio:
        larger, keep = negatives, int(len(positives) / ratio)
    else:
        return samples
    dropped = set(random.Random(seed).sample(larger, len(larger) - keep))
    return [s for i, s in enumerate(samples) if i not in dropped]
