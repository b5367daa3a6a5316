"""Rescoring from stored similarities agrees with the run, at any threshold."""

from __future__ import annotations

import pytest

from pytest_aicr.outcome import Counts
from pytest_aicr.thresholds import rescore, threshold_curve
from tests.conftest import read_results
from tests.test_end_to_end import SAMPLES, scripted


@pytest.mark.parametrize("scope", ["sample", "comment"])
def test_rescoring_at_the_run_threshold_gives_the_run_counts(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl, scope: str
) -> None:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results = pytester.path / "results.json"
    pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        f"--aicr-ro-scope={scope}",
        "--aicr-max-errors=1",
        f"--aicr-results={results}",
        "-p",
        "no:xdist",
    )
    samples = [s for s in read_results(results)["samples"] if s["status"] == "ok"]
    assert len(samples) == 5
    for sample in samples:
        again = rescore(sample["class"], sample["similarities"], 0.6, scope)
        assert again == Counts(**sample["counts"]), sample["input_id"]


def test_curve_moves_with_the_threshold() -> None:
    positive = {
        "class": "positive",
        "status": "ok",
        "similarities": {
            "predicted": 2,
            "helpful_count": 1,
            "no_change_count": 0,
            "helpful": [[0.72], [0.41]],
        },
    }
    negative = {
        "class": "negative",
        "status": "ok",
        "similarities": {"predicted": 0, "helpful_count": 0, "no_change_count": 0},
    }
    curve = threshold_curve([positive, negative], "sample", [0.4, 0.5, 0.8])
    assert [p["rec"] for p in curve] == [1.0, 1.0, 0.0]
    assert [p["pre"] for p in curve] == [0.5, 0.5, 0.0]
    assert curve[2]["f1"] is None
