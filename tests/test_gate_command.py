"""``aicr gate`` judges a results file as the plugin judged the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_aicr import cli

CRSCORE = Path(__file__).resolve().parents[1] / "cases" / "crscore-python.jsonl"
RULES = ["f1=0.99", "rec=0.0", "pre=0.95"]


@pytest.fixture
def plugin_run(pytester: pytest.Pytester) -> tuple[int, Path, str]:
    """The plugin with gates on the bundled dataset: exit status, results, output."""
    results = pytester.path / "results.json"
    outcome = pytester.runpytest(
        f"--aicr-dataset={CRSCORE}",
        f"--aicr-results={results}",
        *(f"--aicr-min={rule}" for rule in RULES),
        "-p",
        "no:xdist",
    )
    return int(outcome.ret), results, outcome.stdout.str()


def _gate_lines(text: str) -> list[str]:
    return sorted(
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("gate FAILED:", "gate passed:"))
        or "item error(s)" in line
    )


def test_same_status_and_lines_as_the_plugin(
    plugin_run: tuple[int, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, results, out = plugin_run
    status = cli.main([*_args(results), *(f"--min={rule}" for rule in RULES)])
    gate_out = capsys.readouterr().out
    assert code == status == 1
    assert _gate_lines(gate_out) == _gate_lines(out)
    assert any(line.startswith("gate FAILED: f1 = ") for line in _gate_lines(out))
    assert "gate passed: rec = " in gate_out
    again = cli.main([*_args(results), "--baseline", str(results), "--max-drop=f1=0"])
    assert again == 0
    again_out = capsys.readouterr().out
    assert "0 sample(s) flipped" in again_out
    assert "gate passed: f1 for " in again_out


@pytest.fixture
def small_results(tmp_path: Path) -> Path:
    """A hand-made results file of one variant with two item errors."""
    metrics = dict.fromkeys(["acc", "pre", "rec", "f1", "vacc", "vrec"], 0.5)
    document = {"schema": 1, "variants": {"v": {"metrics": metrics, "errors": 2}}}
    path = tmp_path / "small.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _args(results: Path) -> list[str]:
    return ["gate", str(results)]


def test_errors_above_the_limit_fail(
    small_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(_args(small_results)) == 1
    assert (
        "2 item error(s) fail the run (--aicr-max-errors 0)" in capsys.readouterr().out
    )
    assert cli.main([*_args(small_results), "--max-errors=2"]) == 0
    assert "2 item error(s) tolerated" in capsys.readouterr().out


def test_no_gate_says_what_is_judged(
    small_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*_args(small_results), "--max-errors=2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("no gate given (--min METRIC=VALUE")
    assert cli.main([*_args(small_results), "--max-errors=2", "--min=f1=0.4"]) == 0
    assert "no gate given" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min=f9=0.5"], "expected METRIC=VALUE"),
        (["--max-drop=f1=0.1"], "--max-drop needs --baseline"),
        (["--baseline=/nonexistent/base.json"], "cannot be read"),
    ],
)
def test_unusable_input_exits_4(
    small_results: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    assert cli.main([*_args(small_results), *extra]) == 4
    assert message in capsys.readouterr().err


def test_not_a_results_file_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text("[1, 2]", encoding="utf-8")
    assert cli.main(_args(other)) == 4
    assert "not a pytest-aicr results file" in capsys.readouterr().err
