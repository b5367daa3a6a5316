"""The ``aicr`` command: validate and convert, run as a user runs them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_aicr import cli
from pytest_aicr.dataset import Sample, load_samples

REPO = Path(__file__).parent.parent
CRSCORE = REPO / "cases" / "crscore-python.jsonl"
FORMATS = ["jsonl", "json", "yaml", "csv", "xlsx"]
TRICKY = [
    {
        "input_id": 7,
        "code": "=SUM(A1:A2)\r\n+x = 1  \n\t+y\n",
        "language": "python",
        "models": {"check": "m1", "review": "m2"},
        "params": {"check": {"temperature": 0.25, "max_tokens": 99}},
        "priority": 2.5,
        "team": "core",
        "outputs": [
            {"output": "Ünïcödé ✓ <b>bold</b>", "is_like": 0, "rater": "ann"},
            {"output": "- leading dash: and colon", "is_like": 2},
        ],
    },
    {"input_id": "007", "code": "   \n+ leading blank line", "outputs": []},
    {
        "input_id": "yes",
        "code": "+++ b/a/b.go\n+x",
        "outputs": [{"output": "No", "is_like": 1}],
    },
]


def _as_loaded(sample: Sample, text_only: bool) -> Sample:
    """What a round trip may change: where it was read, and metadata types."""

    def text(extra: object) -> object:
        if not text_only or not isinstance(extra, dict):
            return extra
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()}

    comments = tuple(
        dataclasses.replace(c, extra=text(dict(c.extra))) for c in sample.comments
    )
    input_id = sample.key if text_only else sample.input_id
    return dataclasses.replace(
        sample,
        input_id=input_id,
        source=Path(),
        line=0,
        comments=comments,
        extra=text(dict(sample.extra)),
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dataset", ["crscore", "tricky"])
def test_every_format_round_trips(tmp_path: Path, fmt: str, dataset: str) -> None:
    source = CRSCORE
    if dataset == "tricky":
        source = tmp_path / "tricky.jsonl"
        records = [json.dumps(r) + "\n" for r in TRICKY]
        if fmt == "xlsx":  # .xlsx keeps no carriage return; see the next test
            records = [r.replace("\\r", "") for r in records]
        source.write_text("".join(records))
    middle = tmp_path / f"middle.{fmt}"
    back = tmp_path / "back.jsonl"

    assert cli.main(["convert", str(source), str(middle)]) == 0
    assert cli.main(["convert", str(middle), str(back)]) == 0

    text_only = fmt in ("yaml", "csv", "xlsx")
    original = [_as_loaded(s, text_only) for s in load_samples(source)]
    for path in (middle, back):
        assert [_as_loaded(s, text_only) for s in load_samples(path)] == original


def test_validate_counts_by_class_and_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "sets"
    data.mkdir()
    (data / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in TRICKY))
    (data / "b.csv").write_text(
        "input_id,code,output,is_like\nb1,+x,Fix,0\nb1,+x,Fix,0\nb2,+y,Hm,2\n"
    )
    assert cli.main(["validate", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{data / 'a.jsonl'}: 3 samples (positive 1, negative 2, optimizable 0); "
        "3 rated comments (helpful 1, not helpful 1, no change 1)",
        f"{data / 'b.csv'}: 2 samples (positive 1, negative 0, optimizable 1); "
        "2 rated comments (helpful 1, not helpful 0, no change 1); "
        "1 repeated rated comments counted once",
        "total: 5 samples (positive 2, negative 2, optimizable 1); "
        "5 rated comments (helpful 2, not helpful 1, no change 2); "
        "1 repeated rated comments counted once",
    ]


def test_config_maps_apply_to_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "team.csv"
    source.write_text("id,patch,comment,vote\nA,+x,Good,up\nA,+x,Bad,down\n")
    config = tmp_path / "aicr.yaml"
    config.write_text(
        "fields: {input_id: id, code: patch, output: comment, is_like: vote}\n"
        "labels: {up: 0, down: 1}\nmodel: m1\n"
    )
    target = tmp_path / "ours.jsonl"
    assert cli.main(["convert", str(source), str(target), "--config", str(config)]) == 0
    (record,) = [json.loads(line) for line in target.read_text().splitlines()]
    assert record["outputs"] == [
        {"output": "Good", "is_like": 0},
        {"output": "Bad", "is_like": 1},
    ]
    assert cli.main(["validate", str(source)]) == cli.USAGE_ERROR
    assert "field `input_id`" in capsys.readouterr().err


def test_convert_refuses_what_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({**TRICKY[1], "code": "+\x01"}) + "\n")
    assert cli.main(["convert", str(source), str(tmp_path / "a.txt")]) == 4
    assert cli.main(["convert", str(source), str(source)]) == 4
    assert cli.main(["convert", str(source), str(tmp_path / "a.xlsx")]) == 4
    source.write_text(json.dumps(TRICKY[0]) + "\n")
    assert cli.main(["convert", str(source), str(tmp_path / "a.xlsx")]) == 4
    assert not (tmp_path / "a.xlsx").exists()
    err = capsys.readouterr().err
    assert "holds carriage returns" in err
    assert "name the output with one of .jsonl" in err
    assert "would overwrite the input" in err
    assert "control characters that .xlsx cannot store" in err


def test_module_runs_as_the_aicr_command(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest_aicr", "validate", str(CRSCORE)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "98 samples (positive 57, negative 41, optimizable 0)" in done.stdout
    broken = tmp_path / "broken.json"
    broken.write_text('[{"input_id": "a", "code": "+x", "outputs": []}] trailing')
    command[-1] = str(broken)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 4
    assert f"{broken}:1: unexpected text after the end" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "argv", [[], ["validate"], ["convert", "a.jsonl"], ["frobnicate"], ["--bogus"]]
)
def test_command_line_mistakes_exit_4(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == cli.USAGE_ERROR
    assert "error:" in capsys.readouterr().err


def test_convert_into_a_path_below_a_file_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "d.jsonl"
    blocker.write_text("x\n")
    target = blocker / "x.csv"

    assert cli.main(["convert", str(CRSCORE), str(target)]) == 4

    err = capsys.readouterr().err
    assert f"aicr convert: error: {target}: cannot be written" in err
    assert blocker.read_text() == "x\n"


def test_convert_onto_a_full_disk_exits_4_and_keeps_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert cli.main(["convert", str(CRSCORE), str(target)]) == 4

    assert "No space left on device" in capsys.readouterr().err
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]


def test_convert_refuses_to_replace_a_fifo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.jsonl"
    os.mkfifo(target)

    assert cli.main(["convert", str(CRSCORE), str(target)]) == 4

    assert "is not a regular file" in capsys.readouterr().err
    assert target.is_fifo()


def test_validate_refuses_params_that_set_what_the_run_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "cases.jsonl"
    record = {"input_id": "a", "code": "+x", "output": "c", "is_like": 0}
    bad = {
        **record,
        "input_id": "b",
        "params": {"check": {"model": "o", "messages": []}},
    }
    data.write_text(json.dumps(record) + "\n" + json.dumps(bad) + "\n")
    assert cli.main(["validate", str(data)]) == cli.USAGE_ERROR
    err = capsys.readouterr().err
    assert f"{data}:2: field `params`" in err
    assert "remove messages, model from `params`" in err
