"""Scoring one item: match predictions to human comments and count the outcome.

The rules are the outcome table of DESIGN section 8. ``ro_scope="comment"`` also
credits, on positive and negative samples, a prediction that matches no helpful
comment but does match a comment labelled 2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from pytest_aicr.dataset import HELPFUL, NO_CHANGE, Sample
from pytest_aicr.matching import match_one_to_one

COUNT_NAMES = ("tp", "fp", "fn", "tn", "ro")

SimilarityFn = Callable[[Sequence[str], Sequence[str]], NDArray[np.float64]]


@dataclass
class Counts:
    """Outcome counts of one item, or summed over many."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    ro: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            **{name: getattr(self, name) + getattr(other, name) for name in COUNT_NAMES}
        )

    def as_dict(self) -> dict[str, int]:
        """``{"tp": ..., "fp": ..., "fn": ..., "tn": ..., "ro": ...}``."""
        return asdict(self)

    def label(self) -> str:
        """Short verbose status such as ``TP``, ``FP+FN`` or ``TN``."""
        parts = [name.upper() for name in COUNT_NAMES if getattr(self, name)]
        return "+".join(parts) or "none"


@dataclass(frozen=True)
class Match:
    """A predicted comment credited against a human one."""

    predicted: str
    truth: str
    label: int
    similarity: float


def score_item(
    sample: Sample,
    predicted: Sequence[str],
    similarity: SimilarityFn,
    threshold: float,
    ro_scope: str = "sample",
) -> tuple[Counts, list[Match]]:
    """Counts and matches for one sample's predictions."""
    helpful = [c.text for c in sample.comments if c.label == HELPFUL]
    no_change = [c.text for c in sample.comments if c.label == NO_CHANGE]
    if sample.sample_class == "optimizable":
        matches, _ = _match(predicted, no_change, NO_CHANGE, similarity, threshold)
        return Counts(ro=len(matches)), matches

    matches, unmatched = [], list(predicted)
    if sample.sample_class == "positive":
        matches, unmatched = _match(predicted, helpful, HELPFUL, similarity, threshold)

    ro_matches: list[Match] = []
    if ro_scope == "comment":
        ro_matches, unmatched = _match(
            unmatched, no_change, NO_CHANGE, similarity, threshold
        )

    counts = Counts(tp=len(matches), fp=len(unmatched), ro=len(ro_matches))
    if sample.sample_class == "positive":
        counts.fn = len(helpful) - len(matches)
    elif counts.fp == 0:
        counts.tn = 1
    return counts, matches + ro_matches


def _match(
    predicted: Sequence[str],
    truths: Sequence[str],
    label: int,
    similarity: SimilarityFn,
    threshold: float,
) -> tuple[list[Match], list[str]]:
    """Matches of ``predicted`` against ``truths``, and the predictions left over."""
    if not predicted or not truths:
        return [], list(predicted)
    pairs = match_one_to_one(similarity(predicted, truths), threshold)
    matches = [Match(predicted[i], truths[j], label, round(s, 4)) for i, j, s in pairs]
    taken = {i for i, _, _ in pairs}
    return matches, [text for i, text in enumerate(predicted) if i not in taken]
