"""Which samples a run keeps: the positive:negative cap and the limit, seeded."""

from __future__ import annotations

import random
from collections.abc import Iterable

from pytest_aicr.dataset import Sample


def select_samples(
    samples: Iterable[Sample],
    *,
    pos_neg_ratio: float | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[Sample]:
    """Apply the positive:negative cap and the limit, repeatably.

    The ratio brings positives:negatives to at most ``R`` (and negatives to at most
    ``1/R`` of the positives) by dropping seeded-random samples of the larger class;
    the survivors keep their order. ``limit`` then keeps the first N.
    """
    chosen = list(samples)
    if pos_neg_ratio is not None:
        chosen = _cap_ratio(chosen, pos_neg_ratio, seed)
    if limit is not None:
        chosen = chosen[:limit]
    return chosen


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
