"""What an item's record keeps beyond its counts, for reports at no extra model cost.

Two things are kept per item:

- the similarity of every final prediction to every human comment labelled 0 or 2
  (small matrices, three decimals), so the controller can rescore the item at any
  threshold and draw how precision, recall and F1 move with it;
- for chains of several stages, each stage's counts and what it changed against
  the stage before: true positives lost or gained, false positives removed or added.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_aicr.dataset import HELPFUL, NO_CHANGE, Sample
from pytest_aicr.outcome import Counts, Match, SimilarityFn

ScoreFn = Callable[[Sequence[str]], tuple[Counts, list[Match]]]
CHANGE_NAMES = ("tp_lost", "tp_gained", "fp_removed", "fp_added")


def similarity_evidence(
    sample: Sample, predicted: Sequence[str], similarity: SimilarityFn
) -> dict[str, Any]:
    """Rows: predictions; columns: the sample's comments of each label, in order."""
    evidence: dict[str, Any] = {"predicted": len(predicted)}
    for name, label in (("helpful", HELPFUL), ("no_change", NO_CHANGE)):
        truths = [c.text for c in sample.comments if c.label == label]
        evidence[f"{name}_count"] = len(truths)
        if predicted and truths:
            matrix = similarity(predicted, truths)
            evidence[name] = [[round(float(v), 3) for v in row] for row in matrix]
    return evidence


def stage_records(
    sample_class: str, stage_outputs: Mapping[str, Sequence[str]], score: ScoreFn
) -> dict[str, dict[str, Any]]:
    """Each stage's counts and, after the first, what it changed."""
    records: dict[str, dict[str, Any]] = {}
    before: tuple[list[str], list[str]] | None = None
    for stage, comments in stage_outputs.items():
        counts, matches = score(comments)
        found = _true_and_false(sample_class, comments, matches)
        entry: dict[str, Any] = {"counts": counts.as_dict()}
        if before is not None:
            changes = _changes(before, found)
            if changes:
                entry["changes"] = changes
        records[stage] = entry
        before = found
    return records


def _true_and_false(
    sample_class: str, comments: Sequence[str], matches: Sequence[Match]
) -> tuple[list[str], list[str]]:
    """Truths credited as TP, and the predictions counted as FP."""
    truths = [m.truth for m in matches if m.label == HELPFUL]
    if sample_class == "optimizable":
        return truths, []
    left = Counter(comments)
    left.subtract(m.predicted for m in matches)
    return truths, [text for text in comments if _take(left, text)]


def _take(left: Counter[str], text: str) -> bool:
    if left[text] <= 0:
        return False
    left[text] -= 1
    return True


def _changes(
    before: tuple[list[str], list[str]], after: tuple[list[str], list[str]]
) -> dict[str, list[str]]:
    """Multiset differences of TP truths and FP texts between two stages."""
    changes = {
        "tp_lost": _minus(before[0], after[0]),
        "tp_gained": _minus(after[0], before[0]),
        "fp_removed": _minus(before[1], after[1]),
        "fp_added": _minus(after[1], before[1]),
    }
    return {name: texts for name, texts in changes.items() if texts}


def _minus(left: Sequence[str], right: Sequence[str]) -> list[str]:
    remaining = Counter(right)
    return [text for text in left if not _take(remaining, text)]
