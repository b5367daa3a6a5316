"""The outcome table of DESIGN section 8, with a similarity of exact text equality."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from pytest_aicr.dataset import RatedComment, Sample
from pytest_aicr.outcome import Counts, score_item


def equal_texts(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    return np.array([[1.0 if a == b else 0.0 for b in right] for a in left]).reshape(
        len(left), len(right)
    )


def sample(*labelled: tuple[str, int]) -> Sample:
    comments = tuple(RatedComment(text, label) for text, label in labelled)
    return Sample("s", "+x", comments, Path("d.jsonl"), 1)


def score(s: Sample, predicted: list[str], scope: str = "sample") -> Counts:
    counts, _ = score_item(s, predicted, equal_texts, 0.6, scope)
    return counts


POSITIVE = sample(("a", 0), ("b", 0), ("n", 1), ("k", 2))
NEGATIVE = sample(("n", 1), ("k", 2))
EMPTY_NEGATIVE = sample()
OPTIMIZABLE = sample(("k", 2), ("m", 2))


@pytest.mark.parametrize(
    ("s", "predicted", "expected"),
    [
        (POSITIVE, ["a", "x"], Counts(tp=1, fp=1, fn=1)),
        (POSITIVE, ["a", "b"], Counts(tp=2)),
        (POSITIVE, [], Counts(fn=2)),
        (POSITIVE, ["a", "a"], Counts(tp=1, fp=1, fn=1)),
        (POSITIVE, ["k"], Counts(fp=1, fn=2)),
        (NEGATIVE, [], Counts(tn=1)),
        (NEGATIVE, ["x", "k"], Counts(fp=2)),
        (EMPTY_NEGATIVE, [], Counts(tn=1)),
        (EMPTY_NEGATIVE, ["x"], Counts(fp=1)),
        (OPTIMIZABLE, ["k", "x"], Counts(ro=1)),
        (OPTIMIZABLE, ["k", "m", "k"], Counts(ro=2)),
        (OPTIMIZABLE, [], Counts()),
    ],
)
def test_sample_scope(s: Sample, predicted: list[str], expected: Counts) -> None:
    assert score(s, predicted) == expected


@pytest.mark.parametrize(
    ("s", "predicted", "expected"),
    [
        (POSITIVE, ["a", "k", "x"], Counts(tp=1, fp=1, fn=1, ro=1)),
        (NEGATIVE, ["k"], Counts(tn=1, ro=1)),
        (NEGATIVE, ["k", "k"], Counts(fp=1, ro=1)),
        (OPTIMIZABLE, ["k", "x"], Counts(ro=1)),
    ],
)
def test_comment_scope_credits_no_change_matches(
    s: Sample, predicted: list[str], expected: Counts
) -> None:
    assert score(s, predicted, "comment") == expected


def test_classes() -> None:
    assert POSITIVE.sample_class == "positive"
    assert NEGATIVE.sample_class == "negative"
    assert EMPTY_NEGATIVE.sample_class == "negative"
    assert OPTIMIZABLE.sample_class == "optimizable"


def test_matches_keep_both_texts_and_label() -> None:
    _, matches = score_item(POSITIVE, ["b", "k"], equal_texts, 0.6, "comment")
    assert [(m.predicted, m.truth, m.label) for m in matches] == [
        ("b", "b", 0),
        ("k", "k", 2),
    ]


def test_counts_label() -> None:
    assert Counts(tp=1, fp=2).label() == "TP+FP"
    assert Counts(tn=1).label() == "TN"
    assert Counts().label() == "none"
