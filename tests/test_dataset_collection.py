"""Collection from every format: safe unique ids, priority order, same in workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from pytest_aicr import cli
from pytest_aicr.collect import MAX_ID_LENGTH, item_names
from pytest_aicr.dataset import Sample
from tests.conftest import read_results

HOSTILE = [
    "<svg onload=alert(1)>",
    "line\nbreak",
    "x" * 500,
    "x" * 499 + "y",
    "a<b",
    "a>b",
    "a_b",
    "tab\there",
    "::[]",
    "007",
    "naïve",
    "\x00\x1b[31m",
]
SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def _sample(input_id: str) -> Sample:
    return Sample(input_id=input_id, code="+x", comments=(), source=Path(), line=1)


def test_item_names_are_safe_bounded_unique_and_stable() -> None:
    samples = [_sample(i) for i in HOSTILE]
    names = item_names(samples)
    assert len(set(names)) == len(names)
    for name in names:
        assert SAFE.match(name), name
        assert len(name) <= MAX_ID_LENGTH
    assert names == item_names([_sample(i) for i in HOSTILE])
    assert names[HOSTILE.index("007")] == "007"


def _records(prefix: str) -> list[dict[str, object]]:
    return [
        {
            "input_id": f"{prefix}{input_id}",
            "code": f"+value = {n}",
            "team": "core",
            "outputs": [{"output": "Not needed.", "is_like": 1}],
        }
        for n, input_id in enumerate(HOSTILE[:6])
    ]


def _write_every_format(folder: Path) -> None:
    folder.mkdir()
    source = folder.parent / "source.jsonl"
    for fmt in ("jsonl", "json", "yaml", "csv", "xlsx"):
        records = _records(f"{fmt}-")
        source.write_text("".join(json.dumps(r) + "\n" for r in records))
        assert cli.main(["convert", str(source), str(folder / f"set.{fmt}")]) == 0


def _collected(outcome: pytest.RunResult) -> list[str]:
    return [line for line in outcome.outlines if "::" in line]


def test_collection_is_the_same_in_every_worker_for_every_format(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.path / "sets"
    _write_every_format(folder)
    listed = pytester.runpytest(f"--aicr-dataset={folder}", "--collect-only", "-q")
    assert listed.ret == 0, listed.stdout.str()
    expected = _collected(listed)
    assert len(expected) == 30

    results = pytester.path / "results.json"
    ran = pytester.runpytest(
        f"--aicr-dataset={folder}", f"--aicr-results={results}", "-n", "2"
    )
    assert ran.ret == 0, ran.stdout.str()
    samples = read_results(results)["samples"]
    nodeids = [sample["nodeid"] for sample in samples]
    assert sorted(nodeids) == sorted(expected)
    assert {sample["metadata"]["team"] for sample in samples} == {"core"}
    assert "<svg onload=alert(1)>" in {sample["input_id"][5:] for sample in samples}


def test_priority_decides_the_order_within_a_file(pytester: pytest.Pytester) -> None:
    path = pytester.path / "ordered.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["input_id", "code", "output", "is_like", "priority"])
    for input_id, priority in [("late", 5), ("first", -1), ("plain", None), ("mid", 1)]:
        sheet.append([input_id, f"+{input_id}", "Hm.", 1, priority])
    book.save(path)
    listed = pytester.runpytest(f"--aicr-dataset={path}", "--collect-only", "-q")
    names = [line.split("::")[1].split("[")[0] for line in _collected(listed)]
    assert names == ["first", "plain", "mid", "late"]


def test_a_named_sheet_is_collected_under_its_workbook(
    pytester: pytest.Pytester,
) -> None:
    path = pytester.path / "book.xlsx"
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["not a dataset"])
    labels = book.create_sheet("Labels")
    labels.append(["input_id", "code", "output", "is_like"])
    labels.append([7, "+x", "Hm.", 1])
    book.save(path)
    listed = pytester.runpytest(f"--aicr-dataset={path}#Labels", "--collect-only", "-q")
    assert _collected(listed) == ["book.xlsx::7[check_builtin_rules]"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("labels: [up, down]\n", "config `labels`: expected a mapping"),
        ("labels: {yes: 0}\n", 'quote the label as it is written, e.g. "yes"'),
        ("fields: {patch: code}\n", "'patch' is not a dataset field"),
        ("fields: {input_id: id, code: id}\n", "both input_id and code map to 'id'"),
    ],
)
def test_config_maps_are_checked(
    pytester: pytest.Pytester, config: str, message: str
) -> None:
    pytester.makefile(".yaml", aicr=config)
    dataset = pytester.makefile(".csv", data="id,code,output,is_like\na,+x,Hm,1\n")
    outcome = pytester.runpytest(f"--aicr-dataset={dataset}")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert message in outcome.stderr.str()
    assert "Traceback" not in outcome.stderr.str() + outcome.stdout.str()


def test_field_and_label_maps_reach_the_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        aicr='fields: {input_id: id, is_like: vote}\nlabels: {"👍": 0, "👎": 1}\n',
    )
    dataset = pytester.makefile(
        ".csv", data="id,code,output,vote\na,+x,Hm,👎\nb,+y,Good,👍\n"
    )
    listed = pytester.runpytest(f"--aicr-dataset={dataset}", "--collect-only", "-q")
    assert _collected(listed) == [
        "data.csv::a[check_builtin_rules]",
        "data.csv::b[check_builtin_rules]",
    ]


def test_collection_imports_no_model_code(tmp_path: Path) -> None:
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text(
        json.dumps({"input_id": "a", "code": "+x", "outputs": []}) + "\n"
    )
    probe = (
        "import sys, pytest\n"
        f"code = pytest.main(['--collect-only', '-q', '--aicr-dataset={dataset}'])\n"
        "heavy = {'torch', 'sentence_transformers', 'openpyxl'} & set(sys.modules)\n"
        "sys.exit(10 + len(heavy) if heavy or code else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
