"""Metrics over summed counts, with seeded bootstrap intervals over samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pytest_aicr.outcome import COUNT_NAMES, Counts

METRIC_NAMES = ("acc", "pre", "rec", "f1", "vacc", "vrec")
_RESAMPLES = 1000


def compute_metrics(counts: Counts) -> dict[str, float | None]:
    """Acc pre rec f1 vacc vrec; ``None`` where a denominator is zero."""
    tp, fp, fn, tn, ro = counts.tp, counts.fp, counts.fn, counts.tn, counts.ro
    pre = _ratio(tp, tp + fp)
    rec = _ratio(tp, tp + fn)
    f1 = None
    if pre is not None and rec is not None:
        f1 = _ratio(2 * pre * rec, pre + rec)
    return {
        "acc": _ratio(tp + tn, tp + tn + fp + fn),
        "pre": pre,
        "rec": rec,
        "f1": f1,
        "vacc": _ratio(tp + ro, tp + tn + fp + fn + ro),
        "vrec": _ratio(tp + ro, tp + fn + ro),
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def bootstrap_intervals(
    per_sample: Sequence[Counts], seed: int = 0, resamples: int = _RESAMPLES
) -> dict[str, list[float] | None]:
    """95% percentile intervals of every metric, resampling samples with replacement.

    A metric undefined in more than half the resamples has no interval.
    """
    if not per_sample:
        return dict.fromkeys(METRIC_NAMES)
    table = np.array(
        [[getattr(c, name) for name in COUNT_NAMES] for c in per_sample], dtype=float
    )
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(table), size=(resamples, len(table)))
    sums = table[picks].sum(axis=1)
    values = metric_columns(sums)
    return {name: percentile_interval(column) for name, column in values.items()}


def percentile_interval(column: NDArray[np.float64]) -> list[float] | None:
    """The 95% interval of resampled values; None when most resamples are NaN."""
    defined = column[~np.isnan(column)]
    if len(defined) * 2 < len(column):
        return None
    low, high = np.percentile(defined, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def metric_columns(sums: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Every metric for each row of summed counts (``tp fp fn tn ro``); NaN if n/a."""
    tp, fp, fn, tn, ro = (sums[:, i] for i in range(len(COUNT_NAMES)))
    with np.errstate(divide="ignore", invalid="ignore"):
        pre = tp / (tp + fp)
        rec = tp / (tp + fn)
        return {
            "acc": (tp + tn) / (tp + tn + fp + fn),
            "pre": pre,
            "rec": rec,
            "f1": 2 * pre * rec / (pre + rec),
            "vacc": (tp + ro) / (tp + tn + fp + fn + ro),
            "vrec": (tp + ro) / (tp + fn + ro),
        }
