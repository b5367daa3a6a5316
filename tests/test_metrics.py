import pytest

from pytest_aicr.metrics import bootstrap_intervals, compute_metrics
from pytest_aicr.outcome import Counts


def test_formulas() -> None:
    metrics = compute_metrics(Counts(tp=3, fp=1, fn=2, tn=4, ro=2))
    assert metrics["acc"] == pytest.approx(7 / 10)
    assert metrics["pre"] == pytest.approx(3 / 4)
    assert metrics["rec"] == pytest.approx(3 / 5)
    assert metrics["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert metrics["vacc"] == pytest.approx(5 / 12)
    assert metrics["vrec"] == pytest.approx(5 / 7)


def test_zero_denominators_are_none() -> None:
    metrics = compute_metrics(Counts(tn=2))
    assert metrics == {
        "acc": 1.0,
        "pre": None,
        "rec": None,
        "f1": None,
        "vacc": 0.0,
        "vrec": None,
    }
    assert compute_metrics(Counts())["acc"] is None


def test_f1_undefined_when_precision_and_recall_are_zero() -> None:
    assert compute_metrics(Counts(fp=1, fn=1))["f1"] is None


def test_intervals_are_seeded_and_bracket_the_value() -> None:
    per_sample = [Counts(tp=1), Counts(fp=1), Counts(tp=1, fn=1), Counts(tn=1)] * 10
    first = bootstrap_intervals(per_sample, seed=3)
    assert first == bootstrap_intervals(per_sample, seed=3)
    low, high = first["acc"]
    assert low <= compute_metrics(sum(per_sample, Counts()))["acc"] <= high
    assert first["vrec"] is not None


def test_intervals_of_undefined_metrics_are_none() -> None:
    assert bootstrap_intervals([Counts(tn=1)] * 5)["pre"] is None
    assert bootstrap_intervals([])["acc"] is None
