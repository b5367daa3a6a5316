"""Precision, recall and F1 as the similarity threshold moves, with no model calls.

Each item's record keeps the similarity of its final predictions to the human
comments (see :mod:`pytest_aicr.evidence`); rescoring it at another threshold is a
matching on those small matrices, following the same outcome table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pytest_aicr.matching import match_one_to_one
from pytest_aicr.metrics import compute_metrics
from pytest_aicr.outcome import Counts

DEFAULT_THRESHOLDS = tuple(round(0.3 + 0.05 * step, 2) for step in range(14))


def threshold_curve(
    samples: Sequence[Mapping[str, Any]],
    ro_scope: str,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> list[dict[str, float | None]]:
    """``[{"threshold", "pre", "rec", "f1"}, ...]`` over items that ran."""
    evidence = [
        (s["class"], s["similarities"])
        for s in samples
        if s.get("status") == "ok" and s.get("similarities")
    ]
    curve = []
    for threshold in thresholds:
        total = Counts()
        for sample_class, similarities in evidence:
            total = total + rescore(sample_class, similarities, threshold, ro_scope)
        metrics = compute_metrics(total)
        curve.append(
            {"threshold": threshold, **{m: metrics[m] for m in ("pre", "rec", "f1")}}
        )
    return curve


def rescore(
    sample_class: str,
    similarities: Mapping[str, Any],
    threshold: float,
    ro_scope: str,
) -> Counts:
    """One item's counts at ``threshold``, from its stored similarities."""
    predicted = int(similarities["predicted"])
    helpful = np.array(similarities.get("helpful") or [], dtype=float)
    no_change = np.array(similarities.get("no_change") or [], dtype=float)
    if sample_class == "optimizable":
        return Counts(ro=_matched_count(no_change, threshold))
    left = list(range(predicted))
    counts = Counts()
    if sample_class == "positive":
        taken = {row for row, _, _ in _pairs(helpful, threshold)}
        counts.tp = len(taken)
        counts.fn = int(similarities["helpful_count"]) - counts.tp
        left = [row for row in left if row not in taken]
    if ro_scope == "comment" and left and no_change.size:
        counts.ro = _matched_count(no_change[left], threshold)
    counts.fp = len(left) - counts.ro
    if sample_class == "negative" and counts.fp == 0:
        counts.tn = 1
    return counts


def _pairs(
    matrix: np.ndarray[Any, Any], threshold: float
) -> list[tuple[int, int, float]]:
    if matrix.size == 0 or matrix.max() < threshold:
        return []
    return match_one_to_one(matrix, threshold)


def _matched_count(matrix: np.ndarray[Any, Any], threshold: float) -> int:
    if matrix.size == 0:
        return 0
    if 1 in matrix.shape:
        return int(matrix.max() >= threshold)
    return len(_pairs(matrix, threshold))
