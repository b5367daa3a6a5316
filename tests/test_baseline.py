"""Regression gates against a stored baseline, and between variants of one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr.baseline import compare_runs, mcnemar_p, parse_max_drop
from pytest_aicr.errors import ConfigError
from tests.conftest import read_results
from tests.fakeserver import Reply, Seen, comments_reply
from tests.test_end_to_end import JUNK, SAMPLES, _sample_of, scripted


def worse(seen: Seen) -> Reply:
    """As the end-to-end script, but P2's helpful comment becomes junk."""
    if _sample_of(seen) == "P2":
        return comments_reply(JUNK)
    return scripted(seen)


def _run(pytester: pytest.Pytester, dataset: Path, *args: str) -> Any:
    return pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist", *args
    )


@pytest.fixture
def baseline(pytester, fake_server, endpoint_env, write_jsonl) -> tuple[Path, Path]:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES[:5])
    path = pytester.path / "baseline.json"
    assert _run(pytester, dataset, f"--aicr-results={path}").ret == 0
    return dataset, path


def test_worse_candidate_fails_naming_the_metric(
    pytester: pytest.Pytester, fake_server, endpoint_env, baseline
) -> None:
    dataset, path = baseline
    endpoint_env(fake_server(worse))
    results = pytester.path / "candidate.json"
    outcome = _run(
        pytester,
        dataset,
        f"--aicr-baseline={path}",
        "--aicr-max-drop=f1=0.05",
        "--aicr-max-drop=acc=0.5",
        f"--aicr-results={results}",
    )
    assert outcome.ret == 1
    outcome.stdout.fnmatch_lines(
        [
            "*check@m vs baseline check@m: 1 sample(s) flipped (TP+FN->FP+FN 1)*",
            "*f1 change, paired bootstrap 95%: [[]-*",
            "*flipped 'P2': TP+FN -> FP+FN*",
            "*gate passed: acc for check@m: baseline*",
            "*gate FAILED: f1 for check@m: baseline 0.571, candidate 0.286, "
            "delta -0.286 (exceeds the allowed drop 0.05)*",
        ]
    )
    comparison = read_results(results)["comparisons"][0]
    assert comparison["flips"] == [
        {"input_id": "P2", "baseline": "TP+FN", "candidate": "FP+FN"}
    ]
    assert comparison["mcnemar_p"] == 1.0


def test_same_run_against_itself_passes(pytester: pytest.Pytester, baseline) -> None:
    dataset, path = baseline
    outcome = _run(pytester, dataset, f"--aicr-baseline={path}", "--aicr-max-drop=f1=0")
    assert outcome.ret == 0, outcome.stdout.str()
    outcome.stdout.fnmatch_lines(["*0 sample(s) flipped; McNemar p=1*"])


def test_candidate_without_counterpart_fails(
    pytester: pytest.Pytester, baseline
) -> None:
    dataset, path = baseline
    outcome = _run(
        pytester,
        dataset,
        "--aicr-strategy=check",
        "--aicr-strategy=check-review",
        f"--aicr-baseline={path}",
        "--aicr-max-drop=f1=0.1",
    )
    assert outcome.ret == 1
    outcome.stdout.fnmatch_lines(
        [
            "*gate FAILED: check-review@m has no counterpart in the baseline "
            "*baseline.json (its variants: check@m)*"
        ]
    )


def test_two_variants_of_one_run_compare_the_same_way(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES[:5])
    outcome = _run(
        pytester,
        dataset,
        "--aicr-strategy=check-review",
        "--aicr-strategy=check",
        "--aicr-max-drop=pre=0.1",
    )
    assert outcome.ret == 1
    outcome.stdout.fnmatch_lines(
        [
            "*check@m vs baseline check-review@m: 2 sample(s) flipped*",
            "*flipped 'P1': TP -> TP+FP*",
            "*gate FAILED: pre for check@m: baseline 1.000, candidate 0.500*",
        ]
    )


