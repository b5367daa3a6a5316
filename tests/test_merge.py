"""Shard results merge into the results of one unsharded run."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr.merge import MergeRefused, merge_results
from tests.conftest import read_results

BUNDLED = Path(__file__).resolve().parents[1] / "cases" / "crscore-python.jsonl"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One unsharded run and its three shards, with the offline reviewer."""
    folder = tmp_path_factory.mktemp("shards")
    found = {}
    for name, extra in [
        ("whole", []),
        *((f"s{i}", [f"--aicr-shard={i}/3"]) for i in (1, 2, 3)),
    ]:
        out = folder / f"{name}.json"
        code = pytest.main(
            [
                f"--aicr-dataset={BUNDLED}",
                f"--aicr-results={out}",
                "-q",
                "-p",
                "no:xdist",
                "-p",
                "no:cacheprovider",
                f"--rootdir={folder}",
                *extra,
            ]
        )
        assert code == 0
        found[name] = read_results(out)
    return found


def test_merged_shards_equal_the_unsharded_run(runs: dict[str, dict[str, Any]]) -> None:
    merged = merge_results([(n, runs[n]) for n in ("s2", "s1", "s3")])
    whole = runs["whole"]
    assert merged["variants"] == whole["variants"]
    assert [s["input_id"] for s in merged["samples"]] == [
        s["input_id"] for s in whole["samples"]
    ]
    assert [entry["shard"] for entry in merged["run"]["merged_from"]] == [
        [2, 3],
        [1, 3],
        [3, 3],
    ]
    sizes = [len(runs[f"s{i}"]["samples"]) for i in (1, 2, 3)]
    assert sum(sizes) == len(whole["samples"])
    assert all(sizes)


def test_overlapping_shards_are_refused(runs: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(MergeRefused, match="shard is given twice"):
        merge_results([("a", runs["s1"]), ("b", runs["s1"])])


def test_unsharded_overlap_is_refused(runs: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(MergeRefused, match="in both a and b"):
        merge_results([("a", runs["whole"]), ("b", runs["whole"])])


def test_changed_prompt_is_refused(runs: dict[str, dict[str, Any]]) -> None:
    other = copy.deepcopy(runs["s2"])
    for hashes in other["run"]["prompt_hashes"].values():
        hashes["check"] = "0" * 12
    with pytest.raises(MergeRefused, match="prompt hashes"):
        merge_results([("a", runs["s1"]), ("b", other)])


def test_other_settings_are_refused(runs: dict[str, dict[str, Any]]) -> None:
    other = copy.deepcopy(runs["s2"])
    other["run"]["config"]["similarity"] = 0.7
    with pytest.raises(MergeRefused, match="`similarity`"):
        merge_results([("a", runs["s1"]), ("b", other)])


def test_not_a_results_file_is_refused() -> None:
    with pytest.raises(MergeRefused, match="not a pytest-aicr results file"):
        merge_results([("x.json", {"hello": 1})])


def test_aicr_merge_command(
    runs: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_aicr.cli import main

    paths = []
    for name in ("s1", "s2", "s3"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(runs[name]))
        paths.append(str(path))
    out = tmp_path / "merged" / "all.json"
    assert main(["merge", *paths, "-o", str(out)]) == 0
    assert read_results(out)["variants"] == runs["whole"]["variants"]
    assert "merged 3 files" in capsys.readouterr().out


def test_aicr_merge_refuses_with_status_4(
    runs: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_aicr.cli import main

    path = tmp_path / "s1.json"
    path.write_text(json.dumps(runs["s1"]))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["merge", str(path), str(path), "-o", str(tmp_path / "o.json")]) == 4
    assert "shard is given twice" in capsys.readouterr().err
    assert main(["merge", str(broken), "-o", str(tmp_path / "o.json")]) == 4
    assert "broken.json:1: not a JSON results file" in capsys.readouterr().err


def test_missing_shard_is_refused(runs: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(MergeRefused, match="shard 2/3 missing"):
        merge_results([("a", runs["s1"]), ("c", runs["s3"])])


def test_merged_key_latencies_are_percentiles_of_all_calls(
    runs: dict[str, dict[str, Any]],
) -> None:
    from pytest_aicr.accounting import key_figures

    def with_key(run: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
        stats = {
            "requests": len(latencies),
            "successes": len(latencies),
            "failures": {"429": 1},
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "latencies": latencies,
            "waited_s": 1.0,
        }
        shard = copy.deepcopy(run)
        shard["keys"] = key_figures({"keys": {"...abcd": stats}})
        return shard

    fast = [0.1] * 9 + [0.2]
    slow = [2.0] * 10
    merged = merge_results(
        [
            ("s1", with_key(runs["s1"], fast)),
            ("s2", with_key(runs["s2"], slow)),
            ("s3", with_key(runs["s3"], [])),
        ]
    )
    [entry] = merged["keys"].values()
    assert entry["requests"] == 20
    assert entry["failures"] == {"429": 3}
    assert entry["latency_s"] == {"p50": 0.2, "p90": 2.0, "p99": 2.0}
    assert entry["latencies_s"] == sorted(fast + slow)


def test_aicr_merge_onto_a_fifo_is_refused(
    runs: dict[str, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_aicr.cli import main

    path = tmp_path / "s.json"
    path.write_text(json.dumps(runs["whole"]))
    out = tmp_path / "merged.json"
    os.mkfifo(out)

    assert main(["merge", str(path), "-o", str(out)]) == 4

    assert "is not a regular file" in capsys.readouterr().err
    assert out.is_fifo()
