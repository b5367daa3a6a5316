"""The whole evaluation against a scripted server: counts follow the outcome table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_results
from tests.fakeserver import Reply, Seen, comments_reply

HELPFUL_A = "The loop never ends when `items` is empty; add a guard before it."
HELPFUL_D = "This opens the file but never closes it; use a `with` block."
HELPFUL_E = "`retry_count` is read before it is assigned on the error path."
NO_CHANGE_G = "Consider naming this constant `MAX_RETRIES` for readability."
JUNK = "The weather in Paris is sunny and warm today."
UNRELATED = "Database indexes should be rebuilt weekly by the operations team."

SAMPLES: list[dict[str, Any]] = [
    {
        "input_id": "P1",
        "code": "+while items: # P1",
        "outputs": [
            {"output": HELPFUL_A, "is_like": 0},
            {"output": "Nice change.", "is_like": 1},
            {"output": NO_CHANGE_G, "is_like": 2},
        ],
    },
    {
        "input_id": "P2",
        "code": "+f = open(path) # P2",
        "outputs": [
            {"output": HELPFUL_D, "is_like": 0},
            {"output": HELPFUL_E, "is_like": "helpful"},
        ],
    },
    {
        "input_id": "N1",
        "code": "+x = 1 # N1",
        "outputs": [{"output": "Why not 2?", "is_like": 1}],
    },
    {"input_id": "N2", "code": "+y = 2 # N2", "outputs": []},
    {
        "input_id": "O1",
        "code": "+RETRIES = 3 # O1",
        "outputs": [
            {"output": NO_CHANGE_G, "is_like": 2},
            {"output": "A docstring would help a little.", "is_like": "no_change"},
        ],
    },
    {
        "input_id": "J1",
        "code": "+z = 3 # J1",
        "outputs": [{"output": HELPFUL_D, "is_like": 0}],
    },
]

CHECK_ANSWERS = {
    "P1": [HELPFUL_A, JUNK],
    "P2": [HELPFUL_D],
    "N1": [],
    "N2": [UNRELATED],
    "O1": [NO_CHANGE_G, JUNK],
}
REJECTED_BY_REVIEW = {JUNK, UNRELATED}


def _sample_of(seen: Seen) -> str:
    return next(s["input_id"] for s in SAMPLES if f"# {s['input_id']}" in seen.prompt)


def _prior(seen: Seen) -> list[str]:
    start = seen.prompt.index('{\n "comments"')
    payload, _ = json.JSONDecoder().raw_decode(seen.prompt, start)
    return [c["comment"] for c in payload["comments"]]


def scripted(seen: Seen) -> Reply:
    """Check answers per sample; reflect adds E on P2; review drops junk."""
    sample = _sample_of(seen)
    if "final reviewer" in seen.prompt:
        prior = _prior(seen)
        return comments_reply(
            *prior, valid=[c not in REJECTED_BY_REVIEW for c in prior]
        )
    if "refining a draft" in seen.prompt:
        prior = _prior(seen)
        return comments_reply(*prior, *([HELPFUL_E] if sample == "P2" else []))
    if sample == "J1":
        return Reply(content="I am sorry, I cannot review this change.")
    return comments_reply(*CHECK_ANSWERS[sample])


EXPECTED = {
    "check@m": {"tp": 2, "fp": 2, "fn": 1, "tn": 1, "ro": 1},
    "check-review@m": {"tp": 2, "fp": 0, "fn": 1, "tn": 2, "ro": 1},
    "check-reflect-review@m": {"tp": 3, "fp": 0, "fn": 0, "tn": 2, "ro": 1},
}


@pytest.mark.parametrize("mode", [["-n", "0"], ["-n", "2"], ["-p", "no:xdist"]])
def test_counts_follow_the_outcome_table(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl, mode: list[str]
) -> None:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results = pytester.path / "results.json"
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check",
        "--aicr-strategy=check-review",
        "--aicr-strategy=check-reflect-review",
        "--aicr-max-errors=3",
        f"--aicr-results={results}",
        *mode,
    )
    assert outcome.ret == 0, outcome.stdout.str()
    data = read_results(results)
    assert {name: v["counts"] for name, v in data["variants"].items()} == EXPECTED
    for variant in data["variants"].values():
        assert variant["samples"] == 6
        assert variant["errors_by_category"] == {"bad_output": 1}
    stages = data["variants"]["check-review@m"]["stages"]
    assert stages["check"]["counts"] == EXPECTED["check@m"]
    assert stages["review"]["counts"] == EXPECTED["check-review@m"]
    outcome.stdout.fnmatch_lines(["*3 item error(s) tolerated*"])


def test_item_error_fails_the_run_unless_tolerated(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist", "-rf"
    )
    assert outcome.ret == 1
    outcome.assert_outcomes(passed=5, failed=1)
    outcome.stdout.fnmatch_lines(
        ["FAILED *J1*check_m* - bad_output in check*no JSON in the answer*"]
    )
    assert "Traceback" not in outcome.stdout.str()


def test_verbose_status_shows_the_outcome(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES[:5])
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist", "-v"
    )
    outcome.stdout.fnmatch_lines(
        [
            "*P1?check_m? TP+FP*",
            "*P2?check_m? TP+FN*",
            "*N1?check_m? TN*",
            "*N2?check_m? FP*",
            "*O1?check_m? RO*",
        ]
    )
    assert outcome.ret == 0


def test_results_file_shape(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results = pytester.path / "out" / "results.json"
    pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "-p",
        "no:xdist",
        "--aicr-max-errors=1",
        f"--aicr-results={results}",
    )
    data = read_results(results)
    assert data["schema"] == 1
    assert set(data) >= {"variants", "samples", "gates", "run", "keys"}
    variant = data["variants"]["check@m"]
    assert set(variant["counts"]) == {"tp", "fp", "fn", "tn", "ro"}
    assert set(variant["metrics"]) == {"acc", "pre", "rec", "f1", "vacc", "vrec"}
    assert variant["metrics"]["pre"] == pytest.approx(0.5)
    assert variant["intervals"]["acc"] is not None
    assert (variant["samples"], variant["errors"]) == (6, 1)
    by_id = {s["input_id"]: s for s in data["samples"]}
    assert [s["input_id"] for s in data["samples"]] == [
        "P1",
        "P2",
        "N1",
        "N2",
        "O1",
        "J1",
    ]
    assert by_id["J1"]["status"] == "error"
    assert by_id["J1"]["error"]["category"] == "bad_output"
    assert by_id["J1"]["error"]["stage"] == "check"
    assert by_id["P1"]["status"] == "ok"
    assert by_id["P1"]["error"] is None
    assert by_id["P1"]["class"] == "positive"
    match = by_id["P1"]["matches"][0]
    assert match["predicted"] == match["truth"] == HELPFUL_A
    assert match["label"] == 0
    assert match["similarity"] == pytest.approx(1.0, abs=1e-3)
    assert [p["comment"] for p in by_id["P1"]["predicted"]] == [HELPFUL_A, JUNK]
    assert Path(data["run"]["config"]["datasets"][0]) == dataset


def test_a_query_on_the_base_url_goes_on_every_request(
    pytester: pytest.Pytester,
    fake_server,
    endpoint_env,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = fake_server(scripted)
    endpoint_env(server)
    secret = "CANARY-QUERY-KEY-93d2b650"
    query = f"api-version=2024-01-01&api-key={secret}"
    monkeypatch.setenv("AICR_BASE_URL", f"{server.url}?{query}")
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results = pytester.path / "results.json"
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-max-errors=3",
        f"--aicr-results={results}",
    )
    assert outcome.ret == 0, outcome.stdout.str()
    assert server.seen
    assert {seen.path for seen in server.seen} == {f"/v1/chat/completions?{query}"}
    assert secret not in results.read_text(encoding="utf-8")
    assert secret not in outcome.stdout.str()