def test_max_drop_alone_on_one_variant_is_a_usage_error(
    pytester: pytest.Pytester, write_jsonl
) -> None:
    dataset = write_jsonl("cases.jsonl", SAMPLES[:1])
    outcome = _run(pytester, dataset, "--aicr-max-drop=f1=0.1")
    assert outcome.ret == 4
    assert "--aicr-max-drop needs --aicr-baseline" in outcome.stderr.str()


def test_unreadable_baseline_is_a_usage_error(
    pytester: pytest.Pytester, write_jsonl
) -> None:
    dataset = write_jsonl("cases.jsonl", SAMPLES[:1])
    bad = pytester.path / "bad.json"
    bad.write_text('{"schema": 1,\n oops}', encoding="utf-8")
    outcome = _run(pytester, dataset, f"--aicr-baseline={bad}")
    assert outcome.ret == 4
    assert "bad.json:2: not a JSON results file" in outcome.stderr.str()


def _run_data(name: str, metrics: dict[str, float | None]) -> dict[str, Any]:
    return {"schema": 1, "variants": {name: {"metrics": metrics}}, "samples": []}


def test_gate_on_an_undefined_metric_fails_and_says_why() -> None:
    rule = parse_max_drop("pre=0.1")
    [comparison] = compare_runs(
        [rule], _run_data("a", {"pre": None}), _run_data("b", {"pre": 0.5}), "x.json"
    )
    [verdict] = comparison.verdicts
    assert not verdict.passed
    assert "pre is n/a in the baseline for b" in verdict.message


def test_variants_pair_by_name_when_either_side_has_several() -> None:
    base = {"variants": {"a": {"metrics": {"f1": 0.5}}, "b": {"metrics": {"f1": 0.5}}}}
    cand = {"variants": {"b": {"metrics": {"f1": 0.45}}}}
    [comparison] = compare_runs([parse_max_drop("f1=0.1")], base, cand, "x.json")
    assert comparison.baseline == "b"
    assert comparison.verdicts[0].passed


@pytest.mark.parametrize(
    ("worse_n", "better_n", "expected"), [(0, 5, 0.0625), (3, 3, 1.0), (1, 9, 0.0215)]
)
def test_exact_mcnemar(worse_n: int, better_n: int, expected: float) -> None:
    right = {"status": "ok", "counts": {"tp": 1, "fp": 0, "fn": 0}}
    wrong = {"status": "ok", "counts": {"tp": 0, "fp": 1, "fn": 0}}
    pairs = [("w", right, wrong)] * worse_n + [("b", wrong, right)] * better_n
    assert mcnemar_p(pairs) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("text", ["f2=0.1", "f1", "f1=x", "f1=2"])
def test_bad_max_drop_is_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="max-drop"):
        parse_max_drop(text)


def test_results_file_round_trips_as_a_baseline(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_run_data("a", {"f1": 0.5})), encoding="utf-8")
    from pytest_aicr.results import read_results_file

    assert read_results_file(path, "baseline")["variants"]["a"]["metrics"]["f1"] == 0.5


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ({"samples": "x"}, '"samples" is not a list'),
        ({"sample": {"junk": 1}}, 'sample 2: no "input_id"'),
    ],
)
def test_damaged_baseline_is_a_usage_error_before_the_run(
    pytester: pytest.Pytester, baseline, damage: dict[str, Any], named: str
) -> None:
    dataset, path = baseline
    document = json.loads(path.read_text(encoding="utf-8"))
    if "sample" in damage:
        document["samples"][2] = damage["sample"]
    else:
        document.update(damage)
    path.write_text(json.dumps(document), encoding="utf-8")

    outcome = _run(
        pytester, dataset, f"--aicr-baseline={path}", "--aicr-max-drop=f1=0.01"
    )

    assert outcome.ret == 4
    err = outcome.stderr.str()
    assert f"baseline {path}: a damaged results file ({named})" in err
    assert "Traceback" not in err + outcome.stdout.str()
    outcome.stdout.no_fnmatch_line("*passed*")
