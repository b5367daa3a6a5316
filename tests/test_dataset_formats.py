"""Datasets as teams keep them: every format, field and label maps, hostile text."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from pytest_aicr.catalog import load_catalog
from pytest_aicr.dataset import load_samples
from pytest_aicr.errors import ConfigError, DatasetError

ROW = {"input_id": "007", "code": "+x = 1", "output": "Name it.", "is_like": 0}
DIFF = "--- a/src/app/util.py\n+++ b/src/app/util.py\n@@ -1 +1 @@\n-x\n+print(x)\n"


def _xlsx(path: Path, rows: list[list[object]], title: str = "Sheet1") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_cells_keep_their_usual_text_form(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "book.xlsx",
        [
            [None],
            ["input_id", "code", "output", "is_like", "score", "note"],
            [7, "+x", "Fix it.", 0, 0.1, None],
            ["007", "+y", "Fine.", 1.0, 3.0, "kept"],
        ],
    )
    first, second = load_samples(path)
    assert (first.input_id, first.line, first.comments[0].label) == ("7", 3, 0)
    assert first.extra == {"score": "0.1"}
    assert (second.input_id, second.comments[0].label) == ("007", 1)
    assert second.extra == {"score": "3", "note": "kept"}


def test_xlsx_sheet_is_chosen_with_a_hash(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "book.xlsx", [["input_id"]], title="Notes")
    book = openpyxl.load_workbook(path)
    second = book.create_sheet("Labels")
    for row in (list(ROW), list(ROW.values())):
        second.append(row)
    book.save(path)
    (sample,) = load_samples(Path(f"{path}#Labels"))
    assert (sample.input_id, sample.source) == ("007", path)
    with pytest.raises(DatasetError, match=r"book.xlsx:1: the dataset holds no"):
        load_samples(path)


def test_bom_crlf_blank_lines_and_invalid_bytes(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        b"\xef\xbb\xbfinput_id,code,output,is_like\r\n"
        b"\r\n"
        b'a,"+x = 1\r\n+y = 2",Fix \xff it,0\r\n'
        b"b,+z,Fine,1\r\n"
    )
    first, second = load_samples(path)
    assert (first.input_id, first.code) == ("a", "+x = 1\r\n+y = 2")
    assert (first.comments[0].text, first.flagged) == ("Fix \ufffd it", True)
    assert (second.line, second.flagged) == (5, False)


def test_ids_are_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "ids.yaml"
    path.write_text(
        "- {input_id: 007, code: +a, outputs: []}\n"
        "- {input_id: yes, code: +b, outputs: []}\n"
        "- {input_id: 1_000, code: +c, outputs: []}\n"
        "- {input_id: '12:30', code: +d, outputs: []}\n",
        encoding="utf-8",
    )
    assert [s.input_id for s in load_samples(path)] == ["007", "yes", "1_000", "12:30"]
    path = tmp_path / "ids.jsonl"
    path.write_text(
        json.dumps({**ROW, "input_id": 7}) + "\n" + json.dumps(ROW) + "\n",
        encoding="utf-8",
    )
    assert [s.input_id for s in load_samples(path)] == [7, "007"]


def test_json_object_keyed_by_input_id_reports_lines(tmp_path: Path) -> None:
    path = tmp_path / "keyed.json"
    body = {"a": {"code": "+x", "outputs": []}, "b": {**ROW, "input_id": "b"}}
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    first, second = load_samples(path)
    assert (first.input_id, first.line, first.sample_class) == ("a", 2, "negative")
    assert (second.input_id, second.line) == ("b", 6)


def test_field_map_and_label_map(tmp_path: Path) -> None:
    path = tmp_path / "team.csv"
    path.write_text(
        "id,patch,comment,rating,rater\nA1,+x,Fix it,👍,ann\nA1,+x,Meh,👎,bob\n",
        encoding="utf-8",
    )
    fields = {
        "input_id": "id",
        "code": "patch",
        "output": "comment",
        "is_like": "rating",
    }
    (sample,) = load_samples(path, fields, {"👍": 0, "👎": "not_helpful"})
    assert [(c.text, c.label) for c in sample.comments] == [("Fix it", 0), ("Meh", 1)]
    assert [c.extra for c in sample.comments] == [{"rater": "ann"}, {"rater": "bob"}]
    assert sample.extra == {}
    with pytest.raises(ConfigError, match="`labels`: '👍' maps to 5"):
        load_samples(path, fields, {"👍": 5})
    with pytest.raises(ConfigError, match="'patches' is not a dataset field"):
        load_samples(path, {"patches": "patch"})
    with pytest.raises(DatasetError, match=r"team.csv:2: field `is_like`.*got '👍'"):
        load_samples(path, fields)


def test_unknown_fields_are_metadata(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    rows = [
        {**ROW, "repo": "core", "rater": "ann", "output.score": 5},
        {**ROW, "output": "Other.", "repo": "core", "rater": "bob"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (sample,) = load_samples(path)
    assert sample.extra == {"repo": "core"}
    assert [c.extra for c in sample.comments] == [
        {"rater": "ann", "score": 5},
        {"rater": "bob"},
    ]


def test_identical_rated_comments_count_once(tmp_path: Path) -> None:
    path = tmp_path / "twice.jsonl"
    other = {**ROW, "is_like": 1}
    rows = [ROW, other, ROW]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (sample,) = load_samples(path)
    assert [c.label for c in sample.comments] == [0, 1]
    assert sample.duplicates == 1


def test_models_params_priority_and_inferred_file(tmp_path: Path) -> None:
    path = tmp_path / "per-record.yaml"
    path.write_text(
        "- input_id: a\n"
        "  code: |\n" + "".join(f"    {line}\n" for line in DIFF.splitlines()) + ""
        "  models: {check: m1, review: m2}\n"
        "  params: {check: {temperature: 0.2, max_tokens: 64, stop: END}}\n"
        "  priority: -1.5\n"
        "  outputs: []\n",
        encoding="utf-8",
    )
    (sample,) = load_samples(path)
    assert sample.models == {"check": "m1", "review": "m2"}
    assert sample.params == {
        "check": {"temperature": 0.2, "max_tokens": 64, "stop": "END"}
    }
    assert (sample.priority, sample.file, sample.language) == (
        -1.5,
        "src/app/util.py",
        "python",
    )


def test_priority_orders_samples_stably(tmp_path: Path) -> None:
    path = tmp_path / "order.jsonl"
    priorities = {"a": 2, "b": None, "c": 1, "d": 2, "e": None}
    rows = [
        {**ROW, "input_id": key, **({"priority": p} if p is not None else {})}
        for key, p in priorities.items()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    catalog = load_catalog([path])
    assert [s.input_id for _, s in catalog.samples] == ["b", "e", "c", "a", "d"]


def test_folder_and_repeated_datasets(tmp_path: Path) -> None:
    folder = tmp_path / "sets"
    (folder / "nested").mkdir(parents=True)
    (folder / "b.jsonl").write_text(json.dumps({**ROW, "input_id": "b"}) + "\n")
    (folder / "nested" / "a.csv").write_text(
        "input_id,code,output,is_like\na,+x,Hm,1\n"
    )
    (folder / "notes.txt").write_text("not a dataset")
    (folder / ".hidden.jsonl").write_text("broken")
    extra = tmp_path / "c.json"
    extra.write_text(json.dumps([{**ROW, "input_id": "c"}]))
    catalog = load_catalog([folder, extra, folder])
    assert [f.name for f in catalog.files] == ["b.jsonl", "a.csv", "c.json"]
    assert [s.input_id for _, s in catalog.samples] == ["b", "a", "c"]
    (folder / "dupe.yaml").write_text("- {input_id: a, code: +y, outputs: []}\n")
    with pytest.raises(
        DatasetError, match=r"a.csv:2: input_id 'a' is also at .*dupe.yaml:1"
    ):
        load_catalog([folder])


def test_huge_fields_are_read(tmp_path: Path) -> None:
    code = "+" + "x" * 2_000_000
    path = tmp_path / "huge.csv"
    path.write_text(f"input_id,code,output,is_like\nbig,{code},Too long,1\n")
    (sample,) = load_samples(path)
    assert len(sample.code) == len(code)


def test_same_input_id_with_whitespace_difference_names_both_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pasted.jsonl"
    rows = [ROW, {**ROW, "code": "+x = 1\n", "output": "Again."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        load_samples(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2:")
    assert f"than at {path}:1" in message
    assert "differ only in whitespace" in message


def test_repairs_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "repaired.jsonl"
    path.write_bytes(
        (json.dumps(ROW) + "\n" + json.dumps(ROW) + "\n").encode()
        + b'{"input_id": "b", "code": "+\xff", "outputs": []}\n'
    )
    load_catalog([path])
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"{path}: 1 samples hold bytes that are not UTF-8; they were replaced "
        "(U+FFFD) and the samples are flagged in the results",
        f"{path}: 1 rated comments repeat one already on their sample (same text, "
        "label and fields) and count once",
    ]
