"""Plugin behaviour end to end through pytester, with the offline reviewer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import read_results

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "cases"

SAMPLES = [
    {
        "input_id": "alpha",
        "code": "+print('debug')\n",
        "language": "python",
        "outputs": [{"output": "Remove the debug print.", "is_like": 0}],
    },
    {
        "input_id": "beta",
        "code": "+x = 1\n",
        "outputs": [{"output": "ok", "is_like": 1}],
    },
    {
        "input_id": "gamma",
        "code": "+y = 2\n",
        "outputs": [{"output": "fine", "is_like": 2}],
    },
]


@pytest.fixture
def dataset(write_jsonl) -> Path:
    return write_jsonl("cases.jsonl", SAMPLES)


def test_inactive_without_dataset_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys, pytest\n"
        "pytest.main(['--co', '-q', '-p', 'no:cacheprovider', '--rootdir', '.'])\n"
        "heavy = [m for m in ('torch', 'numpy', 'sentence_transformers', 'openai',"
        " 'pytest_aicr.session') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_dataset_alone_skips_testpaths(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_unit.py").write_text("def test_u(): pass\n")
    result = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist", "-v")
    result.assert_outcomes(passed=3)
    assert "test_unit" not in result.stdout.str()


def test_explicit_test_paths_run_with_the_evaluation(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.makepyfile(test_unit="def test_u(): pass\n")
    result = pytester.runpytest(
        "test_unit.py", f"--aicr-dataset={dataset}", "-p", "no:xdist"
    )
    result.assert_outcomes(passed=4)


def test_keyword_selection_and_ids(pytester: pytest.Pytester, dataset: Path) -> None:
    result = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "-p",
        "no:xdist",
        "--co",
        "-q",
        "-k",
        "alpha or gamma",
    )
    result.stdout.fnmatch_lines(
        [
            "cases.jsonl::alpha[check_builtin_rules]",
            "cases.jsonl::gamma[check_builtin_rules]",
        ]
    )
    assert "beta" not in result.stdout.str()


def test_collection_is_identical_in_xdist_workers(
    pytester: pytest.Pytester, write_jsonl
) -> None:
    records = [
        {
            "input_id": f"s{i}",
            "code": f"+v{i} = {i}\n",
            "outputs": [{"output": "c", "is_like": i % 2}],
        }
        for i in range(40)
    ]
    data = write_jsonl("many.jsonl", records)
    args = [f"--aicr-dataset={data}", "--aicr-pos-neg-ratio=0.5", "--aicr-seed=7"]
    serial = pytester.runpytest(*args, "-p", "no:xdist", "-v")
    parallel = pytester.runpytest(*args, "-n", "2", "-v")
    serial.assert_outcomes(passed=30)
    parallel.assert_outcomes(passed=30)

    def ids(output: str) -> set[str]:
        return {
            line.split("::")[1].split()[0]
            for line in output.splitlines()
            if "::s" in line and "PASSED" not in line[:8]
        }

    assert ids(serial.stdout.str()) == ids(parallel.stdout.str())


def test_min_gate_fails_and_names_the_rule(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    result = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "-p",
        "no:xdist",
        "--aicr-min=vacc=0.9",
        "--aicr-min=acc=0.1",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*gate FAILED: vacc = 0.500 < 0.9 for check@builtin:rules*"]
    )
    result.stdout.fnmatch_lines(["*gate passed: acc*"])


def test_passing_gate_exits_zero(pytester: pytest.Pytester, dataset: Path) -> None:
    result = pytester.runpytest(
        f"--aicr-dataset={dataset}", "-p", "no:xdist", "--aicr-min=acc=0.0"
    )
    assert result.ret == 0


def test_gate_on_undefined_metric_fails(pytester: pytest.Pytester, write_jsonl) -> None:
    data = write_jsonl("neg.jsonl", [SAMPLES[1]])
    result = pytester.runpytest(
        f"--aicr-dataset={data}", "-p", "no:xdist", "--aicr-min=pre=0.1"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*pre is n/a for check@builtin:rules*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--aicr-dataset=missing.jsonl"],
            "*missing.jsonl: no such dataset file or folder*",
        ),
        (["--aicr-similarity=high"], "*--aicr-similarity: 'high' is not a number*"),
        (["--aicr-min=f9=1"], "*gate 'f9=1': expected METRIC=VALUE*"),
        (["--aicr-strategy=fancy"], "*unknown strategy 'fancy'*"),
        (
            ["--aicr-ro-scope=all"],
            "*--aicr-ro-scope: 'all' is not one of sample, comment*",
        ),
        (["--aicr-limit=0"], "*--aicr-limit: '0' must be between 1 and 1e+09*"),
    ],
)
def test_usage_errors_exit_4_without_traceback(
    pytester: pytest.Pytester, dataset: Path, args: list[str], message: str
) -> None:
    if not any(a.startswith("--aicr-dataset") for a in args):
        args = [f"--aicr-dataset={dataset}", *args]
    result = pytester.runpytest(*args, "-p", "no:xdist")
    assert result.ret == 4
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_bad_row_names_file_line_and_field(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"input_id": "alpha", "code": "x", "output": "c", "is_like": 0}\n\n'
        '{"input_id": "b", "code": "y", "output": "c", "is_like": "great"}\n'
    )
    result = pytester.runpytest(f"--aicr-dataset={data}", "-p", "no:xdist")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*{data}:3: field `is_like`: expected 0 (helpful)*"])


def test_yaml_config_and_precedence(pytester: pytest.Pytester, dataset: Path) -> None:
    pytester.path.joinpath("aicr.yaml").write_text("similarity: 0.9\nlimit: 1\n")
    pytester.makeini("[pytest]\naicr_limit = 2\n")
    result = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*similarity threshold 0.9*"])
    result = pytester.runpytest(
        f"--aicr-dataset={dataset}", "-p", "no:xdist", "--aicr-limit=3"
    )
    result.assert_outcomes(passed=3)


def test_unknown_config_key_suggests(pytester: pytest.Pytester, dataset: Path) -> None:
    pytester.path.joinpath("aicr.yaml").write_text("similarty: 0.9\n")
    result = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*unknown key 'similarty'; did you mean 'similarity'?*"]
    )


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for name in (
        "dataset",
        "config",
        "strategy",
        "model",
        "reflect-model",
        "review-model",
        "base-url",
        "keys-env",
        "timeout",
        "similarity",
        "ro-scope",
        "min",
        "max-errors",
        "pos-neg-ratio",
        "limit",
        "seed",
        "results",
    ):
        assert f"--aicr-{name}" in result.stdout.str()


def test_bundled_data_runs_offline_with_every_sample_ok(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AICR_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    results = pytester.path / "results.json"
    result = pytester.runpytest(
        f"--aicr-dataset={BUNDLED}", "-p", "no:xdist", f"--aicr-results={results}"
    )
    assert result.ret == 0
    data = read_results(results)
    assert len(data["samples"]) >= 190
    assert {s["status"] for s in data["samples"]} == {"ok"}
    counts = data["variants"]["check@builtin:rules"]["counts"]
    assert sum(counts.values()) > 0
    json.dumps(data)


def test_remote_model_without_endpoint_is_a_usage_error(
    pytester: pytest.Pytester, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AICR_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = pytester.runpytest(f"--aicr-dataset={dataset}", "--aicr-model=gpt-x")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*model 'gpt-x' needs an endpoint: set --aicr-base-url*"]
    )


def test_remote_model_without_keys_is_a_usage_error(
    pytester: pytest.Pytester, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AICR_API_KEYS", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=gpt-x",
        "--aicr-base-url=http://127.0.0.1:9/v1",
    )
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*model 'gpt-x' needs an API key: set AICR_API_KEYS*"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("variants: 5\n", "*config `variants`: expected a list, got 5*"),
        ("min: 3\n", "*gate '3': expected METRIC=VALUE*"),
        ("min: [[1]]\n", "*config `min`: expected text values*"),
        ("results: {a: 1}\n", "*config `results`: expected one value*"),
    ],
)
def test_config_values_of_the_wrong_shape_are_usage_errors(
    pytester: pytest.Pytester, dataset: Path, text: str, message: str
) -> None:
    pytester.path.joinpath("aicr.yaml").write_text(text)
    result = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")
    assert result.ret == 4
    result.stderr.fnmatch_lines([message])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_max_drop_as_a_mapping_in_config(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.path.joinpath("aicr.yaml").write_text(
        "strategy: [check, check-review]\nmax-drop: {acc: 0.5}\n"
    )
    result = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*acc*"])


@pytest.mark.parametrize(
    "option", ["--aicr-similarity=nan", "--aicr-pos-neg-ratio=nan"]
)
def test_nan_is_not_a_number_here(
    pytester: pytest.Pytester, dataset: Path, option: str
) -> None:
    result = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist", option)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*'nan' is not a finite number*"])


def test_dataset_named_in_the_config_turns_the_plugin_on(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.path.joinpath("run.yaml").write_text(f"dataset: {dataset.name}\n")
    result = pytester.runpytest("--aicr-config=run.yaml", "-p", "no:xdist")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("option", "bound"),
    [
        ("timeout", "between 0.1 and 86400"),
        ("rate-window", "between 0.01 and 86400"),
        ("rate-limit", "between 1 and 1e+09"),
        ("concurrency", "between 1 and 1024"),
        ("max-errors", "between 0 and 1e+09"),
        ("pos-neg-ratio", "at most 1e+09"),
        ("limit", "between 1 and 1e+09"),
        ("seed", "between -9.22337e+18 and 9.22337e+18"),
        ("retry-attempts", "between 1 and 1000"),
        ("retry-max-time", "between 0 and 86400"),
        ("retry-base", "between 0 and 3600"),
        ("breaker-threshold", "between 1 and 1e+09"),
        ("breaker-cooldown", "between 0 and 86400"),
        ("breaker-patience", "between 0 and 86400"),
    ],
)
def test_a_huge_finite_number_is_refused_naming_the_bound(
    pytester: pytest.Pytester, dataset: Path, option: str, bound: str
) -> None:
    result = pytester.runpytest(
        f"--aicr-dataset={dataset}", "-p", "no:xdist", f"--aicr-{option}=1e308"
    )
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --aicr-{option}: '1e308' must be {bound}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
