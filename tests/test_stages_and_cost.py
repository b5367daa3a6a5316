"""What each stage changed, and what a variant cost, from a scripted server."""

from __future__ import annotations

import pytest

from tests.conftest import read_results
from tests.fakeserver import Reply, Seen, comments_reply
from tests.test_end_to_end import (
    HELPFUL_D,
    JUNK,
    SAMPLES,
    _prior,
    scripted,
)

DROPPED_BY_REVIEW = {JUNK, HELPFUL_D}


def review_drops_some(seen: Seen) -> Reply:
    """Check answers as in the end-to-end script; review drops JUNK and HELPFUL_D."""
    if "final reviewer" in seen.prompt:
        prior = _prior(seen)
        return comments_reply(*prior, valid=[c not in DROPPED_BY_REVIEW for c in prior])
    return scripted(seen)


def test_stage_changes_name_what_review_removed(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(review_drops_some))
    dataset = write_jsonl("cases.jsonl", SAMPLES[:5])
    results = pytester.path / "results.json"
    pytester.makefile(".yaml", aicr="prices:\n  m: {prompt: 2.0, completion: 10.0}\n")
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check-review",
        f"--aicr-results={results}",
        "-p",
        "no:xdist",
    )
    assert outcome.ret == 0, outcome.stdout.str()
    data = read_results(results)
    by_id = {s["input_id"]: s for s in data["samples"]}
    assert by_id["P1"]["stages"]["review"]["changes"] == {"fp_removed": [JUNK]}
    assert by_id["P2"]["stages"]["review"]["changes"] == {"tp_lost": [HELPFUL_D]}
    assert "changes" not in by_id["N2"]["stages"]["review"]
    assert by_id["N2"]["stages"]["review"]["counts"]["fp"] == 1
    assert by_id["O1"]["stages"]["review"].get("changes") is None
    variant = data["variants"]["check-review@m"]
    assert variant["stages"]["review"]["changes"] == {
        "tp_lost": 1,
        "tp_gained": 0,
        "fp_removed": 1,
        "fp_added": 0,
    }
    assert variant["stages"]["check"]["counts"]["tp"] == 2
    assert variant["stages"]["review"]["counts"]["tp"] == 1
    assert variant["stages"]["review"]["intervals"]["acc"] is not None
    # ten calls of 10 prompt and 5 completion tokens: 100 * $2 + 50 * $10 per 1M
    assert variant["cost"]["total"] == pytest.approx(0.0007)
    assert variant["cost"]["per_tp"] == pytest.approx(0.0007)
    assert variant["cost"]["stages"]["review"] == pytest.approx(0.00035)
    outcome.stdout.fnmatch_lines(
        [
            "*stage review*f1=*(1 TP lost, 0 TP gained, 1 FP removed, 0 FP added)*",
            "*cost*$0.0007 total, $0.0007 per TP*",
        ]
    )


def test_unpriced_model_is_named(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES[:2])
    pytester.makefile(".yaml", aicr="prices:\n  other: {prompt: 1}\n")
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist"
    )
    assert outcome.ret == 0, outcome.stdout.str()
    outcome.stdout.fnmatch_lines(["*cost*n/a total*no price for m*"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prices: 3\n", "expected a mapping of model"),
        ("prices:\n  m: {prompt: -1}\n", "prices.m.prompt: -1 is not a price"),
        ("prices:\n  m: {input: 1}\n", "unknown key 'input'"),
    ],
)
def test_bad_prices_are_a_usage_error(
    pytester: pytest.Pytester, write_jsonl, text: str, message: str
) -> None:
    dataset = write_jsonl("cases.jsonl", SAMPLES[:1])
    pytester.makefile(".yaml", aicr=text)
    outcome = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")
    assert outcome.ret == 4
    assert message in outcome.stderr.str()
